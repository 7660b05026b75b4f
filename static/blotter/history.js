// History on demand, filtered on the server. The snapshot holds the desk's working set (working
// trees, today's orders and executions, held executions, open RFQs and quotes), kept live in the
// store and filtered in the browser. Older orders and executions are never copied into the page:
// the History mode shows them in a grid of its own whose header filters, quick filter and sort
// are query parameters of the query API (docs/architecture.md, "History, filtered on the server").
//
// The bar says what is shown ("Working set" or "History since ..."), and offers:
//   * "History": the orders or executions view becomes a server-side grid over the history range
//     (from the window's start to now, or the search's dates);
//   * "Earlier day": widen the range by one trading day (the server answers the wider query);
//   * a search: a UTC date range and a part of clOrdID, symbol or account, run on the server.
// Rows arrive a page at a time (cursor paging, no count) as the desk scrolls: our own paging
// appends each page, where Tabulator's progressive mode re-sets every loaded row per page
// (docs/benchmarks.md). A history row the desk clicks joins the store (detail panel, actions,
// live updates); rows shown in the history grid are patched by the feed like any other.
import { TabulatorFull as Tabulator } from "/static/vendor/tabulator/js/tabulator_esm.min.mjs";
import { KINDS } from "/static/blotter/live.js";
import { VIEWS } from "/static/blotter/views.js";
import { contextMenu } from "/static/blotter/actions.js";
import { CONFIG, $, page, store, grids } from "/static/blotter/page.js";

const DAY_MS = 86400000;
export const PAGE = 200; // rows per request: ~4,400 px of rows, more than any screen

// header filter field -> the query parameter that runs it on the server; columns without one have
// no header filter in the history grid, columns without an ordering cannot be sorted there
const SERVER = {
  orders: {
    endpoint: "orders",
    filters: {
      clOrdID: "clOrdIDContains", symbol: "symbolContains", account: "accountContains", venue: "venueContains",
      kind: "kind", side: "side", status: "status", handling: "handling", orderId: "orderId",
      orderQty: "orderQty", cumQty: "cumQty", leavesQty: "leavesQty", avgPx: "avgPx", price: "price",
    },
    orderings: ["createdAt", "updatedAt", "symbol", "status", "side", "kind", "handling", "orderQty", "cumQty",
      "leavesQty", "price", "avgPx", "clOrdID", "account", "venue", "orderId"],
    nullable: ["price", "venue"], // no keyset cursor on a column that may be null: offset pages
  },
  executions: {
    endpoint: "executions",
    filters: { execID: "execIDContains", status: "status", venue: "venueContains", lastQty: "lastQty", lastPx: "lastPx", orderId: "orderId" },
    orderings: ["createdAt", "updatedAt", "transactTime", "execID", "venue", "lastQty", "lastPx", "status", "executionId"],
    nullable: [],
  },
};
const HISTORY_VIEWS = ["orders", "executions"];
const SEARCH_PARAM = { clOrdID: "clOrdIDContains", symbol: "symbolContains", account: "accountContains" };

export const historyWindow = {
  from: null, // Date: the history range starts here (the working set's day, widened a day at a time)
  to: null, // Date or null (now)
  on: false, // the History mode: the orders and executions views show the server-side grid
  search: null, // {field, value}: the search form's filter, on every history request
  loading: false,
  requests: 0, // history requests sent (tests, bench)
};
const shown = { name: null, table: null, el: null, next: null, rows: 0, done: Promise.resolve() };
window.__blotterHistory = shown; // the history grid shown (tests, bench)

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
  const w = historyWindow;
  const range = w.from ? `${label(w.from)}${w.to ? ` – ${label(w.to)}` : ""}` : "";
  el.textContent = w.on
    ? `History since ${range} · filters and sort run on the server`
    : w.from
      ? `Working set (live) · history since ${label(w.from)} on demand`
      : "Working set";
  el.dataset.from = w.from ? iso(w.from) : "";
  el.dataset.mode = w.on ? "history" : "working";
  if (status !== null) $("#history-status").textContent = status;
  $("#history-widen").disabled = !w.from;
  $("#history-mode").setAttribute("aria-pressed", String(w.on));
  $("#history-mode").textContent = w.on ? "Working set" : "History";
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

