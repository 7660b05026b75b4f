// The controls bar and the refusals panel (docs/architecture.md "The desk's controls bar").
//
// Shows what the desk must see before it trades: the active SAFE scopes (GET /api/queries/controls
// ?active=true), the venues' mode/armed/feed (GET /api/queries/venues) and the latest refusals
// (GET /api/queries/refusals). Loaded once over REST, then kept live from the page's own feed:
// live.js hands every control-events / venue-events event to `onEvent` (event.state is the
// document's full new state; a document is replaced only by a newer version). The kill switch
// (CancelAllCommand) and "Engage SAFE mode" (EngageSafeModeCommand) post to /api/commands/controls
// after a confirmation dialog; the server decides (desk or superuser) and answers 4xx otherwise.
import { csrfToken, toast } from "/static/blotter/dialog.js";

const API = "/api";
const SCOPES = ["global", "venue", "account", "symbol"];
const MAX_REFUSALS = 50;
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
};
const time = (iso) => (iso ? new Date(iso).toISOString().slice(11, 19) : "");

const state = {
  controls: new Map(), // controlId -> doc (SafeMode only)
  venues: new Map(), // venue -> doc
  refusals: new Map(), // refusalId -> {doc, actor, command}
  canAct: false,
};

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function newer(map, id, doc) {
  const old = map.get(id);
  const oldDoc = old && (old.doc || old);
  return !oldDoc || Number(oldDoc.version) < Number(doc.version);
}

function putControl(doc) {
  if (doc.kind !== "SafeMode" || !newer(state.controls, doc.controlId, doc)) return false;
  state.controls.set(doc.controlId, doc);
  return true;
}
function putVenue(doc) {
  if (!newer(state.venues, doc.venue, doc)) return false;
  state.venues.set(doc.venue, doc);
  return true;
}
function putRefusal(doc, extra = {}) {
  const old = state.refusals.get(doc.refusalId);
  if (old && !extra.actor) return false;
  state.refusals.set(doc.refusalId, { doc, actor: extra.actor ?? old?.actor, command: extra.command ?? old?.command });
  return true;
}

/** Called by live.js for every event of a topic the grids do not show. */
export function onEvent(event) {
  const doc = event.state;
  if (!doc) return;
  if (event.topic === "control-events") {
    if (doc.refusalId) {
      if (putRefusal(doc, { actor: event.actor, command: event.command })) renderRefusals();
    } else if (doc.controlId && putControl(doc)) renderSafe();
  } else if (event.topic === "venue-events" && doc.venue && putVenue(doc)) {
    renderVenues();
  }
}

// --- rendering ---------------------------------------------------------------------------------
function renderSafe() {
  const box = document.getElementById("safe-scopes");
  if (!box) return;
  const active = [...state.controls.values()].filter((c) => c.active).sort((a, b) => String(a.engagedAt).localeCompare(String(b.engagedAt)));
  box.replaceChildren();
  document.body.dataset.safe = active.length ? "on" : "off";
  if (!active.length) {
    box.append(el("span", { class: "muted" }, "no SAFE mode"));
    return;
  }
  for (const c of active) {
    box.append(
      el(
        "span",
        { class: "chip safe", "data-control-id": c.controlId, "data-scope": `${c.scope}:${c.key}`, title: `${c.controlId} (${c.source})` },
        el("b", {}, `SAFE ${c.scope}:${c.key}`),
        ` ${c.reason || ""} · ${c.engagedBy || "?"} · since ${time(c.engagedAt)}`
      )
    );
  }
}

function renderVenues() {
  const box = document.getElementById("venue-health");
  if (!box) return;
  box.replaceChildren();
  for (const v of [...state.venues.values()].sort((a, b) => a.venue.localeCompare(b.venue))) {
    const health = (v.feed || "").toLowerCase();
    box.append(
      el(
        "span",
        { class: `chip venue feed-${health}`, "data-venue": v.venue, "data-feed": v.feed || "", title: `${v.adapter || ""} last message ${v.lastMessageAt || "never"}` },
        el("b", {}, v.venue),
        ` ${v.mode}${v.mode === "Live" ? (v.armed ? " armed" : " disarmed") : ""} · ${v.feed || "?"}`
      )
    );
  }
}

