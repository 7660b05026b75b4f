// How the blotter says things: prices to the instrument's tick, field labels, review reasons in
// words, and the references a desk recognises (clOrdID, quoteID) instead of internal ids.
// Shared by the grids (views.js) and the detail panel (detail.js); pure display, the documents
// in the store are never changed (sorting, filters and CSV keep the exact values).

const CONFIG = JSON.parse(document.getElementById("blotter-config").textContent);
const TICKS = CONFIG.ticks || {}; // venue -> symbol -> tickSize (blotter/views.py)
const REASONS = CONFIG.reviewReasons || {}; // review reason code -> words (executions/enums.py)

// --- decimals, exactly: a price string is never pushed through a float -------------------------
// "123.4500" -> {units: 1234500n, scale: 4}; null for anything that is not a plain decimal
function parse(text) {
  const m = /^\s*(-?)(\d*)(?:\.(\d*))?\s*$/.exec(String(text));
  if (!m || (!m[2] && !m[3])) return null;
  const frac = m[3] || "";
  const units = BigInt((m[2] || "0") + frac);
  return { units: m[1] ? -units : units, scale: frac.length };
}
const TEN = 10n;
const pow10 = (n) => TEN ** BigInt(n);
// a / b rounded half away from zero (b > 0)
function divRound(a, b) {
  const q = a / b;
  const r = a % b;
  if (2n * (r < 0n ? -r : r) >= b) return a < 0n ? q - 1n : q + 1n;
  return q;
}
function rescale(d, scale) {
  if (scale >= d.scale) return { units: d.units * pow10(scale - d.scale), scale };
  return { units: divRound(d.units, pow10(d.scale - scale)), scale };
}
function show(d) {
  const neg = d.units < 0n;
  const digits = (neg ? -d.units : d.units).toString().padStart(d.scale + 1, "0");
  const int = digits.slice(0, digits.length - d.scale);
  const frac = d.scale ? `.${digits.slice(digits.length - d.scale)}` : "";
  return `${neg && d.units !== 0n ? "-" : ""}${int}${frac}`;
}
/** Decimal places a tick shows ("0.010" -> 2, "5" -> 0). */
export function decimalsOf(text) {
  const m = /\.(\d*?)0*$/.exec(String(text));
  return m ? m[1].length : 0;
}
/** Round `value` to the nearest multiple of `step` (both decimal strings), shown with the step's decimals. */
export function roundToStep(value, step) {
  const v = parse(value);
  const s = parse(step);
  if (!v || !s || s.units <= 0n) return String(value);
  const scale = Math.max(v.scale, s.scale);
  const units = rescale(v, scale).units;
  const stepUnits = rescale(s, scale).units;
  return show(rescale({ units: divRound(units, stepUnits) * stepUnits, scale }, decimalsOf(step)));
}
/** `value` with `min` to `max` decimals: rounded at `max`, trailing zeros trimmed down to `min`. */
export function toDecimals(value, min, max = min) {
  const v = parse(value);
  if (!v) return String(value);
  let text = show(rescale(v, max));
  if (max > min) text = text.replace(new RegExp(`(\\.\\d{${min}}\\d*?)0+$`), "$1").replace(/\.$/, "");
  return text;
}

// --- instruments ---------------------------------------------------------------------------------
const finestBySymbol = {};
for (const bySymbol of Object.values(TICKS)) {
  for (const [symbol, tick] of Object.entries(bySymbol)) {
    const seen = finestBySymbol[symbol];
    if (seen === undefined || Number(tick) < Number(seen)) finestBySymbol[symbol] = tick;
  }
}
/** The tick size of the document's instrument: its venue's, else the finest listing of its symbol
 * (a client order without a venue, a quote), else null. */
export function tickOf(doc) {
  if (!doc || !doc.symbol) return null;
  return (doc.venue && TICKS[doc.venue] && TICKS[doc.venue][doc.symbol]) || finestBySymbol[doc.symbol] || null;
}
// without an instrument: the price's own decimals, at least 2 (a price reads as money), at most 8
const FALLBACK_MAX = 8;
function fallbackDecimals(value) {
  const v = Math.abs(Number(value));
  if (!(v > 0) || v >= 1) return 2;
  return Math.min(FALLBACK_MAX, 4 - Math.floor(Math.log10(v)) - 1); // 4 significant digits
}
const blank = (v) => v === null || v === undefined || v === "";

