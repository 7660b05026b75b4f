// The desk's actions for the blotter page (docs/design/blotter-dialog-contract.md).
//
// The page reads ACTIONS to build its toolbar, row menu and single-key shortcuts, and opens each
// action's server-rendered form in its <dialog>. `applies` asks the row's `allowedActions` (the
// state machine's answer, carried by every document) and only greys out buttons: the server
// validates every form and refuses what does not apply (409), whatever the page shows.

const FORMS = "/blotter/forms/";
const MANUAL = "MANUAL";

// Does the document's state allow `action`? Its `allowedActions` come from the domain's
// transition tables (oms/orders/actions.py, executions/actions.py, oms/quotes/actions.py).
export const allows = (doc, action) => !!doc && Array.isArray(doc.allowedActions) && doc.allowedActions.includes(action);
// hand-entered reports are for market orders and slices at the MANUAL venue (a venue check, not a state)
const isVenueOrder = (o) => o.kind !== "Client" && o.venue === MANUAL;
const orderUrl = (action) => (o) => `${FORMS}${action}/?orderId=${encodeURIComponent(o.orderId)}`;
const execUrl = (action) => (e) => `${FORMS}${action}/?executionId=${encodeURIComponent(e.executionId)}`;
const requestUrl = (action) => (r) => `${FORMS}${action}/?quoteRequestId=${encodeURIComponent(r.quoteRequestId)}`;
const quoteUrl = (action) => (q) => `${FORMS}${action}/?quoteId=${encodeURIComponent(q.quoteId)}`;
// at or past validUntilTime counts as expired before the lifecycle job ran (the server refuses it)
const unexpired = (d) => !d.validUntilTime || Date.parse(d.validUntilTime) > Date.now();

