// The blotter's views: which documents each shows and with which columns.
//
// No status lists here: the status filters' choices come from the server (the domains' enums,
// CONFIG.statuses) and the queues are defined by what the state machine allows next (each
// document's allowedActions): the desk queue holds client orders it can still place, the review
// queue the executions it can allocate.

import { formatNumber, reasonsText, refOf } from "/static/blotter/format.js";
import { deskRows, refusalFormatter } from "/static/blotter/refusals.js";

const CONFIG = JSON.parse(document.getElementById("blotter-config").textContent);
const STATUSES = CONFIG.statuses || {};
export const ORDER_STATUSES = STATUSES.orders || [];
export const EXEC_STATUSES = STATUSES.executions || [];
const allows = (doc, action) => Array.isArray(doc.allowedActions) && doc.allowedActions.includes(action);
const SIDES = ["Buy", "Sell", "SellShort"];
const num = (v) => (v === null || v === undefined || v === "" ? 0 : Number(v));

// --- formatters ---------------------------------------------------------------------------
function span(text, cls, title) {
  const el = document.createElement("span");
  if (cls) el.className = cls;
  el.textContent = text ?? "";
  if (title) el.title = title;
  return el;
}
const timeFmt = (cell) => {
  const v = cell.getValue();
  if (!v) return "";
  const m = /T(\d\d:\d\d:\d\d)(\.\d{1,3})?/.exec(v);
  return span(m ? m[1] + (m[2] || ".000").padEnd(4, "0") : v, "time", v);
};
const dateTimeFmt = (cell) => {
  const v = cell.getValue();
  if (!v) return "";
  return span(v.replace("T", " ").replace(/(\.\d{3})\d*/, "$1").replace("Z", ""), "time", v);
};
const sideFmt = (cell) => span(cell.getValue(), `side side-${cell.getValue()}`);
const statusFmt = (cell) => span(cell.getValue(), `status st-${cell.getValue()}`);
// prices to the row's instrument tick, avgPx blank while nothing is filled (format.js)
const numFmt = (cell) => formatNumber(cell.getField(), cell.getValue(), cell.getData());
// the validation's own messages of a held execution, one sentence after another
const detailsFmt = (cell) => Object.values(cell.getValue() || {}).flat().join(" ");
const listFmt = (cell) => (Array.isArray(cell.getValue()) ? cell.getValue().join(", ") : cell.getValue() ?? "");
// review reasons in words (the admin's), the codes in the tooltip
const reasonsFmt = (cell) => {
  const codes = cell.getValue();
  if (!Array.isArray(codes) || !codes.length) return "";
  const words = reasonsText(codes);
  return span(words, "reasons", `${words} (${codes.join(", ")})`);
};

// a numeric header filter: "100", ">100", "<=5", "10-20"
function numFilter(headerValue, rowValue) {
  const text = String(headerValue).trim();
  if (!text) return true;
  const v = num(rowValue);
  let m = /^(<=|>=|<|>|=)\s*(-?[\d.]+)$/.exec(text);
  if (m) {
    const x = Number(m[2]);
    return { "<": v < x, "<=": v <= x, ">": v > x, ">=": v >= x, "=": v === x }[m[1]];
  }
  m = /^(-?[\d.]+)\s*-\s*(-?[\d.]+)$/.exec(text);
  if (m) return v >= Number(m[1]) && v <= Number(m[2]);
  return String(rowValue ?? "").startsWith(text);
}

// --- column builders ----------------------------------------------------------------------
const text = (field, title, extra = {}) => ({ field, title, headerFilter: "input", headerFilterPlaceholder: "filter", ...extra });
const number = (field, title, extra = {}) => ({
  field, title, hozAlign: "right", headerHozAlign: "right", cssClass: "num", formatter: numFmt,
  sorter: "number", headerFilter: "input", headerFilterPlaceholder: ">0", headerFilterFunc: numFilter, ...extra,
});
const choice = (field, title, values, formatter, extra = {}) => ({
  field, title, formatter, headerFilter: "list",
  headerFilterParams: { values: ["", ...values], clearable: true }, headerFilterFunc: "=", ...extra,
});
const time = (field, title, extra = {}) => ({ field, title, formatter: timeFmt, headerFilter: "input", headerFilterPlaceholder: "hh:mm", ...extra });

