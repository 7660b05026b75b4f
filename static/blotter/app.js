// The blotter page: views over the live store, saved layouts, detail panel, desk actions.
import { TabulatorFull as Tabulator } from "/static/vendor/tabulator/js/tabulator_esm.min.mjs";
import { openForm, toast, dialogOpen, csrfToken } from "/static/blotter/dialog.js";
import { Feed, KINDS, Store, loadAll } from "/static/blotter/live.js";
import { VIEWS, dateTimeFmt } from "/static/blotter/views.js";

const CONFIG = JSON.parse(document.getElementById("blotter-config").textContent);
const $ = (sel, root = document) => root.querySelector(sel);
const FLUSH_MS = 60; // coalescing window: one grid transaction per window
const PARAMS = new URLSearchParams(location.search);
const BENCH = PARAMS.has("bench"); // bench/blotter.py: log when each change reached the grid
const NOGRID = PARAMS.has("nogrid"); // bench floor: feed and store only, no grid

const store = new Store();
const grids = {}; // view -> {table, tree, ready: Promise}
const viewStates = {}; // view -> {"": state, name: state, ...} (saved views, name "" = current)
const savedIds = {}; // `${view}\u0000${name}` -> id
const expanded = new Set(); // order ids open in the tree
const childIndex = new Map(); // parentId -> Set(child orderId)
let active = null;
let selection = null; // {kind, id}
let actions = [];
let snapshotDone = false;

// --- the tree -----------------------------------------------------------------------------
function indexChild(doc) {
  if (!doc.parentId) return;
  let set = childIndex.get(doc.parentId);
  if (!set) childIndex.set(doc.parentId, (set = new Set()));
  set.add(doc.orderId);
}
function treeRow(id) {
  const doc = store.docs.orders.get(id);
  const row = { ...doc };
  const kids = childIndex.get(id);
  if (kids && kids.size) {
    row._children = [...kids]
      .map((k) => store.docs.orders.get(k))
      .filter(Boolean)
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1))
      .map((k) => treeRow(k.orderId));
  }
  return row;
}
const rootOf = (doc) => doc.rootId || doc.orderId;

function rowsFor(name, tree) {
  const def = VIEWS[name];
  const docs = [...store.docs[def.kind].values()];
  if (tree) return docs.filter((d) => !d.parentId).map((d) => treeRow(d.orderId));
  return docs.filter(def.include).map((d) => def.row(d, store));
}

// --- saved views ----------------------------------------------------------------------------
const STATE_OF_TYPE = { sort: "sorters", headerFilter: "filters", columns: "columns" };
function current(name) {
  if (!viewStates[name]) viewStates[name] = {};
  if (!viewStates[name][""]) viewStates[name][""] = {};
  return viewStates[name][""];
}
const saveTimers = {};
function persist(name, viewName = "", state = current(name), now = false) {
  const key = `${name}\u0000${viewName}`;
  clearTimeout(saveTimers[key]);
  const send = async () => {
    const response = await fetch(CONFIG.endpoints.savedViews, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ view: name, name: viewName, state }),
    });
    if (!response.ok) {
      toast(`Layout not saved (${response.status})`, "error");
      return null;
    }
    const saved = await response.json();
    savedIds[key] = saved.id;
    document.body.dataset.savedAt = String(Date.now()); // test hook: a save completed
    return saved;
  };
  if (now) return send();
  saveTimers[key] = setTimeout(send, 400);
  return null;
}
async function loadSavedViews() {
  const response = await fetch(CONFIG.endpoints.savedViews, { credentials: "same-origin" });
  if (!response.ok) return;
  for (const v of (await response.json()).results) {
    if (!viewStates[v.view]) viewStates[v.view] = {};
    viewStates[v.view][v.name] = v.state;
    savedIds[`${v.view}\u0000${v.name}`] = v.id;
  }
}
function renderSavedList() {
  const select = $("#saved-views");
  const names = Object.keys(viewStates[active] || {}).filter((n) => n !== "").sort();
  select.innerHTML = "";
  select.append(new Option("Saved views…", ""));
  for (const n of names) select.append(new Option(n, n));
  $("#view-delete").disabled = true;
}

// --- grids ----------------------------------------------------------------------------------
function quickFilter(data, params) {
  const q = params.q;
  for (const key in data) {
    const v = data[key];
    if (key !== "_children" && v !== null && typeof v !== "object" && String(v).toLowerCase().includes(q)) return true;
  }
  return false;
}
function applyQuick(name) {
  const grid = grids[name];
  if (!grid) return;
  const q = (current(name).quick || "").trim().toLowerCase();
  grid.table.clearFilter(false);
  if (q) grid.table.setFilter(quickFilter, { q });
}