export const ACTIONS = [
  { id: "new", label: "New order", key: "n", scope: "none", url: () => `${FORMS}new/`, title: "New client order" },
  {
    id: "place", label: "Place", key: "p", scope: "order",
    applies: (o) => allows(o, "place"),
    url: orderUrl("place"), title: "Place order",
  },
  {
    id: "cancel", label: "Cancel", key: "c", scope: "order",
    applies: (o) => allows(o, "cancel"),
    url: orderUrl("cancel"), title: "Cancel order",
  },
  {
    id: "replace", label: "Replace", key: "r", scope: "order",
    applies: (o) => allows(o, "replace"),
    url: orderUrl("replace"), title: "Replace order",
  },
  {
    id: "fill", label: "Fill", key: "f", scope: "order",
    applies: (o) => isVenueOrder(o) && allows(o, "fill"),
    url: orderUrl("fill"), title: "Enter fill (MANUAL venue)",
  },
  {
    id: "accept", label: "Venue accepted", key: "a", scope: "order",
    applies: (o) => isVenueOrder(o) && allows(o, "accept"),
    url: orderUrl("accept"),
  },
  {
    id: "reject", label: "Venue rejected", scope: "order",
    applies: (o) => isVenueOrder(o) && allows(o, "reject"),
    url: orderUrl("reject"),
  },
  {
    id: "confirm-cancel", label: "Venue canceled", scope: "order",
    applies: (o) => isVenueOrder(o) && allows(o, "confirmCancel"),
    url: orderUrl("confirm-cancel"),
  },
  {
    id: "reject-cancel", label: "Cancel refused", scope: "order",
    applies: (o) => isVenueOrder(o) && allows(o, "rejectCancel"),
    url: orderUrl("reject-cancel"),
  },
  {
    id: "confirm-replace", label: "Venue replaced", scope: "order",
    applies: (o) => isVenueOrder(o) && allows(o, "confirmReplace"),
    url: orderUrl("confirm-replace"),
  },
  {
    id: "reject-replace", label: "Replace refused", scope: "order",
    applies: (o) => isVenueOrder(o) && allows(o, "rejectReplace"),
    url: orderUrl("reject-replace"),
  },
  {
    id: "exec-correct", label: "Correct", key: "k", scope: "execution",
    applies: (e) => allows(e, "correct"),
    url: execUrl("exec-correct"), title: "Correct execution",
  },
  {
    id: "exec-allocate", label: "Allocate", key: "l", scope: "execution",
    applies: (e) => allows(e, "allocate"),
    url: execUrl("exec-allocate"), title: "Allocate execution",
  },
  {
    id: "exec-reject", label: "Reject execution", scope: "execution",
    applies: (e) => allows(e, "reject"),
    url: execUrl("exec-reject"), title: "Reject execution",
  },
  // RFQ (docs/design/rfq.md): scope "quoteRequest" / "quote" rows of the quote-requests / quotes views;
  // `views` limits a scope-"none" action to those views (toolbar and shortcut)
  {
    id: "rfq-new", label: "New RFQ", key: "e", scope: "none", views: ["quote-requests"],
    url: () => `${FORMS}rfq-new/`, title: "New quote request",
  },
  {
    id: "rfq-quote", label: "Quote", key: "q", scope: "quoteRequest",
    applies: (r) => allows(r, "quote") && unexpired(r),
    url: requestUrl("rfq-quote"), title: "Quote the request",
  },
  {
    id: "rfq-cancel", label: "Cancel RFQ", scope: "quoteRequest",
    applies: (r) => allows(r, "cancel"),
    url: requestUrl("rfq-cancel"), title: "Cancel RFQ",
  },
  {
    id: "rfq-reject", label: "Reject RFQ", scope: "quoteRequest",
    applies: (r) => allows(r, "reject"),
    url: requestUrl("rfq-reject"), title: "Reject RFQ",
  },
  {
    id: "quote-accept", label: "Accept", key: "t", scope: "quote",
    applies: (q) => allows(q, "accept") && unexpired(q),
    url: quoteUrl("quote-accept"), title: "Accept (take) quote",
  },
  {
    id: "quote-reject", label: "Reject quote", scope: "quote",
    applies: (q) => allows(q, "reject"),
    url: quoteUrl("quote-reject"), title: "Reject quote",
  },
  {
    id: "quote-cancel", label: "Cancel quote", scope: "quote",
    applies: (q) => allows(q, "cancel"),
    url: quoteUrl("quote-cancel"), title: "Cancel quote",
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

// --- a field's error goes stale once its value changes --------------------------------------------
// The server's errors speak of the values it was sent. Once the desk changes a field, its error
// and red border are hidden (the form does not pretend to know the new value is right: the server
// judges it on send); put the refused value back and the error shows again.
function sentValue(el) {
  if (el.type === "checkbox" || el.type === "radio") return el.defaultChecked;
  if (el.tagName === "SELECT") {
    const chosen = [...el.options].find((o) => o.defaultSelected) || el.options[0];
    return chosen ? chosen.value : "";
  }
  return el.defaultValue;
}
const valueOf = (el) => (el.type === "checkbox" || el.type === "radio" ? el.checked : el.value);

function refreshFieldError(input) {
  const field = input.closest(".oms-field");
  const errors = field && field.querySelector(".errorlist");
  if (!errors) return;
  const stale = valueOf(input) !== sentValue(input);
  errors.hidden = stale;
  field.classList.toggle("has-error", !stale);
  field.classList.toggle("error-stale", stale);
}

// --- warnings before sending: an input may carry `data-warn-above` (a number) and `data-warn-text`,
// rendered by the server from the target as it is (e.g. the fill form's quantity: what the order
// can still take, blotter/forms/orders.py). Above it the text shows as the desk types; a send with
// the warning showing is held once, so the desk sends the same values again knowingly. The server
// judges the command as always (an overfill is held for review), whatever the page warned.
function warning(input, create = false) {
  const field = input.closest(".oms-field") || input.parentElement;
  let note = field.querySelector(".oms-warning");
  if (!note && create) {
    note = document.createElement("small");
    note.className = "oms-warning";
    note.setAttribute("role", "alert");
    note.dataset.warningFor = input.name;
    field.append(note);
  }
  return note;
}
function checkWarning(input) {
  const text = input.value.trim();
  const over = text !== "" && Number.isFinite(Number(text)) && Number(text) > Number(input.dataset.warnAbove);
  const note = warning(input, over);
  if (note) {
    note.hidden = !over;
    note.textContent = over ? input.dataset.warnText || `Above ${input.dataset.warnAbove}.` : "";
  }
  return over;
}

function onEdit(event) {
  const input = event.target;
  if (!input || !input.name || !inForm(input)) return;
  refreshFieldError(input);
  if (input.dataset.warnAbove !== undefined) checkWarning(input);
}

// capture phase on the document: before the dialog's own submit handler sends anything
function onSubmit(event) {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.matches("form[data-oms-form]")) return;
  const over = [...form.querySelectorAll("[data-warn-above]")].filter(checkWarning);
  if (!over.length) {
    delete form.dataset.warnedFor;
    return;
  }
  const values = over.map((i) => `${i.name}=${i.value.trim()}`).join("&");
  if (form.dataset.warnedFor === values) return; // sent again with the warning in view: the desk's call
  form.dataset.warnedFor = values;
  event.preventDefault();
  event.stopImmediatePropagation();
  for (const input of over) warning(input).textContent += " Send again to enter it anyway.";
  over[0].focus();
}

let installed = false;

export function init() {
  if (installed) return;
  installed = true;
  document.addEventListener("keydown", onKeydown, true);
  document.addEventListener("input", onEdit, true);
  document.addEventListener("change", onEdit, true);
  document.addEventListener("submit", onSubmit, true);
}

// Is a scope-"none" action (New order, New RFQ) offered in this view? (`views` absent: in every view)
export function inView(action, view) {
  return !action.views || action.views.includes(view);
}

// Pages that bind keys themselves can still ask: which action does this key open for this row
// (and, for actions limited to some views, in this view)?
export function actionForKey(key, scope, row, view = null) {
  return ACTIONS.find(
    (a) => a.key === key && (
      (a.scope === "none" && (view === null || inView(a, view))) ||
      (a.scope === scope && (!a.applies || a.applies(row)))
    ),
  ) || null;
}
