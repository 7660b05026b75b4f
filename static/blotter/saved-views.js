// Saved views: each view's current layout (sort, filters, columns, quick filter, tree) and the
// named layouts the user saved, persisted through the saved-views API.
import { CONFIG, $, page } from "/static/blotter/page.js";
import { toast, csrfToken } from "/static/blotter/dialog.js";

export const viewStates = {}; // view -> {"": state, name: state, ...} (saved views, name "" = current)
export const savedIds = {}; // `${view}\u0000${name}` -> id

export const STATE_OF_TYPE = { sort: "sorters", headerFilter: "filters", columns: "columns" };
export function current(name) {
  if (!viewStates[name]) viewStates[name] = {};
  if (!viewStates[name][""]) viewStates[name][""] = {};
  return viewStates[name][""];
}
const saveTimers = {};
export function persist(name, viewName = "", state = current(name), now = false) {
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
export async function loadSavedViews() {
  const response = await fetch(CONFIG.endpoints.savedViews, { credentials: "same-origin" });
  if (!response.ok) return;
  for (const v of (await response.json()).results) {
    if (!viewStates[v.view]) viewStates[v.view] = {};
    viewStates[v.view][v.name] = v.state;
    savedIds[`${v.view}\u0000${v.name}`] = v.id;
  }
}
export function renderSavedList() {
  const select = $("#saved-views");
  const names = Object.keys(viewStates[page.active] || {}).filter((n) => n !== "").sort();
  select.innerHTML = "";
  select.append(new Option("Saved views…", ""));
  for (const n of names) select.append(new Option(n, n));
  $("#view-delete").disabled = true;
}

