// The detail panel: the selected document's fields and its event history.
import { CONFIG, $, store, page } from "/static/blotter/page.js";
import { KINDS, loadAll } from "/static/blotter/live.js";
import { dateTimeFmt } from "/static/blotter/views.js";
import { updateActionButtons } from "/static/blotter/actions.js";
import { AVG_FIELDS, PRICE_FIELDS, REFERENCES, formatNumber, label, reasonText, refOf } from "/static/blotter/format.js";

export function select(kind, id) {
  page.selection = { kind, id };
  updateActionButtons();
  refreshDetail(true);
}
let detailTimer = null;
export function refreshDetail(now = false) {
  clearTimeout(detailTimer);
  if (now) renderDetail();
  else detailTimer = setTimeout(renderDetail, 150);
}
// what a desk reads first, in this order; any other field after them, alphabetically
const DETAIL_ORDER = [
  "clOrdID", "origClOrdID", "execID", "quoteReqID", "quoteID", "status", "side", "symbol",
  "orderQty", "cumQty", "leavesQty", "avgPx", "lastQty", "lastPx", "price", "stopPx", "bidPx",
  "offerPx", "bidSize", "offerSize", "ordType", "timeInForce", "expireTime", "validUntilTime",
  "account", "venue", "handling", "routingReason", "routingRule", "routingRuleVersion",
  "reviewReasons", "kind", "placedQty",
  "allocatedQty", "workingChildren", "pending", "text", "createdAt", "updatedAt", "version",
];
// the validation's own sentences repeat the reasons' words; the gross amount is avgPx's numerator
const HIDDEN = new Set(["reviewDetails", "grossTradeAmt"]);
function detailEntries(doc) {
  const rank = (key) => {
    const i = DETAIL_ORDER.indexOf(key);
    return i < 0 ? DETAIL_ORDER.length : i;
  };
  return Object.entries(doc)
    .filter(([key]) => !HIDDEN.has(key))
    .sort(([a], [b]) => rank(a) - rank(b) || label(a).localeCompare(label(b)));
}
// an execution is priced in its order's instrument (its own document has no symbol)
function priced(kind, doc) {
  if (kind !== "executions" || doc.symbol) return doc;
  const order = store.docs.orders.get(doc.orderId);
  return { ...doc, symbol: order ? order.symbol : undefined };
}
const empty = (v) => v === null || v === undefined || v === "" || (typeof v === "object" && !Object.keys(v).length);
/** One field of `doc` as the desk reads it: prices to the tick, references for ids, reasons in words. */
function detailValue(key, value, doc, kind) {
  if (PRICE_FIELDS.has(key) || AVG_FIELDS.has(key)) return formatNumber(key, value, priced(kind, doc));
  if (key === "reviewReasons") return value.map(reasonText).join("\n"); // the admin's words; codes in the tooltip
  const ref = REFERENCES[key];
  // a document's own id stays an id (the desk can search for it); another document's is its reference
  if (ref && key !== KINDS[kind].id) {
    return Array.isArray(value) ? value.map((id) => refOf(store, ref[0], id, ref[1])).join(", ") : refOf(store, ref[0], value, ref[1]);
  }
  if (key === "pending" && typeof value === "object") {
    return Object.entries(value).map(([k, v]) => `${label(k)} ${formatNumber(k, v, doc)}`).join(", ");
  }
  if (Array.isArray(value)) return value.join(", ");
  if (typeof value === "object") return Object.entries(value).map(([k, v]) => `${label(k)}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join("\n");
  return String(value);
}
async function renderDetail() {
  const panel = $("#detail");
  if (!page.selection) {
    panel.hidden = true;
    return;
  }
  const { kind, id } = page.selection;
  const doc = store.docs[kind].get(id);
  if (!doc) return;
  panel.hidden = false;
  $("#detail-title").textContent = {
    orders: () => `${doc.kind} order ${doc.clOrdID}`,
    executions: () => `Execution ${doc.execID}`,
    quoteRequests: () => `RFQ ${doc.quoteReqID}`,
    quotes: () => `Quote ${doc.quoteID}`,
  }[kind]?.() ?? id;
  const fields = $("#detail-fields");
  fields.innerHTML = "";
  for (const [key, value] of detailEntries(doc)) {
    if (empty(value)) continue;
    const text = detailValue(key, value, doc, kind);
    if (text === "") continue; // e.g. avgPx while nothing is filled
    const dt = document.createElement("dt");
    dt.textContent = key === KINDS[kind].id ? "Id" : label(key); // its own internal id, or a reference
    dt.title = key; // the API's field name, for whoever reads the API next
    const dd = document.createElement("dd");
    dd.dataset.field = key;
    dd.textContent = text;
    // the exact value, the referenced id, the reasons' codes
    if (text !== String(value)) dd.title = Array.isArray(value) ? value.join(", ") : typeof value === "object" ? JSON.stringify(value) : String(value);
    if (key === "status") dd.className = `status st-${value}`;
    if (key === "side") dd.className = `side side-${value}`;
    fields.append(dt, dd);
  }
  const base = {
    orders: "/api/queries/orders/",
    executions: "/api/queries/executions/",
    quoteRequests: CONFIG.endpoints.quoteRequests && `${CONFIG.endpoints.quoteRequests}/`,
    quotes: CONFIG.endpoints.quotes && `${CONFIG.endpoints.quotes}/`,
  }[kind];
  const body = $("#detail-events tbody");
  if (!base) {
    body.innerHTML = "";
    return;
  }
  let events;
  try {
    events = await loadAll(`${base}${encodeURIComponent(id)}/events`, 1000);
  } catch (err) {
    body.innerHTML = `<tr><td colspan="6">${err.message}</td></tr>`;
    return;
  }
  if (!page.selection || page.selection.id !== id) return;
  body.innerHTML = "";
  for (const ev of events) {
    const tr = document.createElement("tr");
    const s = ev.state || {};
    const cells = [
      ev.seq, ev.occurredAt, ev.type, ev.version, ev.actor,
      {
        orders: () => {
          const avg = formatNumber("avgPx", s.avgPx, s);
          return `${s.status} ${s.cumQty}/${s.orderQty}${avg ? ` @ ${avg}` : ""}`;
        },
        executions: () => `${s.status} ${s.lastQty} @ ${formatNumber("lastPx", s.lastPx, priced(kind, s))}`,
        quoteRequests: () => `${s.status}${s.orderId ? ` → ${refOf(store, "orders", s.orderId, "clOrdID")}` : ""}`,
        quotes: () => `${s.status} ${formatNumber("bidPx", s.bidPx, s) || "-"}/${formatNumber("offerPx", s.offerPx, s) || "-"}`,
      }[kind](),
    ];
    cells.forEach((value, i) => {
      const td = document.createElement("td");
      if (i === 1) td.append(dateTimeFmt({ getValue: () => value }));
      else td.textContent = String(value ?? "");
      tr.append(td);
    });
    body.append(tr);
  }
  $("#detail-count").textContent = `${events.length} events`;
}
