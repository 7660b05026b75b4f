// The desk's actions on the page: toolbar buttons, the row menu, shortcuts, all enabled by the
// selected document's allowedActions through forms.js (the server checks them again).
import { CONFIG, $, store, page } from "/static/blotter/page.js";
import { VIEWS } from "/static/blotter/views.js";
import { KINDS } from "/static/blotter/live.js";
import { openForm, toast } from "/static/blotter/dialog.js";

// the `scope` of forms.js ACTIONS that a selected row of each kind of document takes
const SCOPES = { orders: "order", executions: "execution", quoteRequests: "quoteRequest", quotes: "quote" };
export function scopeOf(kind) {
  return SCOPES[kind] || null;
}
// scope-"none" actions may be limited to some views (New RFQ: the quote-requests view)
export const inView = (action, view) => !action.views || action.views.includes(view);
export function selectedDoc() {
  return page.selection ? store.docs[page.selection.kind].get(page.selection.id) : null;
}
export function runAction(action, row) {
  if (!CONFIG.canAct) return;
  if (action.scope !== "none" && (!row || (action.applies && !action.applies(row)))) {
    toast(`${action.label}: not applicable to the selected row`, "error");
    return;
  }
  openForm(action.url(action.scope === "none" ? null : row), { title: action.title || action.label });
}
export function renderActionButtons() {
  const bar = $("#actions");
  bar.innerHTML = "";
  if (!CONFIG.canAct || !page.active) return;
  const scope = scopeOf(VIEWS[page.active].kind);
  for (const action of page.actions.filter((a) => (a.scope === "none" && inView(a, page.active)) || a.scope === scope)) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.action = action.id;
    b.textContent = action.label;
    if (action.key) b.title = `shortcut: ${action.key.toUpperCase()}`;
    b.addEventListener("click", () => runAction(action, selectedDoc()));
    bar.append(b);
  }
  updateActionButtons();
}
export function updateActionButtons() {
  const doc = selectedDoc();
  const scope = page.selection ? scopeOf(page.selection.kind) : null;
  for (const b of document.querySelectorAll("#actions button")) {
    const action = page.actions.find((a) => a.id === b.dataset.action);
    if (!action || action.scope === "none") continue;
    b.disabled = !doc || action.scope !== scope || !!(action.applies && !action.applies(doc));
  }
}
export async function loadActions() {
  if (!CONFIG.canAct) return;
  try {
    const forms = await import("/static/blotter/forms.js");
    page.actions = forms.ACTIONS || [];
    if (forms.init) forms.init({ openForm, toast, getSelection: () => (page.selection ? { ...page.selection, row: selectedDoc() } : null) });
  } catch (err) {
    console.info("desk actions unavailable:", err.message);
  }
}

export function contextMenu(def) {
  const scope = scopeOf(def.kind);
  const items = page.actions.filter((a) => a.scope === scope);
  if (!CONFIG.canAct || !items.length) return undefined;
  return items.map((a) => ({
    label: a.label,
    disabled: (component) => !!(a.applies && !a.applies(docOfRow(def, component.getData()))),
    action: (e, component) => runAction(a, docOfRow(def, component.getData())),
  }));
}
function docOfRow(def, data) {
  return store.docs[def.kind].get(data[KINDS[def.kind].id]) || data;
}

