// The desk's alerts as notifications (docs/architecture.md "The desk's risk view").
//
// What the OMS does on its own and the desk must notice: a venue's feed changing health, SAFE mode
// engaged by reconciliation or the watchdog, a new discrepancy, a dead letter. The risk modules
// call `notify`; each alert has a key, so the same thing seen twice (the feed and a resync, a
// REST reload) alerts once. The stack sits just above the risk section, at the right edge of the
// order grid: it never covers the toolbars, takes no focus and blocks nothing (only its cards
// take clicks). The count in the risk header stays until the desk dismisses (one, or all).
import { el, time } from "/static/blotter/risk-util.js";

const MAX_SHOWN = 5; // the newest; the rest are counted ("+3 more")
const MAX_KEPT = 200;
const alerts = []; // newest first: {key, level, title, text, at}
const seen = new Set();
let muted = false;

function render() {
  const box = document.getElementById("alerts");
  const count = document.getElementById("alerts-count");
  if (count) count.textContent = alerts.length ? String(alerts.length) : "";
  document.body.dataset.alerts = String(alerts.length);
  if (!box) return;
  box.hidden = muted || !alerts.length;
  const cards = alerts.slice(0, MAX_SHOWN).map((a) =>
    el(
      "div",
      { class: `alert ${a.level}`, role: a.level === "error" ? "alert" : "status", "data-key": a.key, "data-kind": a.kind },
      el("span", { class: "alert-time" }, time(a.at)),
      el("b", {}, a.title),
      a.text ? el("span", { class: "alert-text" }, a.text) : null,
      el("button", { type: "button", class: "alert-dismiss", title: "Dismiss", "aria-label": "Dismiss", onclick: () => dismiss(a.key) }, "×")
    )
  );
  const more = alerts.length > MAX_SHOWN ? el("span", { class: "muted" }, `+${alerts.length - MAX_SHOWN} more`) : null;
  const all = el("button", { type: "button", id: "alerts-dismiss-all", class: "linkish", onclick: dismissAll }, "Dismiss all");
  box.replaceChildren(...cards, el("div", { class: "alerts-foot" }, more, all));
}

/**
 * Raise an alert once per key: {key, kind, level: "info" | "warn" | "error", title, text}.
 * Returns false when that key has alerted before (dismissed or not).
 */
export function notify({ key, kind, level = "warn", title, text = "" }) {
  if (seen.has(key)) return false;
  seen.add(key);
  alerts.unshift({ key, kind, level, title, text, at: new Date().toISOString() });
  alerts.length = Math.min(alerts.length, MAX_KEPT);
  render();
  return true;
}

export function dismiss(key) {
  const i = alerts.findIndex((a) => a.key === key);
  if (i >= 0) alerts.splice(i, 1);
  render();
}

function dismissAll() {
  alerts.length = 0;
  render();
}

/** The header's "Alerts" button shows or hides the stack (new alerts still count while hidden). */
export function initAlerts() {
  const toggle = document.getElementById("alerts-toggle");
  if (toggle)
    toggle.addEventListener("click", () => {
      muted = !muted;
      toggle.setAttribute("aria-pressed", String(!muted));
      render();
    });
  render();
}