/** The first page's URL of the history query for the grid's filters and sort (Tabulator's params). */
export function historyQuery(kind, { filter = [], sort = [] } = {}, quick = "") {
  const server = SERVER[kind];
  const query = new URLSearchParams({ limit: String(PAGE), count: "false" });
  const w = historyWindow;
  // createdAfter is exclusive: a millisecond before the range's start
  if (w.from) query.set("createdAfter", iso(new Date(w.from.getTime() - 1)));
  if (w.to) query.set("createdBefore", iso(w.to));
  if (quick) query.set("q", quick);
  if (w.search && kind === "orders") query.set(SEARCH_PARAM[w.search.field], w.search.value);
  for (const f of filter) {
    const param = server.filters[f.field];
    if (param && f.value !== "" && f.value !== null && f.value !== undefined) query.set(param, String(f.value).trim());
  }
  const order = sort.filter((s) => server.orderings.includes(s.field));
  if (order.length) query.set("ordering", order.map((s) => `${s.dir === "desc" ? "-" : ""}${s.field}`).join(","));
  if (!order.some((s) => server.nullable.includes(s.field))) query.set("cursor", ""); // keyset pages
  return `${CONFIG.endpoints[server.endpoint]}?${query}`;
}

const local = (url) => {
  const u = new URL(url, location.href);
  return u.pathname + u.search;
};

async function fetchPage(url, def) {
  historyWindow.requests += 1;
  const body = await getJSON(url);
  shown.next = body.next ? local(body.next) : null;
  return body.results.map((doc) => def.row(store.docs[def.kind].get(doc[KINDS[def.kind].id]) || doc, store));
}

function count() {
  if (!shown.table) return;
  $("#row-count").textContent = `${shown.rows} history ${shown.rows === 1 ? "row" : "rows"}${shown.next ? ", more on scroll" : ""}`;
}

/** Append the next page (our own paging: Tabulator's addData appends, nothing is re-set). */
async function more() {
  if (!shown.table || !shown.next || historyWindow.loading) return;
  historyWindow.loading = true;
  const def = VIEWS[shown.name];
  const table = shown.table;
  try {
    const rows = await fetchPage(shown.next, def);
    if (table !== shown.table) return; // replaced meanwhile
    await table.addData(rows, false);
    shown.rows += rows.length;
    render("");
  } catch (err) {
    render(`history failed: ${err.message}`);
  } finally {
    historyWindow.loading = false;
    count();
  }
}

function columnsFor(name) {
  const server = SERVER[VIEWS[name].kind];
  return VIEWS[name].columns().map((col) => {
    const out = { ...col };
    if (!server.filters[col.field]) {
      out.headerFilter = false;
    } else if (col.headerFilterFunc) {
      delete out.headerFilterFunc; // the server runs it (a range, in the same syntax)
    }
    if (!server.orderings.includes(col.field)) out.headerSort = false;
    return out;
  });
}

function create(name) {
  const def = VIEWS[name];
  const el = document.createElement("div");
  el.className = "grid history-grid";
  el.dataset.view = name;
  el.dataset.history = "1";
  $("#grids").append(el);
  let ready;
  shown.done = new Promise((resolve) => (ready = resolve));
  const table = new Tabulator(el, {
    index: KINDS[def.kind].id,
    height: "100%",
    layout: "fitData",
    renderVertical: "virtual",
    rowHeight: 22,
    columns: columnsFor(name),
    initialSort: def.initialSort,
    selectableRows: 1,
    movableColumns: true,
    placeholder: "No history in this range",
    // Tabulator calls this for the first page whenever a header filter or the sort changes;
    // later pages are appended by more() as the desk scrolls
    filterMode: "remote",
    sortMode: "remote",
    headerFilterLiveFilterDelay: 400,
    ajaxURL: CONFIG.endpoints[SERVER[def.kind].endpoint],
    ajaxRequestFunc: async (url, config, params) => {
      historyWindow.loading = true;
      render("loading history…");
      try {
        const rows = await fetchPage(historyQuery(def.kind, params, quickOf(name)), def);
        shown.rows = rows.length;
        render("");
        return rows;
      } catch (err) {
        shown.next = null;
        shown.rows = 0;
        render(`history failed: ${err.message}`);
        return [];
      } finally {
        historyWindow.loading = false;
        setTimeout(count, 0);
        ready();
      }
    },
    rowContextMenu: contextMenu(def),
  });
  table.on("scrollVertical", (top) => {
    const holder = el.querySelector(".tabulator-tableholder");
    if (holder && holder.scrollHeight - top - holder.clientHeight < 600) more();
  });
  table.on("rowClick", (e, row) => {
    const data = row.getData();
    const doc = { ...data };
    if (def.kind === "executions") for (const k of ["clOrdID", "side", "symbol", "account"]) delete doc[k];
    store.put(def.kind, doc); // the detail panel and the actions read the store; the feed keeps it live
    page.hooks.applied();
    page.hooks.select(def.kind, data[KINDS[def.kind].id]);
  });
  Object.assign(shown, { name, table, el, next: null, rows: 0 });
}

