// The controls bar (docs/architecture.md "The desk's controls in the blotter").
//
// Shows what the desk must see before it trades: the active SAFE scopes (GET /api/queries/controls
// ?active=true), the venues' mode/armed/feed (GET /api/queries/venues) with the arming in progress
// (controls of kind Arming, Requested or Armed), and the refusals (refusals.js). Loaded once over
// REST, then kept live from the page's own feed: live.js hands every control-events /
// venue-events event to `onEvent` (event.state is the document's full new state; a document is
// replaced only by a newer version).
//
// Every action posts to /api/commands/controls after a confirmation dialog that shows the
// server's refusal and stays open: the kill switch (CancelAllCommand) and "Engage SAFE mode"
// (EngageSafeModeCommand) for the desk; "Release" on a SAFE chip (ReleaseSafeModeCommand, with a
// reason; 409 open_discrepancies while reconciliation has an open one) for superusers; on a Live
// venue "Arm" (RequestArmingCommand), "Confirm arming" (ConfirmArmingCommand: another user; 403
// second_user_required for the requester) and "Disarm" (DisarmCommand, also withdraws a request).
// The buttons show only for a user who may act; the server decides anyway.
import { csrfToken, toast } from "/static/blotter/dialog.js";
import { initRefusals, loadRefusals, putRefusal, renderRefusals } from "/static/blotter/refusals.js";
import { el, time } from "/static/blotter/dom.js";

const API = "/api";
const SCOPES = ["global", "venue", "account", "symbol"];
const CONFIG = JSON.parse(document.getElementById("blotter-config")?.textContent || "{}");

const state = {
  controls: new Map(), // controlId -> doc (SafeMode)
  armings: new Map(), // controlId -> doc (Arming)
  venues: new Map(), // venue -> doc
  canAct: false,
  canRelease: false, // superuser: releases SAFE mode
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
  const map = doc.kind === "SafeMode" ? state.controls : doc.kind === "Arming" ? state.armings : null;
  if (!map || !newer(map, doc.controlId, doc)) return false;
  map.set(doc.controlId, doc);
  return true;
}
/** The venue's arming in progress (Requested or Armed), the newest. */
function armingOf(venue) {
  let found = null;
  for (const c of state.armings.values()) {
    if (c.key === venue && (c.status === "Requested" || c.status === "Armed") && (!found || String(c.createdAt) > String(found.createdAt))) found = c;
  }
  return found;
}
function putVenue(doc) {
  if (!newer(state.venues, doc.venue, doc)) return false;
  state.venues.set(doc.venue, doc);
  return true;
}
/** Called by live.js for every event of a topic the grids do not show. */
export function onEvent(event) {
  const doc = event.state;
  if (!doc) return;
  if (event.topic === "control-events") {
    if (doc.refusalId) {
      if (putRefusal(doc, { actor: event.actor, command: event.command })) renderRefusals();
    } else if (doc.controlId && putControl(doc)) {
      if (doc.kind === "Arming") renderVenues();
      else renderSafe();
    }
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
    const release = state.canRelease
      ? el("button", { type: "button", class: "chip-action", "data-action": "release", onclick: () => openRelease(c) }, "Release")
      : null;
    box.append(
      el(
        "span",
        { class: "chip safe", "data-control-id": c.controlId, "data-scope": `${c.scope}:${c.key}`, title: `${c.controlId} (${c.source})` },
        el("b", {}, `SAFE ${c.scope}:${c.key}`),
        ` ${c.reason || ""} · ${c.engagedBy || "?"} · since ${time(c.engagedAt)}`,
        release
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
    const arming = v.mode === "Live" ? armingOf(v.venue) : null;
    const requested = !v.armed && arming && arming.status === "Requested" ? arming : null;
    const armed = v.mode === "Live" ? (v.armed ? " armed" : requested ? ` arming requested by ${requested.requestedBy}` : " disarmed") : "";
    box.append(
      el(
        "span",
        {
          class: `chip venue feed-${health}`,
          "data-venue": v.venue,
          "data-feed": v.feed || "",
          "data-armed": v.mode === "Live" ? (v.armed ? "armed" : requested ? "requested" : "disarmed") : "",
          title: `${v.adapter || ""} last message ${v.lastMessageAt || "never"}`,
        },
        el("b", {}, v.venue),
        ` ${v.mode}${armed} · ${v.feed || "?"}`,
        ...(state.canAct && v.mode === "Live" ? armingButtons(v, requested) : [])
      )
    );
  }
}

function armingButtons(v, requested) {
  const button = (action, label, open) => el("button", { type: "button", class: "chip-action", "data-action": action, onclick: open }, label);
  if (v.armed) return [button("disarm", "Disarm", () => openArming("disarm", v.venue))];
  if (requested) {
    return [
      button("confirm-arming", "Confirm arming", () => openArming("confirm", v.venue, requested)),
      button("disarm", "Withdraw", () => openArming("withdraw", v.venue, requested)),
    ];
  }
  return [button("request-arming", "Arm", () => openArming("request", v.venue))];
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
      idempotencyKey = crypto.randomUUID(); // refused, nothing appended: a retry is a new attempt
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

// --- SAFE release and arming: one confirmation dialog -------------------------------------------
let action = null; // {body, done} of the open confirmation
let actionKey = null; // its Idempotency-Key: one per confirmation (a double click sends once)

function actionDialog() {
  let dialog = document.getElementById("control-action-dialog");
  if (dialog) return dialog;
  const reason = el("input", { name: "reason", placeholder: "reason", autocomplete: "off", maxLength: 200 });
  const error = el("p", { class: "error", role: "alert" });
  const confirm = el("button", { type: "submit", value: "confirm" }, "Confirm");
  const dismiss = el("button", { type: "button", value: "dismiss" }, "Dismiss");
  const form = el(
    "form",
    { method: "dialog" },
    el("p", { class: "what" }),
    el("label", { class: "reason-row" }, "Reason ", reason),
    error,
    el("div", { class: "buttons" }, dismiss, confirm)
  );
  dialog = el("dialog", { id: "control-action-dialog", class: "control-dialog" }, el("h3", {}), form);
  document.body.append(dialog);
  dismiss.addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!action) return;
    const why = reason.value.trim();
    if (action.reasonRequired && !why) {
      error.textContent = "A reason is required.";
      return;
    }
    confirm.disabled = true;
    const answer = await postCommand(action.body(why || null), actionKey);
    confirm.disabled = false;
    if (!answer.ok) {
      error.textContent = errorOf(answer.json, answer.status);
      actionKey = crypto.randomUUID(); // refused, nothing appended: a retry (e.g. once the discrepancy is resolved) is a new attempt
      return;
    }
    // the answer is the new state: shown now, the feed confirms it (only a newer version replaces)
    if (answer.json.control) putControl(answer.json.control);
    if (answer.json.venue) putVenue(answer.json.venue);
    renderSafe();
    renderVenues();
    dialog.close();
    toast(action.done, "success");
  });
  return dialog;
}