function contextMenu(def) {
  const scope = scopeOf(def.kind);
  const items = actions.filter((a) => a.scope === scope);
  if (!CONFIG.canAct || !items.length) return undefined;
  return items.map((a) => ({
    label: a.label,
    disabled: (component) => !!(a.applies && !a.applies(docOfRow(def, component.getData()))),
    action: (e, component) => runAction(a, docOfRow(def, component.getData())),
  }));
}
function docOfRow(def, data) {
  return store.docs[def.kind].get(data[KINDS[def.kind].id]) || data;
}

function createGrid(name) {
  const def = VIEWS[name];
  const state = current(name);
  const tree = !!def.tree && state.tree !== false;
  const el = document.createElement("div");
  el.className = "grid";
  el.dataset.view = name;
  $("#grids").append(el);
  let ready;
  const built = new Promise((resolve) => (ready = resolve));
  const table = new Tabulator(el, {
    data: rowsFor(name, tree),
    index: KINDS[def.kind].id,
    height: "100%",
    layout: "fitData",
    renderVertical: "virtual",
    columns: def.columns(),
    initialSort: def.initialSort,
    selectableRows: 1,
    movableColumns: true,
    addRowPos: "top",
    placeholder: "No rows",
    dataTree: tree,
    dataTreeStartExpanded: (row) => expanded.has(row.getData().orderId),
    dataTreeChildIndent: 14,
    dataTreeElementColumn: "clOrdID",
    persistence: { sort: true, headerFilter: true, columns: ["width", "visible"] },
    persistenceID: name,
    persistenceReaderFunc: (id, type) => {
      const value = current(name)[STATE_OF_TYPE[type]];
      return value === undefined ? false : value;
    },
    persistenceWriterFunc: (id, type, data) => {
      if (!STATE_OF_TYPE[type]) return;
      current(name)[STATE_OF_TYPE[type]] = data;
      persist(name);
    },
    rowContextMenu: contextMenu(def),
  });
  const grid = { table, tree, built, el };
  grids[name] = grid;
  table.on("tableBuilt", () => {
    applyQuick(name);
    ready();
    updateCount();
  });
  table.on("dataFiltered", () => setTimeout(updateCount, 0));
  table.on("rowClick", (e, row) => select(def.kind, row.getData()[KINDS[def.kind].id]));
  table.on("dataTreeRowExpanded", (row) => expanded.add(row.getData().orderId));
  table.on("dataTreeRowCollapsed", (row) => expanded.delete(row.getData().orderId));
  return grid;
}

function rebuildGrid(name) {
  const grid = grids[name];
  if (grid) {
    grid.table.destroy();
    grid.el.remove();
    delete grids[name];
  }
  if (name === active) showView(name);
}

function flashCells(row, old, doc) {
  if (!row || !old || !(row._row.element && row._row.element.isConnected)) return;
  for (const cell of row.getCells()) {
    const field = cell.getField();
    if (!field || old[field] === doc[field]) continue;
    const el = cell.getElement();
    if (el.classList.contains("flash")) el.classList.replace("flash", "flash2");
    else {
      el.classList.remove("flash2");
      el.classList.add("flash");
    }
    clearTimeout(el._flashTimer);
    el._flashTimer = setTimeout(() => el.classList.remove("flash", "flash2"), 900);
  }
}
function findTreeRow(table, rootId, id) {
  const root = table.getRow(rootId);
  if (!root || rootId === id) return root;
  const walk = (row) => {
    for (const child of row.getTreeChildren()) {
      if (child.getData().orderId === id) return child;
      const hit = walk(child);
      if (hit) return hit;
    }
    return null;
  };
  return walk(root);
}

/**
 * Write changed fields into a grid row. Tabulator's own `row.update()` measures the row's
 * visibility (a forced layout per row) and redraws its cells: right for the few rows on screen,
 * ruinous for a thousand off-screen ones per flush. A row that is not in the DOM only gets its
 * data patched and is marked uninitialised, so Tabulator rebuilds its cells from the data when
 * it scrolls into view. (Tabulator 6.3 internals: `_row`, `initialized`, `deinitialize()`.)
 * Returns the row when it is on screen (worth flashing), else null.
 */
