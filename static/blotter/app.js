// The blotter page: views over the live store, saved layouts, detail panel, desk actions.
// Modules: page.js (shared state), grid.js, tree.js, saved-views.js, detail.js, actions.js;
// live.js (feed and store), views.js (columns), dialog.js and forms.js (the desk's forms).
import { csrfToken, dialogOpen, toast } from "/static/blotter/dialog.js";
import { Feed, KINDS, loadAll, readSnapshot } from "/static/blotter/live.js";
import { buildHistoryBar, historyCount, historyWindow, setHistoryFrom, syncHistory } from "/static/blotter/history.js";
import { VIEWS } from "/static/blotter/views.js";
import { BENCH, CONFIG, LEGACY, NOGRID, $, grids, page, store } from "/static/blotter/page.js";
import { indexChild } from "/static/blotter/tree.js";
import { current, loadSavedViews, persist, renderSavedList, viewStates, savedIds } from "/static/blotter/saved-views.js";
import { applyChanges, applyQuick, createGrid, rebuildGrid, rowsFor } from "/static/blotter/grid.js";
import { refreshDetail, select } from "/static/blotter/detail.js";
import { initControls, loadControls, onEvent as onControlEvent } from "/static/blotter/controls.js";
import { initPreview } from "/static/blotter/preview.js";
import { initRisk, loadRisk, risk } from "/static/blotter/risk.js";
import {
  inView, loadActions, renderActionButtons, runAction, scopeOf, selectedDoc, updateActionButtons,
} from "/static/blotter/actions.js";

const FLUSH_MS = 60; // coalescing window: one grid transaction per window

// --- coalesced flush ------------------------------------------------------------------------
let flushTimer = null;
const flushLog = []; // bench: [wallclock ms, [[id, version], ...]]
function scheduleFlush() {
  if (!flushTimer) flushTimer = setTimeout(flush, FLUSH_MS);
}
const flushTimes = []; // bench: ms spent in each flush
async function flush() {
  flushTimer = null;
  if (!page.snapshotDone) return;
  const began = performance.now();
  const changes = store.takeChanges();
  for (const [id, old] of changes.orders) if (!old) indexChild(store.docs.orders.get(id));
  updateBadges(changes);
  if (page.active && grids[page.active]) {
    try {
      await applyChanges(page.active, changes);
    } catch (err) {
      console.warn("grid update failed, reloading the view", err);
      await grids[page.active].table.replaceData(rowsFor(page.active, grids[page.active].tree));
    }
  }
  if (BENCH) {
    flushTimes.push(performance.now() - began);
    const ids = [];
    for (const [id] of changes.orders) ids.push([id, store.docs.orders.get(id).version]);
    requestAnimationFrame(() => flushLog.push([performance.timeOrigin + performance.now(), ids]));
    if (flushLog.length > 100000) flushLog.splice(0, 50000);
  }
  if (page.selection && changes[page.selection.kind] && changes[page.selection.kind].has(page.selection.id)) refreshDetail();
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
  const history = historyCount(page.active);
  if (history !== null) {
    $("#row-count").textContent = history;
    return;
  }
  const grid = grids[page.active];
  if (!grid) return;
  const shown = grid.table.getDataCount("active");
  const total = grid.table.getDataCount();
  $("#row-count").textContent = shown === total ? `${total} ${total === 1 ? "row" : "rows"}` : `${shown} of ${total} rows`;
}
function showView(name) {
  page.active = name;
  for (const tab of document.querySelectorAll("#tabs button")) tab.setAttribute("aria-selected", String(tab.dataset.view === name));
  for (const g of Object.values(grids)) g.el.hidden = true;
  $("#tree-toggle").hidden = !VIEWS[name].tree;
  $("#tree").checked = current(name).tree !== false;
  $("#quick").value = current(name).quick || "";
  renderSavedList();
  renderActionButtons();
  if (!page.snapshotDone || NOGRID) return;
  const grid = grids[name];
  if (grid) {
    grid.el.hidden = false;
    grid.table.replaceData(rowsFor(name, grid.tree)).then(updateCount); // catch up with what changed while hidden
    grid.table.redraw();
  } else {
    createGrid(name);
  }
  syncHistory(name); // the History mode shows the server-side grid instead (history.js)
  updateCount();
  history.replaceState(null, "", `#${name}`);
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
    page.selection = null;
    $("#detail").hidden = true;
    $("#help").hidden = true;
  } else if (/^[1-9]$/.test(ev.key)) {
    const name = availableViews()[Number(ev.key) - 1];
    if (name) showView(name);
  } else if (CONFIG.canAct) {
    const key = ev.key.toLowerCase();
    const scope = page.selection ? scopeOf(page.selection.kind) : null;
    const candidates = page.actions.filter((a) => a.key === key);
    const action = candidates.find((a) => a.scope === scope) || candidates.find((a) => a.scope === "none" && inView(a, page.active));
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
      current(page.active).quick = ev.target.value;
      applyQuick(page.active);
      persist(page.active);
    }, 120);
  });
  $("#tree").addEventListener("change", (ev) => {
    current(page.active).tree = ev.target.checked;
    persist(page.active);
    rebuildGrid(page.active);
  });
  $("#csv").addEventListener("click", () => {
    const grid = grids[page.active];
    if (grid) grid.table.download("csv", `${page.active}-${new Date().toISOString().slice(0, 19).replace(/:/g, "")}.csv`);
  });
  $("#columns").addEventListener("click", () => {
    const pop = $("#columns-menu");
    if (!pop.hidden) {
      pop.hidden = true;
      return;
    }
    pop.innerHTML = "";
    for (const col of grids[page.active].table.getColumns()) {
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
    viewStates[page.active][""] = structuredClone(viewStates[page.active][name]);
    persist(page.active);
    rebuildGrid(page.active);
    $("#saved-views").value = name;
    $("#view-delete").disabled = false;
  });
  $("#view-save").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = $("#view-name");
    const name = input.value.trim();
    if (!name) return;
    const state = structuredClone(current(page.active));
    const saved = await persist(page.active, name, state, true);
    if (saved) {
      viewStates[page.active][name] = state;
      input.value = "";
      renderSavedList();
      $("#saved-views").value = name;
      $("#view-delete").disabled = false;
      toast(`View "${name}" saved`, "success");
    }
  });
  $("#view-delete").addEventListener("click", async () => {
    const name = $("#saved-views").value;
    const id = savedIds[`${page.active}\u0000${name}`];
    if (!name || !id) return;
    const response = await fetch(`${CONFIG.endpoints.savedViews}/${id}`, {
      method: "DELETE",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
    });
    if (response.ok || response.status === 404) {
      delete viewStates[page.active][name];
      delete savedIds[`${page.active}\u0000${name}`];
      renderSavedList();
      toast(`View "${name}" deleted`);
    }
  });
  $("#detail-close").addEventListener("click", () => {
    page.selection = null;
    $("#detail").hidden = true;
    updateActionButtons();
  });
}

