// The detail panel: the selected document's fields and its event history.
import { CONFIG, $, store, page } from "/static/blotter/page.js";
import { loadAll } from "/static/blotter/live.js";
import { dateTimeFmt } from "/static/blotter/views.js";
import { updateActionButtons } from "/static/blotter/actions.js";

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
function detailEntries(doc) {
  const rank = (key) => {
    const i = DETAIL_ORDER.indexOf(key);
    return i < 0 ? DETAIL_ORDER.length : i;
  };
  return Object.entries(doc).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
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
    if (value === null || value === "" || (typeof value === "object" && !Object.keys(value).length)) continue;
    const dt = document.createElement("dt");
    dt.textContent = key;
    const dd = document.createElement("dd");
    dd.textContent = typeof value === "object" ? JSON.stringify(value) : String(value);
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
        orders: () => `${s.status} ${s.cumQty}/${s.orderQty} @${s.avgPx}`,
        executions: () => `${s.status} ${s.lastQty}@${s.lastPx}`,
        quoteRequests: () => `${s.status}${s.orderId ? ` → ${s.orderId}` : ""}`,
        quotes: () => `${s.status} ${s.bidPx ?? "-"}/${s.offerPx ?? "-"}`,
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