function numbers(details) {
  const keys = ["limit", "value", "referencePx", "bound"];
  return keys.filter((k) => details && details[k] !== undefined && details[k] !== null).map((k) => `${k} ${details[k]}`).join(" · ");
}

function renderRefusals() {
  const body = document.querySelector("#refusals tbody");
  if (!body) return;
  const rows = [...state.refusals.values()].sort((a, b) => String(b.doc.createdAt).localeCompare(String(a.doc.createdAt))).slice(0, MAX_REFUSALS);
  body.replaceChildren(
    ...rows.map(({ doc, actor, command }) => {
      const qty = (command && command.orderQty) ?? doc.details?.orderQty ?? "";
      return el(
        "tr",
        { "data-refusal-id": doc.refusalId, "data-rule": doc.rule },
        el("td", {}, time(doc.createdAt)),
        el("td", { class: "rule" }, doc.rule),
        el("td", { class: "numbers" }, numbers(doc.details)),
        el("td", {}, [doc.account, doc.symbol, doc.side, qty].filter((x) => x !== null && x !== undefined && x !== "").join(" ")),
        el("td", {}, actor || ""),
        el("td", { class: "muted" }, doc.message)
      );
    })
  );
  const count = document.getElementById("refusals-count");
  if (count) count.textContent = state.refusals.size ? String(state.refusals.size) : "";
}

// --- commands ------------------------------------------------------------------------------------
async function postCommand(body, key) {
  const response = await fetch(`${API}/commands/controls`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken(), "Idempotency-Key": key },
    body: JSON.stringify(body),
  });
  let json = {};
  try {
    json = await response.json();
  } catch {
    /* an empty or HTML answer: the status says enough */
  }
  return { ok: response.ok, status: response.status, json };
}

