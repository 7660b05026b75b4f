// The positions grid of the risk view (docs/architecture.md "The desk's risk view").
//
// Live from `position-events` (each event carries the position's full state; a document is
// replaced only by a newer version), loaded with every snapshot (re)load from
// GET /api/queries/positions. Unrealized P&L is not an event of the position (a price moves
// without one): the query adds `markPx` (the book's mid) when read, and the page computes
// (markPx - avgCost) x qty x multiplier for every newer state the feed brings, with the last mark
// it read. Books have no events, so while the grid is open the marks are re-read with one list
// request every MARKS_MS: one request for the page, never one per row.
import { TabulatorFull as Tabulator } from "/static/vendor/tabulator/js/tabulator_esm.min.mjs";
import { API, newer } from "/static/blotter/risk-util.js";
import { loadAll } from "/static/blotter/live.js";

const FLUSH_MS = 100; // coalescing window of the grid's updates
const MARKS_MS = 5000;
const docs = new Map(); // positionId -> doc (with markPx)
const marks = new Map(); // "venue\u0000symbol" -> mid (string) | null
const pending = new Set(); // positionIds changed since the last flush
let table = null;
let built = false; // Tabulator takes no updates before its tableBuilt
let flushTimer = null;
let marksTimer = null;
let onChange = () => {};

const markKey = (doc) => `${doc.venue ?? ""}\u0000${doc.symbol}`;
const dec = (v) => (v === null || v === undefined || v === "" ? null : Number(v));

/** (mark - avgCost) x qty x multiplier; null without a mark (no book, or a one-sided one). */
export function unrealized(doc) {
  const mark = dec(doc.markPx);
  const qty = dec(doc.qty) || 0;
  if (mark === null) return null;
  if (!qty) return 0;
  return (mark - dec(doc.avgCost)) * qty * (dec(doc.multiplier) ?? 1);
}

function row(doc) {
  return {
    ...doc,
    venue: doc.venue ?? "",
    unrealizedPnl: unrealized(doc),
    dirtyText: doc.dirty ? (doc.dirtyReasons || []).join(", ") || "dirty" : "",
  };
}

// --- formatters ----------------------------------------------------------------------------------
const span = (text, cls, title) => {
  const s = document.createElement("span");
  if (cls) s.className = cls;
  s.textContent = text;
  if (title) s.title = title;
  return s;
};
const plain = (cell) => {
  const v = cell.getValue();
  return v === null || v === undefined ? "" : String(v);
};
const pnl = (cell) => {
  const v = cell.getValue();
  if (v === null || v === undefined || v === "") return "";
  const n = Number(v);
  return span(n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }), n > 0 ? "pnl-up" : n < 0 ? "pnl-down" : "", String(v));
};
const signed = (cell) => {
  const n = Number(cell.getValue());
  return span(String(cell.getValue() ?? ""), n > 0 ? "pos-long" : n < 0 ? "pos-short" : "pos-flat");
};
const dirtyFmt = (cell) => {
  const data = cell.getRow().getData();
  if (!data.dirty) return span("clean", "muted");
  return span(`DIRTY ${data.dirtyText}`, "dirty-flag", (data.dirtyReasons || []).join("\n"));
};

function columns() {
  const num = (field, title, formatter = plain) => ({ field, title, hozAlign: "right", cssClass: "num", formatter, sorter: "number", headerFilter: "input", headerFilterPlaceholder: "filter" });
  const txt = (field, title) => ({ field, title, headerFilter: "input", headerFilterPlaceholder: "filter" });
  return [
    txt("account", "Account"),
    txt("venue", "Venue"),
    txt("symbol", "Symbol"),
    num("qty", "Qty", signed),
    num("avgCost", "AvgCost"),
    num("markPx", "Mark"),
    num("unrealizedPnl", "Unrealized P&L", pnl),
    num("realizedPnl", "Realized P&L", pnl),
    num("openBuyQty", "Open buy"),
    num("openSellQty", "Open sell"),
    num("worstLong", "Worst long"),
    num("worstShort", "Worst short"),
    { field: "dirtyText", title: "Dirty", formatter: dirtyFmt, headerFilter: "input", headerFilterPlaceholder: "filter", minWidth: 240 },
    { field: "updatedAt", title: "Updated", formatter: (c) => span((c.getValue() || "").slice(11, 19), "time", c.getValue()) },
  ];
}

