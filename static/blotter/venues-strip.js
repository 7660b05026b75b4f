// The venues strip of the risk view: one card per venue with its adapter, mode, arming, feed
// health (Healthy / Stale / Down in colour), the SAFE scopes that hold it and the age of its last
// message, ticking every second. Live from `venue-events` and `control-events` (a document is
// replaced only by a newer version), read with every snapshot (re)load like the controls bar.
//
// The age is counted from the venue's `lastMessageAt`, which the registry records at most every
// OMS_VENUE_FEED_RECORD_SECONDS (a heartbeat per message would flood the feed): a healthy venue's
// age runs up to that much before it resets. The feed health itself is the watchdog's word.
//
// "Reconcile now" (desk only, venues with an adapter) sends RunReconciliationCommand; it is shown
// only where the reconciliation queries exist (discrepancies.js finds out).
import { API, age, el, errorOf, getJSON, newer, postCommand } from "/static/blotter/risk-util.js";
import { toast } from "/static/blotter/dialog.js";
import { notify } from "/static/blotter/alerts.js";

const venues = new Map(); // venue -> doc
const safe = new Map(); // controlId -> SafeMode control doc
const SYSTEM_SOURCES = new Set(["reconciliation", "watchdog"]);
const opts = { canAct: false, reconcile: false, onReconciled: () => {} };
let tickTimer = null;

/** The active SAFE scopes that hold `venue`: global, the venue itself, a symbol at the venue. */
export function safeScopesOf(venue) {
  return [...safe.values()].filter(
    (c) => c.active && (c.scope === "global" || (c.scope === "venue" && c.key === venue) || (c.scope === "symbol" && String(c.key || "").startsWith(`${venue}:`)))
  );
}

export function putVenue(doc, { live = false } = {}) {
  const old = venues.get(doc.venue);
  if (!newer(old, doc)) return false;
  venues.set(doc.venue, doc);
  if (live && old && old.feed !== doc.feed && doc.feed) {
    notify({
      key: `feed:${doc.venue}:${doc.version}`,
      kind: "feed",
      level: doc.feed === "Down" ? "error" : doc.feed === "Stale" ? "warn" : "info",
      title: `${doc.venue} feed ${old.feed || "?"} → ${doc.feed}`,
      text: doc.lastMessageAt ? `last message ${age(doc.lastMessageAt)} ago` : "nothing heard yet",
    });
  }
  return true;
}

export function putControl(doc, { live = false, type = "" } = {}) {
  if (doc.kind !== "SafeMode" || !newer(safe.get(doc.controlId), doc)) return false;
  const known = safe.get(doc.controlId);
  safe.set(doc.controlId, doc);
  if (live && doc.active && !known && SYSTEM_SOURCES.has(doc.source) && type !== "SafeModeReleased") {
    notify({
      key: `safe:${doc.controlId}`,
      kind: "safe",
      level: "error",
      title: `SAFE mode engaged by ${doc.source}: ${doc.scope}:${doc.key ?? "*"}`,
      text: doc.reason || "",
    });
  }
  return true;
}

function card(v) {
  const scopes = safeScopesOf(v.venue);
  const armed = v.mode === "Live" ? (v.armed ? "armed" : "disarmed") : null;
  const node = el(
    "span",
    {
      class: `venue-card feed-${String(v.feed || "none").toLowerCase()}${scopes.length ? " held" : ""}`,
      "data-venue": v.venue,
      "data-feed": v.feed || "",
      "data-armed": String(!!v.armed),
      "data-safe": String(scopes.length),
      title: `${v.venue}: adapter ${v.adapter}, ${v.mode}${armed ? `, ${armed}` : ""}, feed ${v.feed || "none"}, last message ${v.lastMessageAt || "never"}, seq ${v.lastSeq ?? "-"}`,
    },
    el("b", {}, v.venue),
    el("span", { class: "muted" }, ` ${v.adapter} · ${v.mode}`),
    armed ? el("span", { class: `armed-${armed}` }, ` · ${armed}`) : null,
    v.adapter === "MANUAL" ? null : el("span", { class: "feed-badge" }, v.feed || "?"),
    ...scopes.map((c) => el("span", { class: "safe-tag", "data-scope": `${c.scope}:${c.key ?? "*"}`, title: `${c.reason || ""} (${c.source}, ${c.engagedBy || "?"})` }, `SAFE ${c.scope === "global" ? "global" : `${c.scope}:${c.key}`}`)),
    v.adapter === "MANUAL" ? null : el("span", { class: "venue-age", "data-at": v.lastMessageAt || "" }, age(v.lastMessageAt)),
    opts.canAct && opts.reconcile && v.adapter !== "MANUAL"
      ? el("button", { type: "button", class: "reconcile", "data-venue": v.venue, title: `Reconcile ${v.venue} now`, onclick: (ev) => reconcile(v.venue, ev.currentTarget) }, "Reconcile")
      : null
  );
  return node;
}

export function renderVenues() {
  const box = document.getElementById("venues-strip");
  if (!box) return;
  const cards = [...venues.values()].sort((a, b) => a.venue.localeCompare(b.venue)).map(card);
  box.replaceChildren(...(cards.length ? cards : [el("span", { class: "muted" }, "no venues registered")]));
  const venueFilter = document.getElementById("discrepancies-venue");
  if (venueFilter && venueFilter.options.length - 1 !== venues.size) {
    const chosen = venueFilter.value;
    venueFilter.replaceChildren(el("option", { value: "" }, "every venue"), ...[...venues.keys()].sort().map((v) => el("option", { value: v }, v)));
    venueFilter.value = chosen;
  }
}

/** Only the ages change every second: no rebuild of the cards. */
function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll("#venues-strip .venue-age")) node.textContent = age(node.dataset.at || null, now);
}

async function reconcile(venue, button) {
  button.disabled = true;
  const answer = await postCommand("venues", { commandType: "RunReconciliationCommand", venue }, crypto.randomUUID());
  button.disabled = false;
  if (!answer.ok) {
    toast(`Reconcile ${venue}: ${errorOf(answer.json, answer.status)}`, "error");
    return;
  }
  const r = answer.json.reconciliation || answer.json.result || answer.json;
  const checked = r.checked || {};
  const found = (r.discrepancies || []).length;
  toast(
    `${venue} reconciled: ${checked.orders ?? 0} orders, ${checked.fills ?? 0} fills, ${checked.positions ?? 0} positions checked; ${found} discrepanc${found === 1 ? "y" : "ies"}${r.safeMode ? "; SAFE mode engaged" : ""}`,
    found ? "error" : "success",
    8000
  );
  opts.onReconciled(r);
}

/** The venues and the active SAFE modes as they are now (after the snapshot's read). */
export async function loadVenues() {
  const [list, controls] = await Promise.all([
    getJSON(`${API}/queries/venues?limit=500`).catch(() => ({ results: [] })),
    getJSON(`${API}/queries/controls?active=true&kind=SafeMode&limit=500`).catch(() => null),
  ]);
  for (const doc of list.results) putVenue(doc);
  if (controls) {
    safe.clear(); // the whole truth: a release missed while the page was away disappears
    for (const doc of controls.results) putControl(doc);
  }
  renderVenues();
}

export function initVenues({ canAct, onReconciled }) {
  Object.assign(opts, { canAct, onReconciled });
  clearInterval(tickTimer);
  tickTimer = setInterval(tick, 1000);
}

/** discrepancies.js: the reconciliation queries exist, so "Reconcile now" can be offered. */
export function setReconcileAvailable(available) {
  if (opts.reconcile === available) return;
  opts.reconcile = available;
  renderVenues();
}

export { venues };
