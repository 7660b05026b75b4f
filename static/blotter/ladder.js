// The depth ladder: the book of the selected order's instrument (its venue and symbol): the book
// query's document (bids, asks best first, stale) through /blotter/api/book (null: no book).
//
// Polled, not pushed: books are current state, not events (nothing of theirs is on the blotter
// feed), and a venue's book changes many times a second. A push per change would cost the
// channel layer changes x desks and replay the seq machinery for data nobody needs at that rate;
// a desk reads a ladder at human speed. So the page asks at most once a second, and only while
// an order is selected, the detail panel shows and the tab is visible: the load is bounded by
// the desks looking, not by the market. The query's own `stale` flag marks a book the venue's
// stream stopped refreshing.
import { $, page, store } from "/static/blotter/page.js";

const PERIOD_MS = 1000; // at most one book read a second
const TICK_MS = 200; // how soon a new selection shows its book (no request unless it changed)
const DEPTH = 10; // levels shown per side

let shown = null; // "venue|symbol" drawn now
let lastRead = 0;
let inFlight = false;

function selectedInstrument() {
  const sel = page.selection;
  if (!sel || sel.kind !== "orders" || $("#detail")?.hidden || document.hidden) return null;
  const doc = store.docs.orders?.get(sel.id);
  if (!doc || !doc.venue || !doc.symbol) return null;
  return { venue: doc.venue, symbol: doc.symbol, key: `${doc.venue}|${doc.symbol}` };
}

// the blotter's read of the book query's document: 200 with null where there is no book (the
// query's 404 would be a failed load in the console every second; blotter/ladder.py)
const bookUrl = ({ venue, symbol }) =>
  `/blotter/api/book?${new URLSearchParams({ venue, symbol })}`;

function row(cls, bidQty, px, askQty) {
  const tr = document.createElement("tr");
  tr.className = cls;
  for (const [text, tdClass] of [[bidQty, "bid-qty"], [px, "px"], [askQty, "ask-qty"]]) {
    const td = document.createElement("td");
    td.className = tdClass;
    td.textContent = text ?? "";
    tr.append(td);
  }
  return tr;
}

function draw(instrument, book) {
  const section = $("#ladder");
  section.hidden = false;
  $("#ladder-title").textContent = `${instrument.venue} ${instrument.symbol}`;
  const body = $("#ladder-levels tbody");
  body.innerHTML = "";
  if (!book) {
    section.dataset.stale = "false";
    $("#ladder-stale").hidden = true;
    $("#ladder-note").textContent = "no book for this instrument";
    return;
  }
  const asks = (book.asks || []).slice(0, DEPTH).reverse(); // highest first, the touch last
  const bids = (book.bids || []).slice(0, DEPTH);
  asks.forEach(([px, qty], i) => body.append(row(`ask${i === asks.length - 1 ? " touch-ask" : ""}`, "", px, qty)));
  bids.forEach(([px, qty], i) => body.append(row(`bid${i === 0 ? " touch" : ""}`, qty, px, "")));
  section.dataset.stale = String(Boolean(book.stale));
  $("#ladder-stale").hidden = !book.stale;
  $("#ladder-note").textContent = `as of ${book.asOf ?? "-"}${book.mid ? ` · mid ${book.mid}` : ""}`;
}

async function read(instrument) {
  inFlight = true;
  lastRead = Date.now();
  try {
    const response = await fetch(bookUrl(instrument), { credentials: "same-origin", headers: { Accept: "application/json" } });
    const current = selectedInstrument();
    if (!current || current.key !== instrument.key) return; // the desk moved on meanwhile
    if (response.ok) draw(instrument, (await response.json()).book);
    shown = instrument.key;
  } catch (err) {
    $("#ladder-note").textContent = `book unavailable: ${err.message}`;
  } finally {
    inFlight = false;
  }
}

function tick() {
  const instrument = selectedInstrument();
  if (!instrument) {
    if (shown !== null) $("#ladder").hidden = true;
    shown = null;
    return;
  }
  if (inFlight) return;
  if (instrument.key !== shown || Date.now() - lastRead >= PERIOD_MS) read(instrument);
}

setInterval(tick, TICK_MS);
document.addEventListener("visibilitychange", tick);