function openAction({ title, what, confirmLabel, danger = false, reasonRequired = false, body, done, kind }) {
  const dialog = actionDialog();
  action = { body, done, reasonRequired };
  actionKey = crypto.randomUUID();
  dialog.dataset.action = kind;
  dialog.querySelector("h3").textContent = title;
  dialog.querySelector(".what").textContent = what;
  dialog.querySelector(".error").textContent = "";
  const reason = dialog.querySelector('input[name="reason"]');
  reason.value = "";
  reason.placeholder = reasonRequired ? "reason (required)" : "reason (optional)";
  const confirm = dialog.querySelector('button[value="confirm"]');
  confirm.textContent = confirmLabel;
  confirm.className = danger ? "danger" : "";
  dialog.showModal();
  reason.focus();
}

function openRelease(c) {
  openAction({
    kind: "release",
    title: `Release SAFE mode ${c.scope}:${c.key}`,
    what: `Engaged by ${c.engagedBy || "?"} since ${time(c.engagedAt)}: ${c.reason || ""}. Orders in this scope will be accepted again.`,
    confirmLabel: "Release SAFE mode",
    reasonRequired: true,
    body: (reason) => ({ commandType: "ReleaseSafeModeCommand", controlId: c.controlId, reason }),
    done: `SAFE mode ${c.scope}:${c.key} released`,
  });
}

function openArming(kind, venue, requested = null) {
  const spec = {
    request: {
      title: `Arm ${venue}`,
      what: `Ask to arm the Live venue ${venue}: orders are sent there only once a second user confirms.`,
      confirmLabel: "Request arming",
      commandType: "RequestArmingCommand",
      done: `arming of ${venue} requested: another user must confirm`,
    },
    confirm: {
      title: `Confirm arming of ${venue}`,
      what: `${requested?.requestedBy || "?"} asked to arm ${venue}${requested?.reason ? ` (${requested.reason})` : ""}. Once confirmed, orders are sent to this Live venue.`,
      confirmLabel: "Confirm arming",
      danger: true,
      commandType: "ConfirmArmingCommand",
      done: `${venue} armed`,
    },
    withdraw: {
      title: `Withdraw the arming request of ${venue}`,
      what: `${requested?.requestedBy || "?"} asked to arm ${venue}: the request is withdrawn.`,
      confirmLabel: "Withdraw",
      commandType: "DisarmCommand",
      done: `arming request of ${venue} withdrawn`,
    },
    disarm: {
      title: `Disarm ${venue}`,
      what: `No new order will be sent to the Live venue ${venue} until it is armed again (cancels still pass).`,
      confirmLabel: "Disarm",
      danger: true,
      commandType: "DisarmCommand",
      done: `${venue} disarmed`,
    },
  }[kind];
  openAction({
    kind,
    title: spec.title,
    what: spec.what,
    confirmLabel: spec.confirmLabel,
    danger: spec.danger,
    body: (reason) => ({ commandType: spec.commandType, venue, reason }),
    done: spec.done,
  });
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
  // the refusals are read beside the controls, not after them: one round trip less before the
  // feed goes live (the page's open waits for this function)
  const refused = loadRefusals();
  const [controls, armings, venues] = await Promise.all([
    getJSON(`${API}/queries/controls?active=true&kind=SafeMode&limit=200`).catch(() => null),
    getJSON(`${API}/queries/controls?kind=Arming&status=Requested,Armed&limit=200`).catch(() => null),
    getJSON(`${API}/queries/venues?limit=200`).catch(() => ({ results: [] })),
  ]);
  // the feed is paused while the snapshot loads: these lists are the whole truth (a control
  // released or an arming ended while the page was away is not in them)
  if (controls) {
    state.controls.clear();
    controls.results.forEach(putControl);
  }
  if (armings) {
    state.armings.clear();
    armings.results.forEach(putControl);
  }
  venues.results.forEach(putVenue);
  renderSafe();
  renderVenues();
  await refused;
}

/** Build the bar and its dialogs (desk only) and the refusals toggle; loadControls() fills them. */
export function initControls({ canAct }) {
  state.canAct = canAct;
  state.canRelease = canAct && !!CONFIG.isSuperuser;
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
  initRefusals();
}
