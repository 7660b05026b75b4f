// The blotter page's shared state: the live store, the grids, what is shown and selected.
// Modules read and write it here (page.active, page.selection...) instead of passing it around.
import { Store } from "/static/blotter/live.js";

export const CONFIG = JSON.parse(document.getElementById("blotter-config").textContent);
export const $ = (sel, root = document) => root.querySelector(sel);
const PARAMS = new URLSearchParams(location.search);
export const BENCH = PARAMS.has("bench"); // bench/blotter.py: log when each change reached the grid
export const NOGRID = PARAMS.has("nogrid"); // bench floor: feed and store only, no grid
export const LEGACY = PARAMS.has("legacy"); // bench baseline: every document, paged, as before the snapshot

export const store = new Store();
export const grids = {}; // view -> {table, tree, ready: Promise}
export const page = {
  active: null, // the view shown
  selection: null, // {kind, id}
  actions: [], // the desk's actions (forms.js), for a user who may act
  snapshotDone: false,
  // set by app.js: what a grid calls back into
  hooks: { select: () => {}, updateCount: () => {}, showView: () => {}, refreshGrids: () => {}, applied: () => {} },
};