function patchRow(component, fields) {
  const row = component._row;
  if (row.initialized && row.element && row.element.isConnected) {
    component.update(fields);
    return component;
  }
  Object.assign(row.data, fields);
  if (row.initialized) row.deinitialize();
  return null;
}

/** A child order inside a root row: its row if the tree generated it, else its data object. */
function findChild(rootRow, id) {
  const config = rootRow._row.modules.dataTree;
  if (config && Array.isArray(config.children)) {
    const walk = (rows) => {
      for (const child of rows) {
        if (child.getData().orderId === id) return { row: child };
        const hit = walk(child.getTreeChildren());
        if (hit) return hit;
      }
      return null;
    };
    return walk(rootRow.getTreeChildren());
  }
  const walk = (items) => {
    for (const item of items || []) {
      if (item.orderId === id) return { data: item };
      const hit = walk(item._children);
      if (hit) return hit;
    }
    return null;
  };
  return walk(rootRow.getData()._children); // not generated yet: it will be built from this data
}

/** The fields of `doc` that differ from `old` (plus the row index), or null when none differ. */
function diff(old, doc, index) {
  const out = { [index]: doc[index] };
  let n = 0;
  for (const key in doc) {
    if (key !== index && old[key] !== doc[key] && !(typeof doc[key] === "object" && JSON.stringify(old[key]) === JSON.stringify(doc[key]))) {
      out[key] = doc[key];
      n += 1;
    }
  }
  return n ? out : null;
}

async function applyChanges(name, changes) {
  const grid = grids[name];
  if (!grid) return;
  await grid.built;
  const def = VIEWS[name];
  const kind = def.kind;
  const index = KINDS[kind].id;
  const changed = changes[kind];
  if (!changed.size) return;
  const table = grid.table;
  if (changed.size > 3000) {
    await table.replaceData(rowsFor(name, grid.tree));
    return;
  }
  const flashes = [];
  if (grid.tree) {
    // Only a new order changes a tree's shape: its root is rebuilt with `_children`. Any other
    // change updates just the changed fields of the row (a root, or a child row found in its
    // tree): an update carrying `_children` or the tree column re-lays the whole table out.
    const reshaped = new Set();
    for (const [id, old] of changed) if (!old) reshaped.add(rootOf(store.docs.orders.get(id)));
    if (reshaped.size) await table.updateOrAddData([...reshaped].map(treeRow));
    const byId = new Map();
    for (const r of table.getRows()) byId.set(r.getData().orderId, r);
    for (const [id, old] of changed) {
      const doc = store.docs.orders.get(id);
      const root = rootOf(doc);
      if (!old || reshaped.has(root)) continue;
      const fields = diff(old, doc, index);
      const rootRow = byId.get(root);
      if (!fields || !rootRow) continue;
      if (id === root) {
        const shown = patchRow(rootRow, fields);
        if (shown) flashes.push([shown, old, doc]);
      } else {
        const hit = findChild(rootRow, id);
        if (hit && hit.row) {
          const shown = patchRow(hit.row, fields);
          if (shown) flashes.push([shown, old, doc]);
        } else if (hit) {
          Object.assign(hit.data, fields);
        }
      }
    }
  } else {
    const joined = name === "executions" || name === "review";
    const adds = [];
    const updates = [];
    for (const [id, old] of changed) {
      const doc = store.docs[kind].get(id);
      const wasIn = !!old && def.include(old);
      if (def.include(doc)) {
        const row = def.row(doc, store);
        if (!wasIn) adds.push(row);
        else {
          const before = joined ? def.row(old, store) : old;
          const fields = diff(before, row, index);
          if (fields) updates.push([fields, before, row]);
        }
      } else if (wasIn && table.getRow(id)) {
        table.deleteRow(id);
      }
    }
    if (updates.length) {
      const byId = new Map();
      for (const r of table.getRows()) byId.set(r.getData()[index], r);
      for (const [fields, before, row] of updates) {
        const r = byId.get(fields[index]);
        if (!r) adds.push(row);
        else {
          const shown = patchRow(r, fields);
          if (shown) flashes.push([shown, before, row]);
        }
      }
    }
    if (adds.length) await table.updateOrAddData(adds);
  }
  for (const [row, old, doc] of flashes) flashCells(row, old, doc);
}

