// The discrepancies queue of the risk view: what reconciliation found different between the OMS
// and a venue (GET /api/queries/discrepancies?venue=&status=), with "Resolve" (desk only:
// ResolveDiscrepancyCommand with discrepancyId and a reason, on /api/commands/venues).
//
// Where the reconciliation queries are not deployed (no endpoint in the page's config, or 404) the queue stays hidden and "Reconcile
// now" is not offered. A discrepancy reaches the page three ways, all idempotent by version: an
// event whose state is a discrepancy (any topic), the answer of "Reconcile now", and a re-read of
// the list when a position is marked dirty with a `discrepancy:` reason (a mismatch found by a
// scheduled run). A discrepancy not seen before, once the page has loaded, raises an alert.
import { el, errorOf, getJSON, newer, postCommand, time } from "/static/blotter/risk-util.js";
import { notify } from "/static/blotter/alerts.js";
import { setReconcileAvailable } from "/static/blotter/venues-strip.js";
import { CONFIG } from "/static/blotter/page.js";

const items = new Map(); // discrepancyId -> doc
// the statuses' names come from the server (the domain's enum), as the grids' do
const STATUS = (CONFIG.statuses && CONFIG.statuses.discrepancies) || {};
const isOpen = (doc) => doc.status === STATUS.open;
const state = { available: null, loaded: false, canAct: false, reloadTimer: null };

export const available = () => state.available === true;

export function putDiscrepancy(doc, { alert = true } = {}) {
  if (!doc || !doc.discrepancyId) return false;
  const old = items.get(doc.discrepancyId);
  if (!newer(old, doc) && !(old && old.status !== doc.status)) return false;
  items.set(doc.discrepancyId, doc);
  if (alert && state.loaded && !old && isOpen(doc)) {
    notify({
      key: `discrepancy:${doc.discrepancyId}`,
      kind: "discrepancy",
      level: "error",
      title: `Discrepancy at ${doc.venue}: ${doc.kind}`,
      text: [doc.account, doc.symbol, `OMS ${show(doc.oms)} vs venue ${show(doc.venueValue)}`].filter(Boolean).join(" · "),
    });
  }
  return true;
}

function show(value) {
  if (value === null || value === undefined) return "none";
  if (typeof value === "object") return Object.entries(value).map(([k, v]) => `${k} ${v}`).join(", ") || "{}";
  return String(value);
}

function shown() {
  const status = document.getElementById("discrepancies-status")?.value ?? STATUS.open;
  const venue = document.getElementById("discrepancies-venue")?.value ?? "";
  return [...items.values()]
    .filter((d) => (!status || d.status === status) && (!venue || d.venue === venue))
    .sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
}

export function renderDiscrepancies() {
  const section = document.getElementById("discrepancies");
  if (!section) return;
  section.hidden = !available();
  const open = [...items.values()].filter(isOpen).length;
  const badge = document.getElementById("discrepancies-count");
  if (badge) badge.textContent = open ? String(open) : "";
  const body = section.querySelector("tbody");
  const rows = shown().map((d) =>
    el(
      "tr",
      { "data-discrepancy-id": d.discrepancyId, "data-status": d.status, "data-kind": d.kind, class: isOpen(d) ? "open" : "" },
      el("td", { title: d.createdAt || "" }, time(d.createdAt)),
      el("td", {}, d.venue || ""),
      el("td", { class: "kind" }, d.kind || ""),
      el("td", {}, d.account || ""),
      el("td", {}, d.symbol || ""),
      el("td", { class: "num" }, show(d.oms)),
      el("td", { class: "num" }, show(d.venueValue)),
      el("td", { class: `status st-${d.status}` }, d.status || ""),
      el("td", {}, state.canAct && isOpen(d) ? el("button", { type: "button", class: "resolve", onclick: () => openResolve(d) }, "Resolve") : null)
    )
  );
  body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colSpan: 9, class: "muted" }, "No discrepancies"))]));
}

