// The desk's actions for the blotter page (docs/design/blotter-dialog-contract.md).
//
// The page reads ACTIONS to build its toolbar, row menu and single-key shortcuts, and opens each
// action's server-rendered form in its <dialog>. `applies` only greys out buttons: the server
// validates every form and refuses what does not apply (409), whatever the page shows.

const FORMS = "/blotter/forms/";
const MANUAL = "MANUAL";
const WORKING = ["PendingNew", "New", "PartiallyFilled", "PendingCancel", "PendingReplace"];
const OPEN_FOR_CHANGE = ["PendingNew", "New", "PartiallyFilled", "PendingReplace"];

const num = (v) => (v === null || v === undefined || v === "" ? 0 : Number(v));
const isVenueOrder = (o) => o.kind !== "Client" && o.venue === MANUAL;
const orderUrl = (action) => (o) => `${FORMS}${action}/?orderId=${encodeURIComponent(o.orderId)}`;
const execUrl = (action) => (e) => `${FORMS}${action}/?executionId=${encodeURIComponent(e.executionId)}`;

export const ACTIONS = [
  { id: "new", label: "New order", key: "n", scope: "none", url: () => `${FORMS}new/`, title: "New client order" },
  {
    id: "place", label: "Place", key: "p", scope: "order",
    applies: (o) => o.kind !== "Slice" && WORKING.includes(o.status) && num(o.orderQty) - num(o.placedQty) > 0,
    url: orderUrl("place"), title: "Place order",
  },
  {
    id: "cancel", label: "Cancel", key: "c", scope: "order",
    applies: (o) => OPEN_FOR_CHANGE.includes(o.status) && !o.pendingCancel,
    url: orderUrl("cancel"), title: "Cancel order",
  },
  {
    id: "replace", label: "Replace", key: "r", scope: "order",
    applies: (o) => ["PendingNew", "New", "PartiallyFilled"].includes(o.status) && !o.pending,
    url: orderUrl("replace"), title: "Replace order",
  },
  {
    id: "fill", label: "Fill", key: "f", scope: "order",
    applies: (o) => isVenueOrder(o) && WORKING.includes(o.status),
    url: orderUrl("fill"), title: "Enter fill (MANUAL venue)",
  },
  {
    id: "accept", label: "Venue accepted", key: "a", scope: "order",
    applies: (o) => isVenueOrder(o) && o.phase === "PendingNew",
    url: orderUrl("accept"),
  },
  {
    id: "reject", label: "Venue rejected", scope: "order",
    applies: (o) => isVenueOrder(o) && o.phase === "PendingNew",
    url: orderUrl("reject"),
  },
  {
    id: "confirm-cancel", label: "Venue canceled", scope: "order",
    applies: (o) => isVenueOrder(o) && WORKING.includes(o.status),
    url: orderUrl("confirm-cancel"),
  },
  {
    id: "reject-cancel", label: "Cancel refused", scope: "order",
    applies: (o) => isVenueOrder(o) && !!o.pendingCancel,
    url: orderUrl("reject-cancel"),
  },
  {
    id: "confirm-replace", label: "Venue replaced", scope: "order",
    applies: (o) => isVenueOrder(o) && !!o.pending,
    url: orderUrl("confirm-replace"),
  },
  {
    id: "reject-replace", label: "Replace refused", scope: "order",
    applies: (o) => isVenueOrder(o) && !!o.pending,
    url: orderUrl("reject-replace"),
  },
  {
    id: "exec-correct", label: "Correct", key: "k", scope: "execution",
    applies: (e) => ["Allocated", "Applied", "PendingReview"].includes(e.status),
    url: execUrl("exec-correct"), title: "Correct execution",
  },
  {
    id: "exec-allocate", label: "Allocate", key: "l", scope: "execution",
    applies: (e) => e.status === "PendingReview",
    url: execUrl("exec-allocate"), title: "Allocate execution",
  },
  {
    id: "exec-reject", label: "Reject execution", scope: "execution",
    applies: (e) => e.status === "PendingReview",
    url: execUrl("exec-reject"), title: "Reject execution",
  },
];

// Shortcuts for the page's help (`?`): the keys above plus the dialog's own.
export const SHORTCUTS = [
  ...ACTIONS.filter((a) => a.key).map((a) => ({ key: a.key.toUpperCase(), label: a.title || a.label })),
  { key: "Ctrl+Enter", label: "Send the open form" },
  { key: "Esc", label: "Close the form" },
];

function inForm(el) {
  return el && el.closest ? el.closest("form[data-oms-form]") : null;
}

// Enter in a field never sends an order. The dialog already swallows it; this guard (capture
// phase, before any form handler) also covers a form shown outside the dialog. Ctrl/Cmd+Enter
// sends only where no dialog handles it already.
function onKeydown(event) {
  if (event.key !== "Enter") return;
  const form = inForm(event.target);
  if (!form) return;
  const tag = event.target.tagName;
  if (event.ctrlKey || event.metaKey) {
    if (!form.closest("#oms-dialog")) {
      event.preventDefault();
      form.requestSubmit(form.querySelector('button[type="submit"]') || undefined);
    }
    return;
  }
  if (tag === "INPUT" || tag === "SELECT") event.preventDefault();
}

let installed = false;

export function init() {
  if (installed) return;
  installed = true;
  document.addEventListener("keydown", onKeydown, true);
}

// Pages that bind keys themselves can still ask: which action does this key open for this row?
export function actionForKey(key, scope, row) {
  return ACTIONS.find(
    (a) => a.key === key && (a.scope === "none" || (a.scope === scope && (!a.applies || a.applies(row)))),
  ) || null;
}