// --- connection indicator -----------------------------------------------------------------------
function onStatus(state, text) {
  if (state === "live" && !timings.live) timings.live = performance.now();
  const el = $("#conn");
  el.dataset.state = state;
  el.textContent = { live: "● live", loading: "● loading", resyncing: "● resyncing", stale: "● stale", connecting: "● connecting", reconnecting: "● reconnecting", refused: "● refused" }[state] || state;
  el.title = text || state;
}

const timings = {}; // performance.now() of the load's steps (bench/blotter_snapshot.py reads them)
let layoutsLoaded = Promise.resolve(); // main(): the saved views and the actions

// --- snapshot -----------------------------------------------------------------------------------
// The working set at one seq, streamed (live.js readSnapshot); `?legacy=1` (bench baseline) loads
// every document of every kind through the paged query API instead, as the page did before.
async function loadSnapshot() {
  let seq = null;
  let controls = null; // the controls' and the risk view's reads (see startControls)
  const startControls = () => {
    if (!controls) controls = Promise.all([loadControls(), loadRisk()]); // risk.js: the same rule
  };
  if (LEGACY) {
    const kinds = [["orders", CONFIG.endpoints.orders], ["executions", CONFIG.endpoints.executions],
      ["quoteRequests", CONFIG.endpoints.quoteRequests], ["quotes", CONFIG.endpoints.quotes]];
    await Promise.all(
      kinds.filter(([, url]) => url).map(async ([kind, url]) => {
        const docs = await loadAll(url, 1000, (n, total) => onStatus("loading", `loading ${kind}: ${n} of ${total}`));
        for (const doc of docs) store.put(kind, doc);
      })
    );
  } else {
    let n = 0;
    timings.snapshotStart = performance.now();
    // the first load takes the download home.html started before the modules loaded
    const prefetched = window.__snapshotResponse || null;
    window.__snapshotResponse = null;
    const snap = await readSnapshot(CONFIG.endpoints.snapshot, prefetched, (kind, docs) => {
      if (!store.docs[kind]) return; // a kind this page does not show
      for (const doc of docs) store.put(kind, doc);
      n += docs.length;
      onStatus("loading", `loading: ${n} documents`);
    }, () => {
      // the header line: the snapshot's seq is committed (the server sends the body once built),
      // so the controls' reads are at least as new from here on: they run while the body
      // downloads and the grid is built, not after them
      timings.snapshotHeader = performance.now();
      startControls();
    });
    seq = snap.seq;
    timings.snapshotRead = performance.now();
    setHistoryFrom(snap.historyFrom);
  }
  // after the snapshot's seq is known (see controls.js), never after the grid: the requests run
  // while the grid is built
  startControls();
  await layoutsLoaded;
  const changes = store.takeChanges();
  for (const [id, old] of changes.orders) if (!old) indexChild(store.docs.orders.get(id));
  const first = !page.snapshotDone;
  page.snapshotDone = true;
  updateBadges();
  if (first) showView(page.active);
  else refreshGrids();
  timings.gridShown = performance.now();
  await controls;
  return seq;
}

/** Rebuild every grid from the store (after a snapshot reload or a history load). */
function refreshGrids() {
  for (const [name, grid] of Object.entries(grids)) grid.table.replaceData(rowsFor(name, grid.tree)).then(updateCount);
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
  buildHistoryBar();
  const wanted = location.hash.slice(1);
  page.active = availableViews().includes(wanted) ? wanted : "orders";
  store.onOther = onControlEvent;
  if (CONFIG.canAct) initPreview();
  initControls({ canAct: CONFIG.canAct });
  initRisk({ canAct: CONFIG.canAct });
  // the websocket's hello and the snapshot do not wait for the saved layouts and the actions;
  // the grid does (loadSnapshot awaits `layoutsLoaded`)
  layoutsLoaded = Promise.all([loadSavedViews(), loadActions()]);
  feed.start();
  await layoutsLoaded;
  if (!page.snapshotDone) showView(page.active);
}

page.hooks = { select, updateCount, showView, refreshGrids, applied: scheduleFlush };
window.__blotter = { store, feed, grids, risk, history: historyWindow, timings, flushLog, flushTimes, showView, get active() { return page.active; }, get selection() { return page.selection; } };
main();