function quickOf(name) {
  const input = $("#quick");
  return name === page.active && input ? input.value.trim() : "";
}

function destroy() {
  if (!shown.table) return;
  shown.table.destroy();
  shown.el.remove();
  Object.assign(shown, { name: null, table: null, el: null, next: null, rows: 0 });
}

/** Whether `name` shows the history grid now (grid.js, app.js). */
export const historyShown = (name) => historyWindow.on && HISTORY_VIEWS.includes(name) && shown.name === name;

/** Show the history grid or the working grid for the view shown (app.js showView calls it). */
export function syncHistory(name) {
  if (!historyWindow.on || !HISTORY_VIEWS.includes(name)) {
    const wasShown = shown.table !== null;
    destroy();
    if (grids[name]) {
      grids[name].el.hidden = false;
      // rows rendered while the grid was hidden have no height: lay them out again
      if (wasShown) grids[name].built.then(() => grids[name]?.table.redraw(true));
    }
    return;
  }
  if (grids[name]) grids[name].el.hidden = true;
  if (shown.name !== name) {
    destroy();
    create(name);
  } else {
    shown.el.hidden = false;
  }
  count();
}

/** Ask the server again (a wider range, a new search, the quick filter). */
export function reloadHistory() {
  if (!shown.table) return Promise.resolve();
  return shown.table.setData();
}

/** The row count of the history grid, for app.js updateCount (null when it is not shown). */
export function historyCount(name) {
  if (!historyShown(name)) return null;
  return `${shown.rows} history ${shown.rows === 1 ? "row" : "rows"}${shown.next ? ", more on scroll" : ""}`;
}

/** Live changes to rows the history grid shows (grid.js applyChanges). */
export function patchHistory(name, changes) {
  if (!historyShown(name)) return;
  const def = VIEWS[name];
  for (const [id] of changes[def.kind]) {
    const row = shown.table.getRow(id);
    if (row) row.update(def.row(store.docs[def.kind].get(id), store));
  }
}

export function setHistoryMode(on) {
  historyWindow.on = on;
  render("");
  page.hooks.showView(on && !HISTORY_VIEWS.includes(page.active) ? "orders" : page.active);
}

/** Widen the history range by one day before its start, and show it. */
export async function widen(days = 1) {
  if (!historyWindow.from) return;
  historyWindow.from = new Date(historyWindow.from.getTime() - days * DAY_MS);
  if (!historyWindow.on) setHistoryMode(true);
  else {
    render();
    await reloadHistory();
  }
}

/** Orders created in [from, to] (UTC days, inclusive) whose `field` contains `value`. */
export async function search({ from, to, field, value }) {
  if (!from && !value) {
    render("give a date range or a value to search");
    return;
  }
  if (from) historyWindow.from = new Date(`${from}T00:00:00Z`);
  historyWindow.to = to ? new Date(new Date(`${to}T00:00:00Z`).getTime() + DAY_MS) : null;
  historyWindow.search = value ? { field, value } : null;
  if (!historyWindow.on || page.active !== "orders") {
    historyWindow.on = true;
    page.hooks.showView("orders");
    render("");
  } else {
    render("");
    await reloadHistory();
  }
}

export function buildHistoryBar() {
  const bar = document.createElement("div");
  bar.className = "toolbar history-bar";
  bar.id = "history-bar";
  bar.innerHTML = `
    <span id="history-window" class="muted"></span>
    <button id="history-mode" type="button" aria-pressed="false" title="Orders and executions of the history range, filtered and sorted on the server">History</button>
    <button id="history-widen" type="button" title="Widen the history range by the day before">Earlier day</button>
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
  $("#history-mode").addEventListener("click", () => setHistoryMode(!historyWindow.on));
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