function errorOf(json, status) {
  const e = json.error || json;
  const fields = e.fields ? Object.entries(e.fields).map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`).join("; ") : "";
  return `${e.code || status}: ${e.message || ""}${fields ? ` (${fields})` : ""}`;
}

/** The confirmation dialog shared by the kill switch and "Engage SAFE mode". */
function controlDialog({ id, title, commandType, confirmLabel, danger, done }) {
  const scope = el("select", { name: "scope" }, ...SCOPES.map((s) => el("option", { value: s }, s)));
  const key = el("input", { name: "key", placeholder: "venue, account or symbol", autocomplete: "off" });
  const reason = el("input", { name: "reason", placeholder: "reason", autocomplete: "off", maxLength: 200 });
  const error = el("p", { class: "error", role: "alert" });
  const confirm = el("button", { type: "submit", value: "confirm", class: danger ? "danger" : "" }, confirmLabel);
  const dismiss = el("button", { type: "button", value: "dismiss" }, "Dismiss");
  const keyRow = el("label", {}, "Key ", key);
  const form = el(
    "form",
    { method: "dialog" },
    el("label", {}, "Scope ", scope),
    keyRow,
    el("label", {}, "Reason ", reason),
    error,
    el("div", { class: "buttons" }, dismiss, confirm)
  );
  const dialog = el("dialog", { id, class: "control-dialog" }, el("h3", {}, title), form);
  document.body.append(dialog);
  let idempotencyKey = null;
  const syncKey = () => {
    keyRow.hidden = scope.value === "global";
  };
  scope.addEventListener("change", syncKey);
  dismiss.addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    confirm.disabled = true;
    const body = { commandType, scope: scope.value, reason: reason.value.trim() || null };
    if (scope.value !== "global") body.key = key.value.trim() || null;
    const answer = await postCommand(body, idempotencyKey);
    confirm.disabled = false;
    if (!answer.ok) {
      error.textContent = errorOf(answer.json, answer.status);
      return;
    }
    dialog.close();
    toast(done(answer.json), "success");
  });
  return () => {
    idempotencyKey = crypto.randomUUID(); // one per confirmation: a double click sends it once
    scope.value = "global";
    key.value = "";
    reason.value = "";
    error.textContent = "";
    syncKey();
    dialog.showModal();
    reason.focus();
  };
}

function cancelAllMessage(json) {
  const r = json.cancelAll || json.result || json;
  const n = (r.canceled || []).length + (r.cancelRequested || []).length;
  return `Kill switch: ${n} order${n === 1 ? "" : "s"} canceled or cancel requested`;
}

// --- loading ------------------------------------------------------------------------------------
/**
 * The controls, venues and refusals as they are now. app.js calls it on every (re)load of the
 * page's snapshot, after the snapshot was read: what it reads is then at least as new as the
 * snapshot's seq, and the feed delivers every event after that seq (a document is replaced only
 * by a newer version, so the overlap is harmless and nothing committed in between is missed).
 */
export async function loadControls() {
  if (!document.getElementById("controls-bar")) return;
  const [controls, venues, refusals] = await Promise.all([
    getJSON(`${API}/queries/controls?active=true&kind=SafeMode&limit=200`).catch(() => null),
    getJSON(`${API}/queries/venues?limit=200`).catch(() => ({ results: [] })),
    getJSON(`${API}/queries/refusals?limit=${MAX_REFUSALS}`).catch(() => ({ results: [] })),
  ]);
  if (controls) {
    // the feed is paused while the snapshot loads: this list is the whole truth (a control
    // released while the page was away is not in it)
    state.controls.clear();
    controls.results.forEach(putControl);
  }
  venues.results.forEach(putVenue);
  refusals.results.forEach((doc) => putRefusal(doc));
  renderSafe();
  renderVenues();
  renderRefusals();
  // who refused and the quantity: the refusal's own event carries the actor and the command
  // (not awaited: the grid does not wait for these details)
  Promise.all(
    refusals.results.slice(0, 20).map(async (doc) => {
      const events = await getJSON(`${API}/queries/refusals/${encodeURIComponent(doc.refusalId)}/events`).catch(() => null);
      const first = events && (events.results || events)[0];
      if (first) putRefusal(state.refusals.get(doc.refusalId)?.doc || doc, { actor: first.actor, command: first.command });
    })
  ).then(renderRefusals);
}

/** Build the bar, its dialogs (desk only) and the refusals toggle; loadControls() fills them. */
export function initControls({ canAct }) {
  state.canAct = canAct;
  const bar = document.getElementById("controls-bar");
  if (!bar) return;
  bar.append(
    el("span", { class: "label" }, "Controls"),
    el("span", { id: "safe-scopes" }),
    el("span", { id: "venue-health" }),
    el("span", { class: "spacer" })
  );
  if (canAct) {
    const openSafe = controlDialog({
      id: "safe-dialog",
      title: "Engage SAFE mode",
      commandType: "EngageSafeModeCommand",
      confirmLabel: "Engage SAFE mode",
      danger: false,
      done: () => "SAFE mode engaged",
    });
    const openKill = controlDialog({
      id: "kill-dialog",
      title: "Kill switch: cancel every working order in scope",
      commandType: "CancelAllCommand",
      confirmLabel: "Cancel all",
      danger: true,
      done: cancelAllMessage,
    });
    bar.append(
      el("button", { type: "button", id: "engage-safe", onclick: openSafe }, "Engage SAFE mode"),
      el("button", { type: "button", id: "kill-switch", class: "danger", onclick: openKill }, "Kill switch")
    );
  }
  const toggle = document.getElementById("refusals-toggle");
  if (toggle) toggle.addEventListener("click", () => (document.getElementById("refusals").hidden = !document.getElementById("refusals").hidden));
}
