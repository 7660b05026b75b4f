// What the risk view's modules share (risk.js, positions.js, venues-strip.js, discrepancies.js,
// alerts.js): building elements, reading the query API, posting a command with its own
// Idempotency-Key, and the API's error shape in words.
import { csrfToken } from "/static/blotter/dialog.js";

export const API = "/api";

export { el, time } from "/static/blotter/dom.js";

/** GET a JSON document; a 404 answers null (a query this deployment does not have yet). */
export async function getJSON(url, { missingOk = false } = {}) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (missingOk && response.status === 404) return null;
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/** POST a command to /api/commands/<topic>; `key` is the Idempotency-Key of one confirmation. */
export async function postCommand(topic, body, key) {
  const response = await fetch(`${API}/commands/${topic}`, {
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

export function errorOf(json, status) {
  const e = (json && json.error) || json || {};
  const fields = e.fields ? Object.entries(e.fields).map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`).join("; ") : "";
  return `${e.code || status}: ${e.message || ""}${fields ? ` (${fields})` : ""}`;
}

/** A document replaces the one held only when its version is newer (feed, resync and REST overlap). */
export function newer(old, doc) {
  return !old || old.version === undefined || doc.version === undefined || Number(old.version) < Number(doc.version);
}

/** "4s", "3m 10s", "2h 5m": how long ago `iso` was, for the venues strip's ticking age. */
export function age(iso, now = Date.now()) {
  if (!iso) return "never";
  const s = Math.max(0, Math.floor((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}