// --- coalesced flush ------------------------------------------------------------------------
let flushTimer = null;
const flushLog = []; // bench: [wallclock ms, [[id, version], ...]]
function scheduleFlush() {
  if (!flushTimer) flushTimer = setTimeout(flush, FLUSH_MS);
}
const flushTimes = []; // bench: ms spent in each flush
async function flush() {
  flushTimer = null;
  if (!snapshotDone) return;
  const began = performance.now();
  const changes = store.takeChanges();
  for (const [id, old] of changes.orders) if (!old) indexChild(store.docs.orders.get(id));
  updateBadges(changes);
  if (active && grids[active]) {
    try {
      await applyChanges(active, changes);
    } catch (err) {
      console.warn("grid update failed, reloading the view", err);
      await grids[active].table.replaceData(rowsFor(active, grids[active].tree));
    }
  }
  if (BENCH) {
    flushTimes.push(performance.now() - began);
    const ids = [];
    for (const [id] of changes.orders) ids.push([id, store.docs.orders.get(id).version]);
    requestAnimationFrame(() => flushLog.push([performance.timeOrigin + performance.now(), ids]));
    if (flushLog.length > 100000) flushLog.splice(0, 50000);
  }
  if (selection && changes[selection.kind] && changes[selection.kind].has(selection.id)) refreshDetail();
  updateCount();
  updateActionButtons();
  document.body.dataset.seq = String(feed.lastSeq ?? "");
}

// --- tabs, counts -----------------------------------------------------------------------------
function availableViews() {
  return Object.keys(VIEWS).filter((name) => !VIEWS[name].needs || CONFIG.endpoints[VIEWS[name].needs]);
}
const queued = { desk: new Set(), review: new Set() }; // ids in the desk and review queues
function updateBadges(changes = null) {
  for (const name of ["desk", "review"]) {
    const def = VIEWS[name];
    const ids = queued[name];
    const idField = KINDS[def.kind].id;
    const docs = changes ? [...changes[def.kind].keys()].map((id) => store.docs[def.kind].get(id)) : store.docs[def.kind].values();
    for (const d of docs) {
      if (def.include(d)) ids.add(d[idField]);
      else ids.delete(d[idField]);
    }
    const badge = $(`#tab-${name} .badge`);
    if (badge) badge.textContent = ids.size ? String(ids.size) : "";
  }
}
function updateCount() {
  const grid = grids[active];
  if (!grid) return;
  const shown = grid.table.getDataCount("active");
  const total = grid.table.getDataCount();
  $("#row-count").textContent = shown === total ? `${total} ${total === 1 ? "row" : "rows"}` : `${shown} of ${total} rows`;
}
function showView(name) {
  active = name;
  for (const tab of document.querySelectorAll("#tabs button")) tab.setAttribute("aria-selected", String(tab.dataset.view === name));
  for (const g of Object.values(grids)) g.el.hidden = true;
  $("#tree-toggle").hidden = !VIEWS[name].tree;
  $("#tree").checked = current(name).tree !== false;
  $("#quick").value = current(name).quick || "";
  renderSavedList();
  renderActionButtons();
  if (!snapshotDone || NOGRID) return;
  const grid = grids[name];
  if (grid) {
    grid.el.hidden = false;
    grid.table.replaceData(rowsFor(name, grid.tree)).then(updateCount); // catch up with what changed while hidden
    grid.table.redraw();
  } else {
    createGrid(name);
  }
  updateCount();
  history.replaceState(null, "", `#${name}`);
}