const orderColumns = () => [
  time("createdAt", "Time", { width: 110 }),
  text("clOrdID", "ClOrdID", { width: 170 }),
  choice("kind", "Kind", ["Client", "Market", "Slice"], null, { width: 80 }),
  choice("side", "Side", SIDES, sideFmt, { width: 78 }),
  text("symbol", "Symbol", { width: 110 }),
  number("orderQty", "Qty"),
  number("cumQty", "CumQty"),
  number("leavesQty", "Leaves"),
  number("avgPx", "AvgPx"),
  number("price", "Price"),
  choice("status", "Status", ORDER_STATUSES, statusFmt, { width: 122 }),
  text("venue", "Venue", { width: 96 }),
  text("account", "Account", { width: 96 }),
  choice("handling", "Handling", ["Auto", "Desk"], null, { width: 84 }),
  text("ordType", "Type", { width: 78 }),
  text("timeInForce", "TIF", { width: 64 }),
  number("placedQty", "Placed", { visible: false }),
  text("routingReason", "Routing", { visible: false }),
  text("routingRule", "Routing rule", { visible: false }),
  time("updatedAt", "Updated", { visible: false }),
  text("orderId", "OrderId", { visible: false }),
];

const execColumns = () => [
  time("transactTime", "Time", { width: 110 }),
  text("execID", "ExecID", { width: 150 }),
  text("clOrdID", "ClOrdID", { width: 160 }),
  choice("side", "Side", SIDES, sideFmt, { width: 78 }),
  text("symbol", "Symbol", { width: 110 }),
  number("lastQty", "LastQty"),
  number("lastPx", "LastPx"),
  choice("status", "Status", EXEC_STATUSES, statusFmt, { width: 120 }),
  text("venue", "Venue", { width: 96 }),
  text("account", "Account", { width: 96 }),
  text("reviewReasons", "Review", { formatter: reasonsFmt, width: 260 }),
  text("text", "Text", { width: 160 }),
  text("orderId", "OrderId", { visible: false }),
  text("executionId", "ExecutionId", { visible: false }),
];

// executions show their order's symbol/side/clOrdID/account (joined from the order store)
function joinOrder(exec, store) {
  const order = store.docs.orders.get(exec.orderId);
  return {
    ...exec,
    clOrdID: order ? order.clOrdID : "",
    side: order ? order.side : "",
    symbol: order ? order.symbol : "",
    account: order ? order.account : "",
  };
}

