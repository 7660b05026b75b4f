// The grids: one Tabulator per view, built from the store and patched by coalesced changes.
import { TabulatorFull as Tabulator } from "/static/vendor/tabulator/js/tabulator_esm.min.mjs";
import { KINDS } from "/static/blotter/live.js";
import { VIEWS } from "/static/blotter/views.js";
import { $, store, grids, page } from "/static/blotter/page.js";
import { expanded, treeRow, rootOf, findChild } from "/static/blotter/tree.js";
import { current, persist, STATE_OF_TYPE } from "/static/blotter/saved-views.js";
import { contextMenu } from "/static/blotter/actions.js";
import { historyShown, patchHistory, reloadHistory } from "/static/blotter/history.js";

export function rowsFor(name, tree) {
  const def = VIEWS[name];
  const docs = [...store.docs[def.kind].values()];
  if (tree) return docs.filter((d) => !d.parentId).map((d) => treeRow(d.orderId));
  const rows = docs.filter(def.include).map((d) => def.row(d, store));
  return def.extraRows ? rows.concat(def.extraRows()) : rows;
}

function quickFilter(data, params) {
  const q = params.q;
  for (const key in data) {
    const v = data[key];
    if (key !== "_children" && v !== null && typeof v !== "object" && String(v).toLowerCase().includes(q)) return true;
  }
  return false;
}
export function applyQuick(name) {
  if (historyShown(name)) reloadHistory(); // the server runs the quick filter on history (`q`)
  filterQuick(name);
}
function filterQuick(name) {
  const grid = grids[name];
  if (!grid) return;
  const q = (current(name).quick || "").trim().toLowerCase();
  // clearFilter re-filters and re-renders every row: on opening (no quick filter yet) it cost
  // 120 ms of the 10,000-order grid's first second (CPU profile, bench/blotter_snapshot.py)
  if (!q && !grid.quick) return;
  grid.table.clearFilter(false);
  if (q) grid.table.setFilter(quickFilter, { q });
  grid.quick = q;
}

export function createGrid(name) {
  const def = VIEWS[name];
  const state = current(name);
  const tree = !!def.tree && state.tree !== false;
  const el = document.createElement("div");
  el.className = "grid";
  el.dataset.view = name;
  $("#grids").append(el);
  let ready;
  const built = new Promise((resolve) => (ready = resolve));
  const table = new Tabulator(el, {
    data: rowsFor(name, tree),
    index: KINDS[def.kind].id,
    height: "100%",
    layout: "fitData",
    renderVertical: "virtual",
    // a fixed row height (blotter.css: 22 px cells): the virtual renderer no longer measures every
    // cell of every row it lays out (getHeight was the largest self time of the first render)
    rowHeight: 22,
    columns: def.columns(),
    initialSort: def.initialSort,
    selectableRows: 1,
    movableColumns: true,
    addRowPos: "top",
    placeholder: "No rows",
    dataTree: tree,
    dataTreeStartExpanded: (row) => expanded.has(row.getData().orderId),
    dataTreeChildIndent: 14,
    dataTreeElementColumn: "clOrdID",
    persistence: { sort: true, headerFilter: true, columns: ["width", "visible"] },
    persistenceID: name,
    persistenceReaderFunc: (id, type) => {
      const value = current(name)[STATE_OF_TYPE[type]];
      return value === undefined ? false : value;
    },
    persistenceWriterFunc: (id, type, data) => {
      if (!STATE_OF_TYPE[type]) return;
      current(name)[STATE_OF_TYPE[type]] = data;
      persist(name);
    },
    rowContextMenu: contextMenu(def),
  });
  const grid = { table, tree, built, el, quick: "" };
  grids[name] = grid;
  table.on("tableBuilt", () => {
    filterQuick(name);
    performance.mark("blotter:tableBuilt"); // bench/blotter_snapshot.py reads the marks
    ready();
    page.hooks.updateCount();
  });
  table.on("dataFiltered", () => setTimeout(page.hooks.updateCount, 0));
  table.on("rowClick", (e, row) => page.hooks.select(def.kind, row.getData()[KINDS[def.kind].id]));
  table.on("dataTreeRowExpanded", (row) => expanded.add(row.getData().orderId));
  table.on("dataTreeRowCollapsed", (row) => expanded.delete(row.getData().orderId));
  return grid;
}

export function rebuildGrid(name) {
  const grid = grids[name];
  if (grid) {
    grid.table.destroy();
    grid.el.remove();
    delete grids[name];
  }
  if (name === page.active) page.hooks.showView(name);
}

