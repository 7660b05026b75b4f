// The desk's risk view (docs/architecture.md "The desk's risk view in the blotter"): a collapsible
// section under the order grid with the venues strip (always shown, in its header), the positions
// grid and the discrepancies queue, and the alerts above it.
//
// Wiring, kept to two calls so app.js stays the grids' own: `initRisk` once, and `loadRisk` on
// every (re)load of the page's snapshot, after the snapshot was read while the feed is paused
// (what the REST reads return is at least as new as the snapshot's seq, the feed then brings every
// later event, and each document is replaced only by a newer version: nothing is missed and the
// overlap is harmless). Every event of the feed reaches `onEvent` through the store's taps.
import { $, store } from "/static/blotter/page.js";
import { API, getJSON } from "/static/blotter/risk-util.js";
import { initAlerts, notify } from "/static/blotter/alerts.js";
import { initPositions, loadPositions, positions, putPosition, showPositions } from "/static/blotter/positions.js";
import { initVenues, loadVenues, putControl, putVenue, renderVenues, venues } from "/static/blotter/venues-strip.js";
import {
  discrepancies, initDiscrepancies, loadDiscrepancies, putDiscrepancy, reloadSoon, renderDiscrepancies,
} from "/static/blotter/discrepancies.js";

const OPEN_KEY = "oms.blotter.risk.open";
const DEAD_LETTERS_MS = 30000; // dead letters are rows, not events: see deadLetters()
const dead = { maxId: null, timer: null, reloadTimer: null };

// --- events --------------------------------------------------------------------------------------
function onEvent(event) {
  const doc = event.state;
  if (!doc) return;
  if (doc.discrepancyId) {
    if (putDiscrepancy(doc)) renderDiscrepancies();
  } else if (event.topic === "position-events") {
    const before = positions.get(doc.positionId);
    putPosition(doc);
    const had = new Set((before && before.dirtyReasons) || []);
    const added = (doc.dirtyReasons || []).filter((r) => !had.has(r));
    if (added.some((r) => r.startsWith("discrepancy:"))) reloadSoon();
    if (added.some((r) => r.startsWith("unknown_outcome:"))) deadLettersSoon();
  } else if (event.topic === "venue-events" && doc.venue) {
    if (putVenue(doc, { live: true })) renderVenues();
  } else if (event.topic === "control-events" && doc.controlId) {
    if (putControl(doc, { live: true, type: event.type })) renderVenues();
  } else if (event.type === "OrderRejected") {
    deadLettersSoon(); // a send that gave up rejects its order ("not sent") beside its dead letter
  }
}

// --- dead letters --------------------------------------------------------------------------------
// A dead letter (a venue send that gave up) is a row of the venue tasks, never an event: it is
// read with the snapshot, after the events that come with one, and every DEAD_LETTERS_MS for the
// one that comes alone (an outcome still unknown after its re-queries).
async function deadLetters() {
  const page = await getJSON("/blotter/api/dead-letters?limit=50").catch(() => null);
  if (!page) return;
  const first = dead.maxId === null;
  for (const d of [...page.results].reverse()) {
    if (!first && d.deadLetterId > dead.maxId) {
      notify({
        key: `dead:${d.deadLetterId}`,
        kind: "dead-letter",
        level: "error",
        title: `Dead letter at ${d.venue}: ${d.reason}`,
        text: `${d.clOrdID} (${d.task.replace(/^venues\./, "")}) ${d.error || ""}`.trim(),
      });
    }
    dead.maxId = Math.max(dead.maxId ?? 0, d.deadLetterId);
  }
  if (first) {
    dead.maxId = dead.maxId ?? 0;
    if (page.results.length)
      notify({
        key: "dead:open",
        kind: "dead-letter",
        level: "warn",
        title: `${page.results.length}${page.results.length >= 50 ? "+" : ""} unresolved dead letter${page.results.length === 1 ? "" : "s"}`,
        text: "venue sends that gave up (admin: Venues › Dead letters)",
      });
  }
}
function deadLettersSoon() {
  clearTimeout(dead.reloadTimer);
  dead.reloadTimer = setTimeout(deadLetters, 300);
}

// --- the section ---------------------------------------------------------------------------------
function summarize(s) {
  const box = $("#risk-summary");
  const count = $("#positions-count");
  const money = (n) => n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  if (count) count.textContent = `${s.count}`;
  if (box) {
    box.textContent = s.count ? `${s.count} position${s.count === 1 ? "" : "s"} · realized ${money(s.realized)} · unrealized ${money(s.unrealized)}` : "";
    box.classList.toggle("has-dirty", s.dirty > 0);
    if (s.dirty) box.textContent += ` · ${s.dirty} dirty`;
  }
}

function setOpen(open) {
  const section = $("#risk");
  if (!section) return;
  section.dataset.open = String(open);
  $("#risk-body").hidden = !open;
  $("#risk-toggle").setAttribute("aria-expanded", String(open));
  $("#risk-toggle").textContent = open ? "Risk ▾" : "Risk ▸";
  try {
    localStorage.setItem(OPEN_KEY, open ? "1" : "0");
  } catch {
    /* private mode: the section simply opens closed next time */
  }
  showPositions(open);
}

export function initRisk({ canAct }) {
  if (!$("#risk")) return;
  initAlerts();
  initPositions({ changed: summarize });
  initVenues({ canAct, onReconciled: (r) => (r.discrepancies || []).forEach((d) => putDiscrepancy(d)) || renderDiscrepancies() });
  initDiscrepancies({ canAct });
  store.taps.push(onEvent);
  $("#risk-toggle").addEventListener("click", () => setOpen($("#risk").dataset.open !== "true"));
  let open = false;
  try {
    open = localStorage.getItem(OPEN_KEY) === "1";
  } catch {
    open = false;
  }
  setOpen(open);
  // the page's toasts rise from just above this section (risk.css): never over its toolbar
  const section = $("#risk");
  const keepClear = () => document.documentElement.style.setProperty("--risk-height", `${section.offsetHeight}px`);
  keepClear();
  if ("ResizeObserver" in window) new ResizeObserver(keepClear).observe(section);
  clearInterval(dead.timer);
  dead.timer = setInterval(deadLetters, DEAD_LETTERS_MS);
}

/** Called by app.js on every snapshot (re)load, after the snapshot's read (see the header). */
export async function loadRisk() {
  if (!$("#risk")) return;
  await Promise.all([
    loadVenues(),
    loadPositions().catch((err) => console.warn("positions not loaded", err)),
    loadDiscrepancies(),
    deadLetters(),
  ]);
}

export const risk = { positions, venues, discrepancies, api: API };