/** The list as it is now; a 404 means reconciliation is not deployed: hidden, no error. */
export async function loadDiscrepancies() {
  const url = CONFIG.endpoints.discrepancies; // null: this deployment has no reconciliation
  let pages = [null, null];
  try {
    // every open one (what the desk must act on), and the latest of any status (the history);
    // the list is newest first
    if (url) pages = await Promise.all([getJSON(`${url}?status=${encodeURIComponent(STATUS.open)}&limit=1000&count=false`, { missingOk: true }), getJSON(`${url}?limit=200&count=false`, { missingOk: true })]);
  } catch {
    return; // a failed read keeps what the page has; the next snapshot load tries again
  }
  state.available = pages[0] !== null;
  setReconcileAvailable(state.available);
  for (const page of pages) if (page) for (const doc of page.results) putDiscrepancy(doc);
  state.loaded = true;
  renderDiscrepancies();
}

/** A position marked dirty by reconciliation: re-read the list once the burst is over. */
export function reloadSoon() {
  if (state.available === false) return;
  clearTimeout(state.reloadTimer);
  state.reloadTimer = setTimeout(loadDiscrepancies, 300);
}

// --- resolve ---------------------------------------------------------------------------------------
let dialog = null;
function buildDialog() {
  const reason = el("input", { name: "reason", placeholder: "what was done (required)", autocomplete: "off", maxLength: 200 });
  const error = el("p", { class: "error", role: "alert" });
  const what = el("p", { class: "what" });
  const confirm = el("button", { type: "submit", value: "confirm" }, "Resolve");
  const dismiss = el("button", { type: "button", value: "dismiss", onclick: () => dialog.close() }, "Dismiss");
  const form = el("form", { method: "dialog" }, what, el("label", {}, "Reason ", reason), error, el("div", { class: "buttons" }, dismiss, confirm));
  dialog = el("dialog", { id: "resolve-dialog", class: "control-dialog" }, el("h3", {}, "Resolve discrepancy"), form);
  document.body.append(dialog);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    confirm.disabled = true;
    const body = { commandType: "ResolveDiscrepancyCommand", discrepancyId: dialog.dataset.id, reason: reason.value.trim() || null };
    const answer = await postCommand("venues", body, dialog.dataset.key);
    confirm.disabled = false;
    if (!answer.ok) {
      error.textContent = errorOf(answer.json, answer.status);
      // a refused command appended nothing: the corrected one is a new request (the same key
      // with another body would be refused idempotency_key_reused)
      dialog.dataset.key = crypto.randomUUID();
      return;
    }
    const doc = answer.json.discrepancy || answer.json;
    if (doc && doc.discrepancyId) putDiscrepancy(doc, { alert: false });
    dialog.close();
    renderDiscrepancies();
    reloadSoon(); // the answer's shape aside, the list is the truth
  });
  return { reason, error, what };
}

let parts = null;
function openResolve(doc) {
  parts = parts || buildDialog();
  dialog.dataset.id = doc.discrepancyId;
  dialog.dataset.key = crypto.randomUUID(); // one per confirmation: a double click resolves once
  parts.what.textContent = `${doc.kind} at ${doc.venue} ${doc.account || ""} ${doc.symbol || ""}: OMS ${show(doc.oms)}, venue ${show(doc.venueValue)}`;
  parts.reason.value = "";
  parts.error.textContent = "";
  dialog.showModal();
  parts.reason.focus();
}

export function initDiscrepancies({ canAct }) {
  state.canAct = canAct;
  const select = document.getElementById("discrepancies-status");
  if (select) {
    select.replaceChildren(...Object.values(STATUS).map((v) => el("option", { value: v }, v)), el("option", { value: "" }, "All"));
    select.value = STATUS.open ?? "";
  }
  for (const id of ["discrepancies-status", "discrepancies-venue"]) document.getElementById(id)?.addEventListener("change", renderDiscrepancies);
}

export { items as discrepancies };
