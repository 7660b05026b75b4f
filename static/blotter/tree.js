// The order tree: children indexed by parent, tree rows built from the store.
import { store } from "/static/blotter/page.js";

export const expanded = new Set(); // order ids open in the tree
const childIndex = new Map(); // parentId -> Set(child orderId)

export function indexChild(doc) {
  if (!doc.parentId) return;
  let set = childIndex.get(doc.parentId);
  if (!set) childIndex.set(doc.parentId, (set = new Set()));
  set.add(doc.orderId);
}
export function treeRow(id) {
  const doc = store.docs.orders.get(id);
  const row = { ...doc };
  const kids = childIndex.get(id);
  if (kids && kids.size) {
    row._children = [...kids]
      .map((k) => store.docs.orders.get(k))
      .filter(Boolean)
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1))
      .map((k) => treeRow(k.orderId));
  }
  return row;
}
export const rootOf = (doc) => doc.rootId || doc.orderId;

/** A child order inside a root row: its row if the tree generated it, else its data object. */
export function findChild(rootRow, id) {
  const config = rootRow._row.modules.dataTree;
  if (config && Array.isArray(config.children)) {
    const walk = (rows) => {
      for (const child of rows) {
        if (child.getData().orderId === id) return { row: child };
        const hit = walk(child.getTreeChildren());
        if (hit) return hit;
      }
      return null;
    };
    return walk(rootRow.getTreeChildren());
  }
  const walk = (items) => {
    for (const item of items || []) {
      if (item.orderId === id) return { data: item };
      const hit = walk(item._children);
      if (hit) return hit;
    }
    return null;
  };
  return walk(rootRow.getData()._children); // not generated yet: it will be built from this data
}

/** The fields of `doc` that differ from `old` (plus the row index), or null when none differ. */