// --- detail panel -----------------------------------------------------------------------------
function select(kind, id) {
  selection = { kind, id };
  updateActionButtons();
  refreshDetail(true);
}
let detailTimer = null;
function refreshDetail(now = false) {
  clearTimeout(detailTimer);
  if (now) renderDetail();
  else detailTimer = setTimeout(renderDetail, 150);
}
// what a desk reads first, in this order; any other field after them, alphabetically
const DETAIL_ORDER = [
  "clOrdID", "origClOrdID", "execID", "quoteReqID", "quoteID", "status", "side", "symbol",
  "orderQty", "cumQty", "leavesQty", "avgPx", "lastQty", "lastPx", "price", "stopPx", "bidPx",
  "offerPx", "bidSize", "offerSize", "ordType", "timeInForce", "expireTime", "validUntilTime",
  "account", "venue", "handling", "routingReason", "reviewReasons", "kind", "placedQty",
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
  if (!selection) {
    panel.hidden = true;
    return;
  }
  const { kind, id } = selection;
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
  if (!selection || selection.id !== id) return;
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

// --- actions (F's forms) --------------------------------------------------------------------------
// the `scope` of forms.js ACTIONS that a selected row of each kind of document takes
const SCOPES = { orders: "order", executions: "execution", quoteRequests: "quoteRequest", quotes: "quote" };
function scopeOf(kind) {
  return SCOPES[kind] || null;
}
// scope-"none" actions may be limited to some views (New RFQ: the quote-requests view)
const inView = (action, view) => !action.views || action.views.includes(view);
function selectedDoc() {
  return selection ? store.docs[selection.kind].get(selection.id) : null;
}
function runAction(action, row) {
  if (!CONFIG.canAct) return;
  if (action.scope !== "none" && (!row || (action.applies && !action.applies(row)))) {
    toast(`${action.label}: not applicable to the selected row`, "error");
    return;
  }
  openForm(action.url(action.scope === "none" ? null : row), { title: action.title || action.label });
}
function renderActionButtons() {
  const bar = $("#actions");
  bar.innerHTML = "";
  if (!CONFIG.canAct || !active) return;
  const scope = scopeOf(VIEWS[active].kind);
  for (const action of actions.filter((a) => (a.scope === "none" && inView(a, active)) || a.scope === scope)) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.action = action.id;
    b.textContent = action.label;
    if (action.key) b.title = `shortcut: ${action.key.toUpperCase()}`;
    b.addEventListener("click", () => runAction(action, selectedDoc()));
    bar.append(b);
  }
  updateActionButtons();
}
function updateActionButtons() {
  const doc = selectedDoc();
  const scope = selection ? scopeOf(selection.kind) : null;
  for (const b of document.querySelectorAll("#actions button")) {
    const action = actions.find((a) => a.id === b.dataset.action);
    if (!action || action.scope === "none") continue;
    b.disabled = !doc || action.scope !== scope || !!(action.applies && !action.applies(doc));
  }
}
async function loadActions() {
  if (!CONFIG.canAct) return;
  try {
    const forms = await import("/static/blotter/forms.js");
    actions = forms.ACTIONS || [];
    if (forms.init) forms.init({ openForm, toast, getSelection: () => (selection ? { ...selection, row: selectedDoc() } : null) });
  } catch (err) {
    console.info("desk actions unavailable:", err.message);
  }
}

// --- keyboard -----------------------------------------------------------------------------------
document.addEventListener("keydown", (ev) => {
  if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey || dialogOpen()) return;
  const tag = ev.target.tagName;
  if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || ev.target.isContentEditable) {
    if (ev.key === "Escape" && ev.target.id === "quick") ev.target.blur();
    return;
  }
  if (ev.key === "/") {
    ev.preventDefault();
    $("#quick").focus();
  } else if (ev.key === "?") {
    $("#help").hidden = !$("#help").hidden;
  } else if (ev.key === "Escape") {
    selection = null;
    $("#detail").hidden = true;
    $("#help").hidden = true;
  } else if (/^[1-9]$/.test(ev.key)) {
    const name = availableViews()[Number(ev.key) - 1];
    if (name) showView(name);
  } else if (CONFIG.canAct) {
    const key = ev.key.toLowerCase();
    const scope = selection ? scopeOf(selection.kind) : null;
    const candidates = actions.filter((a) => a.key === key);
    const action = candidates.find((a) => a.scope === scope) || candidates.find((a) => a.scope === "none" && inView(a, active));
    if (action) {
      ev.preventDefault();
      runAction(action, selectedDoc());
    }
  }
});