export const VIEWS = {
  orders: {
    title: "Orders",
    kind: "orders",
    tree: true,
    columns: orderColumns,
    include: () => true,
    row: (doc) => ({ ...doc }),
    initialSort: [{ column: "createdAt", dir: "desc" }],
  },
  executions: {
    title: "Executions",
    kind: "executions",
    columns: execColumns,
    include: () => true,
    row: joinOrder,
    joins: true,
    initialSort: [{ column: "transactTime", dir: "desc" }],
  },
  desk: {
    title: "Desk queue",
    kind: "orders",
    // client orders the desk handles, with quantity still to place
    include: (o) => o.kind === "Client" && o.handling === "Desk" && allows(o, "place"),
    columns: () => [
      time("createdAt", "Time", { width: 110 }),
      text("clOrdID", "ClOrdID", { width: 170 }),
      choice("side", "Side", SIDES, sideFmt, { width: 78 }),
      text("symbol", "Symbol", { width: 110 }),
      number("orderQty", "Qty"),
      number("placedQty", "Placed"),
      number("toPlace", "To place"),
      number("cumQty", "CumQty"),
      number("price", "Price"),
      text("ordType", "Type", { width: 78 }),
      choice("status", "Status", ORDER_STATUSES, statusFmt, { width: 122 }),
      text("account", "Account", { width: 96 }),
      // a refused order (refusals.js): the rule and the numbers that tripped it, the message as tooltip
      text("refusal", "Refused by", { formatter: refusalFormatter, width: 240 }),
      text("routingReason", "Routing reason", { width: 260 }),
      text("orderId", "OrderId", { visible: false }),
    ],
    row: (o) => ({ ...o, toPlace: String(num(o.orderQty) - num(o.placedQty)) }),
    // the refusals are in the queue too: rows that are not orders (the order was never created)
    extraRows: deskRows,
    initialSort: [{ column: "createdAt", dir: "asc" }],
  },
  review: {
    title: "Review queue",
    kind: "executions",
    include: (e) => allows(e, "allocate"), // held for review: the desk allocates or rejects it
    columns: () => [
      ...execColumns().filter((c) => c.field !== "status"),
      text("reviewDetails", "Details", { formatter: detailsFmt, width: 260 }),
    ],
    row: joinOrder,
    joins: true,
    initialSort: [{ column: "transactTime", dir: "asc" }],
  },
  "quote-requests": {
    title: "Quote requests",
    kind: "quoteRequests",
    needs: "quoteRequests",
    include: () => true,
    columns: () => [
      time("createdAt", "Time", { width: 110 }),
      text("quoteReqID", "QuoteReqID", { width: 160 }),
      choice("side", "Side", SIDES, sideFmt, { width: 78 }),
      text("symbol", "Symbol", { width: 110 }),
      number("orderQty", "Qty"),
      text("account", "Account", { width: 96 }),
      time("validUntilTime", "Valid until", { width: 110 }),
      text("status", "Status", { formatter: statusFmt, width: 110 }),
      // the references a desk knows (the quote's QuoteID, the order's ClOrdID); the ids hidden
      text("acceptedQuoteID", "Accepted quote", { width: 150 }),
      text("orderClOrdID", "Order", { width: 150 }),
      text("acceptedQuoteId", "Accepted quote id", { visible: false }),
      text("orderId", "OrderId", { visible: false }),
      text("quoteRequestId", "Id", { visible: false }),
    ],
    joins: true,
    row: (d, store) => ({
      ...d,
      acceptedQuoteID: d.acceptedQuoteId ? refOf(store, "quotes", d.acceptedQuoteId, "quoteID") : "",
      orderClOrdID: d.orderId ? refOf(store, "orders", d.orderId, "clOrdID") : "",
    }),
    initialSort: [{ column: "createdAt", dir: "desc" }],
  },
  quotes: {
    title: "Quotes",
    kind: "quotes",
    needs: "quotes",
    include: () => true,
    columns: () => [
      time("createdAt", "Time", { width: 110 }),
      text("quoteID", "QuoteID", { width: 150 }),
      text("quoteReqID", "QuoteReqID", { width: 150 }),
      choice("side", "Side", SIDES, sideFmt, { width: 78 }),
      text("symbol", "Symbol", { width: 110 }),
      number("bidSize", "BidSize"),
      number("bidPx", "BidPx"),
      number("offerPx", "OfferPx"),
      number("offerSize", "OfferSize"),
      time("validUntilTime", "Valid until", { width: 110 }),
      text("status", "Status", { formatter: statusFmt, width: 110 }),
      number("acceptedPx", "AcceptedPx"),
      number("acceptedQty", "AcceptedQty"),
      text("orderClOrdID", "Order", { width: 150 }),
      text("orderId", "OrderId", { visible: false }),
      text("quoteId", "Id", { visible: false }),
    ],
    row: (d) => ({ ...d }),
    initialSort: [{ column: "createdAt", dir: "desc" }],
  },
};

export { dateTimeFmt, statusFmt, sideFmt };