function flashCells(row, old, doc) {
  if (!row || !old || !(row._row.element && row._row.element.isConnected)) return;
  for (const cell of row.getCells()) {
    const field = cell.getField();
    if (!field || old[field] === doc[field]) continue;
    const el = cell.getElement();
    if (el.classList.contains("flash")) el.classList.replace("flash", "flash2");
    else {
      el.classList.remove("flash2");
      el.classList.add("flash");
    }
    clearTimeout(el._flashTimer);
    el._flashTimer = setTimeout(() => el.classList.remove("flash", "flash2"), 900);
  }
}

/**
 * Write changed fields into a grid row. Tabulator's own `row.update()` measures the row's
 * visibility (a forced layout per row) and redraws its cells: right for the few rows on screen,
 * ruinous for a thousand off-screen ones per flush. A row that is not in the DOM only gets its
 * data patched and is marked uninitialised, so Tabulator rebuilds its cells from the data when
 * it scrolls into view. (Tabulator 6.3 internals: `_row`, `initialized`, `deinitialize()`.)
 * Returns the row when it is on screen (worth flashing), else null.
 */
function patchRow(component, fields) {
  const row = component._row;
  if (row.initialized && row.element && row.element.isConnected) {
    component.update(fields);
    return component;
  }
  Object.assign(row.data, fields);
  if (row.initialized) row.deinitialize();
  return null;
}

/** The fields of `doc` that differ from `old` (plus the row index), or null when none differ. */
function diff(old, doc, index) {
  const out = { [index]: doc[index] };
  let n = 0;
  for (const key in doc) {
    if (key !== index && old[key] !== doc[key] && !(typeof doc[key] === "object" && JSON.stringify(old[key]) === JSON.stringify(doc[key]))) {
      out[key] = doc[key];
      n += 1;
    }
  }
  return n ? out : null;
}

export async function applyChanges(name, changes) {
  patchHistory(name, changes);
  const grid = grids[name];
  if (!grid) return;
  await grid.built;
  const def = VIEWS[name];
  const kind = def.kind;
  const index = KINDS[kind].id;
  const changed = changes[kind];
  if (!changed.size) return;
  const table = grid.table;
  if (changed.size > 3000) {
    await table.replaceData(rowsFor(name, grid.tree));
    return;
  }
  const flashes = [];
  if (grid.tree) {
    // Only a new order changes a tree's shape: its root is rebuilt with `_children`. Any other
    // change updates just the changed fields of the row (a root, or a child row found in its
    // tree): an update carrying `_children` or the tree column re-lays the whole table out.
    const reshaped = new Set();
    for (const [id, old] of changed) if (!old) reshaped.add(rootOf(store.docs.orders.get(id)));
    if (reshaped.size) await table.updateOrAddData([...reshaped].map(treeRow));
    const byId = new Map();
    for (const r of table.getRows()) byId.set(r.getData().orderId, r);
    for (const [id, old] of changed) {
      const doc = store.docs.orders.get(id);
      const root = rootOf(doc);
      if (!old || reshaped.has(root)) continue;
      const fields = diff(old, doc, index);
      const rootRow = byId.get(root);
      if (!fields || !rootRow) continue;
      if (id === root) {
        const shown = patchRow(rootRow, fields);
        if (shown) flashes.push([shown, old, doc]);
      } else {
        const hit = findChild(rootRow, id);
        if (hit && hit.row) {
          const shown = patchRow(hit.row, fields);
          if (shown) flashes.push([shown, old, doc]);
        } else if (hit) {
          Object.assign(hit.data, fields);
        }
      }
    }
  } else {
    const joined = !!def.joins; // rows with fields of other documents: compare row with row
    const adds = [];
    const updates = [];
    for (const [id, old] of changed) {
      const doc = store.docs[kind].get(id);
      const wasIn = !!old && def.include(old);
      if (def.include(doc)) {
        const row = def.row(doc, store);
        if (!wasIn) adds.push(row);
        else {
          const before = joined ? def.row(old, store) : old;
          const fields = diff(before, row, index);
          if (fields) updates.push([fields, before, row]);
        }
      } else if (wasIn && table.getRow(id)) {
        table.deleteRow(id);
      }
    }
    if (updates.length) {
      const byId = new Map();
      for (const r of table.getRows()) byId.set(r.getData()[index], r);
      for (const [fields, before, row] of updates) {
        const r = byId.get(fields[index]);
        if (!r) adds.push(row);
        else {
          const shown = patchRow(r, fields);
          if (shown) flashes.push([shown, before, row]);
        }
      }
    }
    if (adds.length) await table.updateOrAddData(adds);
  }
  for (const [row, old, doc] of flashes) flashCells(row, old, doc);
}