// --- the store side ------------------------------------------------------------------------------
/** A position document from the feed or a REST read; keeps the last mark when it has none. */
export function putPosition(doc, { fromRead = false } = {}) {
  if (!doc || !doc.positionId) return false;
  if (fromRead) marks.set(markKey(doc), doc.markPx ?? null);
  const old = docs.get(doc.positionId);
  if (!newer(old, doc)) {
    // an older or equal state: only the read's mark may be news
    if (fromRead && old && old.markPx !== (doc.markPx ?? null)) {
      docs.set(doc.positionId, { ...old, markPx: doc.markPx ?? null });
      schedule(doc.positionId);
      return true;
    }
    return false;
  }
  const markPx = fromRead ? doc.markPx ?? null : marks.get(markKey(doc)) ?? null;
  docs.set(doc.positionId, { ...doc, markPx });
  schedule(doc.positionId);
  return true;
}

function schedule(id) {
  pending.add(id);
  if (!flushTimer) flushTimer = setTimeout(flush, FLUSH_MS);
}

function flush() {
  flushTimer = null;
  const ids = [...pending];
  pending.clear();
  if (table && built && ids.length) table.updateOrAddData(ids.map((id) => row(docs.get(id))));
  onChange(summary());
}

export function summary() {
  let dirty = 0;
  let realized = 0;
  let unreal = 0;
  for (const d of docs.values()) {
    if (d.dirty) dirty += 1;
    realized += dec(d.realizedPnl) || 0;
    unreal += unrealized(d) || 0;
  }
  return { count: docs.size, dirty, realized, unrealized: unreal };
}

/** Every position, read after the snapshot (see risk.js loadRisk): each page of the list. */
export async function loadPositions() {
  const list = await loadAll(`${API}/queries/positions?count=false`, 1000);
  for (const doc of list) putPosition(doc, { fromRead: true });
  flush();
}

async function refreshMarks() {
  if (!built) return;
  try {
    const list = await loadAll(`${API}/queries/positions?count=false`, 1000);
    for (const doc of list) putPosition(doc, { fromRead: true });
  } catch {
    /* the next period tries again; the feed keeps the quantities current meanwhile */
  }
}

/** Build the grid the first time the risk section opens (a hidden Tabulator has no size). */
export function showPositions(open) {
  clearInterval(marksTimer);
  marksTimer = null;
  if (!open) return;
  if (!table) {
    table = new Tabulator(document.getElementById("positions-grid"), {
      data: [...docs.values()].map(row),
      index: "positionId",
      height: "100%",
      layout: "fitDataStretch",
      renderVertical: "virtual",
      columns: columns(),
      initialSort: [{ column: "symbol", dir: "asc" }, { column: "account", dir: "asc" }],
      placeholder: "No positions",
      rowFormatter: (r) => {
        const d = r.getData();
        r.getElement().classList.toggle("position-dirty", !!d.dirty);
        r.getElement().dataset.positionId = d.positionId;
      },
    });
    table.on("tableBuilt", () => {
      built = true;
      table.replaceData([...docs.values()].map(row)); // what changed while it was being built
    });
  } else if (built) {
    table.replaceData([...docs.values()].map(row));
    table.redraw();
  }
  marksTimer = setInterval(refreshMarks, MARKS_MS);
}

export function initPositions({ changed }) {
  onChange = changed;
}

export const positions = docs; // tests and the summary read it (window.__blotter.risk)
