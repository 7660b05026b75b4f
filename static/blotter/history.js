// History on demand: the snapshot holds the desk's working set (working trees, today's orders
// and executions, held executions, open RFQs and quotes); older orders and executions are read
// from the query API when the desk asks, by date range and filters, never all at once.
//
// The bar says how far back the loaded history goes ("history since ..."), and offers:
//   * "Earlier day": widen the window by one trading day (orders and executions created in it);
//   * a search: a date range and a field (clOrdID, symbol, account) run on the server (the
//     query API's specification filters with cursor paging), the matches are added to the grid.
// Loaded documents go into the same store as the live ones (newest version wins), so the feed
// keeps them current like any other row.
import { CONFIG, $, page, store } from "/static/blotter/page.js";

const DAY_MS = 86400000;
export const MAX_LOAD = 20000; // documents per history load: narrow the window beyond that
const PAGE = 1000;

export const historyWindow = {
  from: null, // Date: the loaded history is complete from here on (the working set is always loaded)
  loading: false,
  loaded: 0, // documents loaded on demand so far
};

const iso = (d) => d.toISOString().replace(".000Z", "Z");
const label = (d) => `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;

export function setHistoryFrom(value) {
  if (!value) return;
  const d = new Date(value);
  if (!historyWindow.from || d < historyWindow.from) historyWindow.from = d;
  render();
}

function render(status = null) {
  const el = $("#history-window");
  if (!el) return;
  el.textContent = historyWindow.from
    ? `Working set + history since ${label(historyWindow.from)} · older history not loaded`
    : "Working set";
  el.dataset.from = historyWindow.from ? iso(historyWindow.from) : "";
  if (status !== null) $("#history-status").textContent = status;
  $("#history-widen").disabled = historyWindow.loading || !historyWindow.from;
  $("#history-search button").disabled = historyWindow.loading;
}

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      const body = await response.json();
      const fields = Object.entries(body.error.fields || {}).map(([k, v]) => `${k}: ${v.join(" ")}`);
      message = fields.length ? fields.join("; ") : body.error.message;
    } catch {
      /* not the API's error shape */
    }
    throw new Error(message);
  }
  return response.json();
}

/** Every document of a query (cursor paging, no count), at most MAX_LOAD; {docs, truncated}. */
async function loadQuery(url, params) {
  const query = new URLSearchParams({ ...params, limit: String(PAGE), count: "false" });
  let next = `${url}?${query}`;
  const docs = [];
  while (next && docs.length < MAX_LOAD) {
    const body = await getJSON(next);
    docs.push(...body.results);
    next = body.next ? new URL(body.next, location.href).pathname + new URL(body.next, location.href).search : null;
  }
  return { docs, truncated: Boolean(next) };
}

/** The trees of loaded orders whose root is not in the store yet (the tree view needs the root). */
async function loadRoots(orders) {
  const missing = [...new Set(orders.map((d) => d.rootId).filter((id) => id && !store.docs.orders.has(id)))];
  for (const rootId of missing.slice(0, 200)) {
    const { docs } = await loadQuery(CONFIG.endpoints.orders, { rootId });
    for (const doc of docs) store.put("orders", doc);
  }
}

async function load(what, text, jobs) {
  if (historyWindow.loading) return false;
  historyWindow.loading = true;
  render(`loading ${what}…`);
  try {
    let n = 0;
    let truncated = false;
    for (const [kind, url, params] of jobs) {
      if (!url) continue;
      const got = await loadQuery(url, params);
      for (const doc of got.docs) store.put(kind, doc);
      if (kind === "orders") await loadRoots(got.docs);
      n += got.docs.length;
      truncated ||= got.truncated;
    }
    historyWindow.loaded += n;
    historyWindow.loading = false;
    page.hooks.applied();
    render(`${text}: ${n} loaded${truncated ? `, stopped at ${MAX_LOAD}: narrow the range` : ""}`);
    return true;
  } catch (err) {
    historyWindow.loading = false;
    render(`history failed: ${err.message}`);
    return false;
  }
}

/** Widen the loaded history by one day before its start. */
export async function widen(days = 1) {
  if (!historyWindow.from) return;
  const to = historyWindow.from;
  const from = new Date(to.getTime() - days * DAY_MS);
  const window = { createdAfter: iso(new Date(from.getTime() - 1)), createdBefore: iso(to) };
  const ok = await load("an earlier day", `${label(from)} – ${label(to)}`, [
    ["orders", CONFIG.endpoints.orders, window],
    ["executions", CONFIG.endpoints.executions, window],
  ]);
  if (ok) {
    historyWindow.from = from;
    render();
  }
}

/** Orders matching `field=value` created in [from, to] (dates, UTC days, inclusive). */
export async function search({ from, to, field, value }) {
  const params = {};
  if (from) params.createdAfter = iso(new Date(new Date(`${from}T00:00:00Z`).getTime() - 1));
  if (to) params.createdBefore = iso(new Date(new Date(`${to}T00:00:00Z`).getTime() + DAY_MS));
  if (value) params[field] = value;
  if (!from && !value) {
    render("give a date range or a value to search");
    return;
  }
  await load("the search", `search ${value ? `${field}=${value}` : "by date"}`, [["orders", CONFIG.endpoints.orders, params]]);
}

export function buildHistoryBar() {
  const bar = document.createElement("div");
  bar.className = "toolbar history-bar";
  bar.id = "history-bar";
  bar.innerHTML = `
    <span id="history-window" class="muted"></span>
    <button id="history-widen" type="button" title="Load the orders and executions of the day before">Earlier day</button>
    <form id="history-search">
      <input id="history-from" type="date" aria-label="History from (UTC day)">
      <input id="history-to" type="date" aria-label="History to (UTC day)">
      <select id="history-field" aria-label="Search field">
        <option value="clOrdID">clOrdID</option><option value="symbol">symbol</option><option value="account">account</option>
      </select>
      <input id="history-text" type="search" placeholder="Search history…" autocomplete="off" aria-label="Search history">
      <button type="submit">Search history</button>
    </form>
    <span id="history-status" class="muted"></span>`;
  const workspace = $(".workspace");
  workspace.parentNode.insertBefore(bar, workspace);
  $("#history-widen").addEventListener("click", () => widen(1));
  $("#history-search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    search({
      from: $("#history-from").value,
      to: $("#history-to").value,
      field: $("#history-field").value,
      value: $("#history-text").value.trim(),
    });
  });
  render();
}