// --- toolbar ------------------------------------------------------------------------------------
function buildToolbar() {
  const tabs = $("#tabs");
  availableViews().forEach((name, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.id = `tab-${name}`;
    b.dataset.view = name;
    b.setAttribute("role", "tab");
    b.title = `shortcut: ${i + 1}`;
    b.innerHTML = `<span></span> <span class="badge"></span>`;
    b.firstChild.textContent = VIEWS[name].title;
    b.addEventListener("click", () => showView(name));
    tabs.append(b);
  });
  for (const name of ["quote-requests", "quotes"]) {
    if (!availableViews().includes(name)) {
      const s = document.createElement("span");
      s.className = "tab-off";
      s.title = "the RFQ query endpoints are not deployed";
      s.textContent = VIEWS[name].title;
      tabs.append(s);
    }
  }
  let quickTimer = null;
  $("#quick").addEventListener("input", (ev) => {
    clearTimeout(quickTimer);
    quickTimer = setTimeout(() => {
      current(active).quick = ev.target.value;
      applyQuick(active);
      persist(active);
    }, 120);
  });
  $("#tree").addEventListener("change", (ev) => {
    current(active).tree = ev.target.checked;
    persist(active);
    rebuildGrid(active);
  });
  $("#csv").addEventListener("click", () => {
    const grid = grids[active];
    if (grid) grid.table.download("csv", `${active}-${new Date().toISOString().slice(0, 19).replace(/:/g, "")}.csv`);
  });
  $("#columns").addEventListener("click", () => {
    const pop = $("#columns-menu");
    if (!pop.hidden) {
      pop.hidden = true;
      return;
    }
    pop.innerHTML = "";
    for (const col of grids[active].table.getColumns()) {
      const def = col.getDefinition();
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = col.isVisible();
      box.addEventListener("change", () => (box.checked ? col.show() : col.hide()));
      label.append(box, " ", def.title || def.field);
      pop.append(label);
    }
    pop.hidden = false;
  });
  document.addEventListener("click", (ev) => {
    if (!ev.target.closest("#columns, #columns-menu")) $("#columns-menu").hidden = true;
  });
  $("#saved-views").addEventListener("change", (ev) => {
    const name = ev.target.value;
    $("#view-delete").disabled = !name;
    if (!name) return;
    viewStates[active][""] = structuredClone(viewStates[active][name]);
    persist(active);
    rebuildGrid(active);
    $("#saved-views").value = name;
    $("#view-delete").disabled = false;
  });
  $("#view-save").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = $("#view-name");
    const name = input.value.trim();
    if (!name) return;
    const state = structuredClone(current(active));
    const saved = await persist(active, name, state, true);
    if (saved) {
      viewStates[active][name] = state;
      input.value = "";
      renderSavedList();
      $("#saved-views").value = name;
      $("#view-delete").disabled = false;
      toast(`View "${name}" saved`, "success");
    }
  });
  $("#view-delete").addEventListener("click", async () => {
    const name = $("#saved-views").value;
    const id = savedIds[`${active}\u0000${name}`];
    if (!name || !id) return;
    const response = await fetch(`${CONFIG.endpoints.savedViews}/${id}`, {
      method: "DELETE",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
    });
    if (response.ok || response.status === 404) {
      delete viewStates[active][name];
      delete savedIds[`${active}\u0000${name}`];
      renderSavedList();
      toast(`View "${name}" deleted`);
    }
  });
  $("#detail-close").addEventListener("click", () => {
    selection = null;
    $("#detail").hidden = true;
    updateActionButtons();
  });
}

// --- connection indicator -----------------------------------------------------------------------
function onStatus(state, text) {
  const el = $("#conn");
  el.dataset.state = state;
  el.textContent = { live: "● live", loading: "● loading", resyncing: "● resyncing", stale: "● stale", connecting: "● connecting", reconnecting: "● reconnecting", refused: "● refused" }[state] || state;
  el.title = text || state;
}

// --- snapshot -----------------------------------------------------------------------------------
async function loadSnapshot() {
  const kinds = [["orders", CONFIG.endpoints.orders], ["executions", CONFIG.endpoints.executions],
    ["quoteRequests", CONFIG.endpoints.quoteRequests], ["quotes", CONFIG.endpoints.quotes]];
  await Promise.all(
    kinds.filter(([, url]) => url).map(async ([kind, url]) => {
      const docs = await loadAll(url, 1000, (n, total) => onStatus("loading", `loading ${kind}: ${n} of ${total}`));
      for (const doc of docs) store.put(kind, doc);
    })
  );
  const changes = store.takeChanges();
  for (const [id, old] of changes.orders) if (!old) indexChild(store.docs.orders.get(id));
  const first = !snapshotDone;
  snapshotDone = true;
  updateBadges();
  if (first) showView(active);
  else for (const [name, grid] of Object.entries(grids)) grid.table.replaceData(rowsFor(name, grid.tree));
}

const feed = new Feed({
  wsPath: CONFIG.wsPath,
  eventsUrl: CONFIG.endpoints.events,
  store,
  loadSnapshot,
  onStatus,
  onApplied: scheduleFlush,
});

async function main() {
  if (!CONFIG.canRead) {
    onStatus("refused", "your account has no blotter role (desk or viewer)");
    $("#grids").textContent = "Your account has no blotter role: ask an administrator for 'desk' or 'viewer'.";
    return;
  }
  buildToolbar();
  const wanted = location.hash.slice(1);
  active = availableViews().includes(wanted) ? wanted : "orders";
  await Promise.all([loadSavedViews(), loadActions()]);
  showView(active);
  feed.start();
}

window.__blotter = { store, feed, grids, flushLog, flushTimes, showView, get active() { return active; }, get selection() { return selection; } };
main();
