// Refusals: every order a pre-trade check, control or data rule refused (`OrderRefused` on
// control-events, GET /api/queries/refusals). The desk sees them in two places:
//
// - the **desk queue**, the grid it works from: each refusal is a row with status `Refused`, the
//   order's terms (from the refused command) and a "Refused by" cell naming the rule and the
//   numbers that tripped it (limit, value, referencePx, bound); the message is its tooltip. A
//   refused order was never created, so the row is not an order of the store: views.js's desk
//   view lists `deskRows()` beside its orders (grid.js `rowsFor`), and a refusal that arrives live
//   is added to the desk grid here. Its id is `refusal:<refusalId>`, which no order id can be.
// - the **refusals panel** ("Refusals" button, badge with the count): the latest 50 with who sent
//   them.
//
// Who refused and the quantity are in the refusal's event (actor, command), not in its document:
// live events carry them; on load the first 20 refusals fetch their first event.
import { grids } from "/static/blotter/page.js";
import { el, time } from "/static/blotter/dom.js";

const API = "/api";
export const MAX_REFUSALS = 50;
export const ROW_PREFIX = "refusal:";
const refusals = new Map(); // refusalId -> {doc, actor, command}

/** The numbers that tripped the rule, as the desk reads them: "limit 10 · value 11". */
export function numbers(details) {
  const keys = ["limit", "value", "referencePx", "bound"];
  return keys.filter((k) => details && details[k] !== undefined && details[k] !== null).map((k) => `${k} ${details[k]}`).join(" · ");
}

/** Keep a refusal (a newer actor/command completes one already held). True when it changed. */
export function putRefusal(doc, extra = {}) {
  const old = refusals.get(doc.refusalId);
  if (old && !extra.actor) return false;
  refusals.set(doc.refusalId, { doc, actor: extra.actor ?? old?.actor, command: extra.command ?? old?.command });
  return true;
}

function latest() {
  return [...refusals.values()].sort((a, b) => String(b.doc.createdAt).localeCompare(String(a.doc.createdAt))).slice(0, MAX_REFUSALS);
}

// --- the desk queue ------------------------------------------------------------------------------
function deskRow({ doc, actor, command }) {
  const c = command || {};
  const d = doc.details || {};
  return {
    orderId: ROW_PREFIX + doc.refusalId,
    refusalId: doc.refusalId,
    createdAt: doc.createdAt,
    clOrdID: doc.clOrdID ?? c.clOrdID ?? "",
    side: doc.side ?? c.side ?? "",
    symbol: doc.symbol ?? c.symbol ?? "",
    orderQty: c.orderQty ?? d.orderQty ?? null,
    price: c.price ?? null,
    ordType: c.ordType ?? "",
    account: doc.account ?? c.account ?? "",
    status: "Refused",
    refusal: `${doc.rule}${numbers(d) ? `: ${numbers(d)}` : ""}`,
    refusalRule: doc.rule,
    refusalMessage: doc.message,
    routingReason: `refused by ${doc.rule}${actor ? ` (sent by ${actor})` : ""}`,
  };
}

/** The desk queue's refusal rows (views.js: the desk view lists them beside its orders). */
export function deskRows() {
  return latest().map(deskRow);
}

/** The desk queue's "Refused by" cell: rule and numbers, the message as tooltip. */
export function refusalFormatter(cell) {
  const data = cell.getRow().getData();
  if (!data.refusalRule) return "";
  const span = el("span", { class: "refused-by", title: data.refusalMessage || "", "data-rule": data.refusalRule }, cell.getValue() || "");
  return span;
}

function syncDeskGrid() {
  const grid = grids.desk;
  if (!grid) return; // not built yet: rowsFor lists deskRows() when it is
  grid.built.then(() => grid.table.updateOrAddData(deskRows())).catch((err) => console.warn("desk queue refusals", err));
}

// --- the panel -----------------------------------------------------------------------------------
function renderPanel() {
  const body = document.querySelector("#refusals tbody");
  if (body) {
    body.replaceChildren(
      ...latest().map(({ doc, actor, command }) => {
        const qty = (command && command.orderQty) ?? doc.details?.orderQty ?? "";
        return el(
          "tr",
          { "data-refusal-id": doc.refusalId, "data-rule": doc.rule },
          el("td", {}, time(doc.createdAt)),
          el("td", { class: "rule" }, doc.rule),
          el("td", { class: "numbers" }, numbers(doc.details)),
          el("td", {}, [doc.account, doc.symbol, doc.side, qty].filter((x) => x !== null && x !== undefined && x !== "").join(" ")),
          el("td", {}, actor || ""),
          el("td", { class: "muted" }, doc.message)
        );
      })
    );
  }
  const count = document.getElementById("refusals-count");
  if (count) count.textContent = refusals.size ? String(refusals.size) : "";
}

/** Draw what changed: the panel and the desk queue's rows. */
export function renderRefusals() {
  renderPanel();
  syncDeskGrid();
}

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/** The latest refusals (controls.js calls it from loadControls, on every snapshot (re)load). */
export async function loadRefusals() {
  const page = await getJSON(`${API}/queries/refusals?limit=${MAX_REFUSALS}`).catch(() => ({ results: [] }));
  page.results.forEach((doc) => putRefusal(doc));
  renderRefusals();
  // who refused and the quantity: the refusal's own event carries the actor and the command
  // (not awaited: the grid does not wait for these details)
  Promise.all(
    page.results.slice(0, 20).map(async (doc) => {
      const events = await getJSON(`${API}/queries/refusals/${encodeURIComponent(doc.refusalId)}/events`).catch(() => null);
      const first = events && (events.results || events)[0];
      if (first) putRefusal(refusals.get(doc.refusalId)?.doc || doc, { actor: first.actor, command: first.command });
    })
  ).then(renderRefusals);
}

export function initRefusals() {
  const toggle = document.getElementById("refusals-toggle");
  if (toggle) toggle.addEventListener("click", () => (document.getElementById("refusals").hidden = !document.getElementById("refusals").hidden));
}