/** A price of `doc` (limit, stop, last, bid, offer): to its instrument's tick. */
export function formatPx(value, doc) {
  if (blank(value)) return "";
  const tick = tickOf(doc);
  if (tick) return roundToStep(value, tick);
  return toDecimals(value, Math.min(Math.max(2, decimalsOf(value)), FALLBACK_MAX));
}
/** An average price: blank while nothing is filled; else the tick's decimals and up to two more
 * (a volume-weighted price falls between ticks), trailing zeros trimmed to the tick's. */
export function formatAvgPx(value, doc) {
  if (blank(value) || (doc && Number(doc.cumQty ?? 1) === 0)) return "";
  const tick = tickOf(doc);
  const min = tick ? decimalsOf(tick) : fallbackDecimals(value);
  return toDecimals(value, min, min + 2);
}
export const PRICE_FIELDS = new Set(["price", "stopPx", "lastPx", "bidPx", "offerPx", "acceptedPx", "referencePx"]);
export const AVG_FIELDS = new Set(["avgPx"]);
/** Any field of `doc` as the grids and the detail panel show a number of it. */
export function formatNumber(field, value, doc) {
  if (AVG_FIELDS.has(field)) return formatAvgPx(value, doc);
  if (PRICE_FIELDS.has(field)) return formatPx(value, doc);
  return blank(value) ? "" : String(value);
}

// --- labels ----------------------------------------------------------------------------------------
// The one map from API field to what the desk reads (detail panel, its history, pending values).
export const LABELS = {
  clOrdID: "ClOrdID", origClOrdID: "Orig. ClOrdID", execID: "ExecID", quoteReqID: "QuoteReqID",
  quoteID: "QuoteID", status: "Status", side: "Side", symbol: "Symbol", orderQty: "Quantity",
  cumQty: "Filled qty", leavesQty: "Leaves qty", avgPx: "Avg price", lastQty: "Last qty",
  lastPx: "Last price", price: "Limit price", stopPx: "Stop price", bidPx: "Bid price",
  offerPx: "Offer price", bidSize: "Bid size", offerSize: "Offer size", ordType: "Order type",
  timeInForce: "Time in force", expireTime: "Expire time", validUntilTime: "Valid until",
  account: "Account", venue: "Venue", handling: "Handling", routingReason: "Routing reason",
  routingRule: "Routing rule", routingRuleVersion: "Rule version", reviewReasons: "Held because",
  reviewDetails: "Review details", kind: "Kind", placedQty: "Placed qty", allocatedQty: "Allocated qty",
  workingChildren: "Working children", pending: "Pending replace", text: "Text", createdAt: "Created",
  updatedAt: "Updated", version: "Version", allowedActions: "Allowed actions",
  grossTradeAmt: "Gross traded amount", phase: "Phase", orderId: "Order", rootId: "Client order",
  parentId: "Parent order", clientOrderId: "Client order", executionId: "Execution", quoteId: "Quote",
  transactTime: "Transact time", quoteRequestId: "Quote request", quoteIds: "Quotes",
  acceptedQuoteId: "Accepted quote", orderClOrdID: "Order ClOrdID", acceptedPx: "Accepted price",
  acceptedQty: "Accepted qty", attributes: "Attributes", duplicate: "Duplicate",
};
/** The label of an API field: from LABELS, else its camelCase split into words ("fooBarQty" -> "Foo bar qty"). */
export function label(key) {
  if (LABELS[key]) return LABELS[key];
  const words = String(key).replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/_/g, " ").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

// --- review reasons ----------------------------------------------------------------------------------
/** A review reason in words (the admin's text), the code itself when unknown. */
export const reasonText = (code) => REASONS[code] || code;
export const reasonsText = (codes) => (Array.isArray(codes) ? codes.map(reasonText).join(" ") : codes ?? "");

// --- references --------------------------------------------------------------------------------------
// fields that hold another document's internal id, and the field of that document a desk knows it by
export const REFERENCES = {
  orderId: ["orders", "clOrdID"], parentId: ["orders", "clOrdID"], rootId: ["orders", "clOrdID"],
  clientOrderId: ["orders", "clOrdID"], quoteRequestId: ["quoteRequests", "quoteReqID"],
  acceptedQuoteId: ["quotes", "quoteID"], quoteIds: ["quotes", "quoteID"], quoteId: ["quotes", "quoteID"],
  executionId: ["executions", "execID"],
};
/** The desk's reference of the document `kind`/`id` in the store (its clOrdID, quoteID...), else the id. */
export function refOf(store, kind, id, field) {
  if (blank(id)) return "";
  const doc = store.docs[kind] && store.docs[kind].get(id);
  return (doc && doc[field]) || id;
}
