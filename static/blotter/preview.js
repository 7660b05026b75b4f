// The new-order form's live preview (POST /api/commands/orders/preview: writes nothing).
//
// As the desk types in the "new" form (blotter/forms/orders.py NewOrderForm, whose field names are
// CreateOrderCommand's), the filled fields are sent ~300 ms after the last keystroke; the answer
// is shown under the fields: accepted, or each refusing rule with its message and numbers; the
// routing (handling, reason, rule); the estimate (referencePx, avgPx, notional, fees, slippage).
// Only the latest request's answer is shown (an older one that arrives late is dropped).
import { csrfToken } from "/static/blotter/dialog.js";

const URL = "/api/commands/orders/preview";
const DEBOUNCE_MS = 300;
const FIELDS = ["side", "symbol", "orderQty", "ordType", "price", "stopPx", "timeInForce", "expireTime", "account", "venue", "handling", "clOrdID", "text"];
const ESTIMATE = ["referencePx", "avgPx", "notional", "fees", "slippage"];

let timer = null;
let sent = 0;

function body(form) {
  const data = new FormData(form);
  const out = {};
  for (const name of FIELDS) {
    const value = data.get(name);
    if (value !== null && String(value).trim() !== "") out[name] = String(value).trim();
  }
  if (!out.clOrdID) out.clOrdID = "PREVIEW"; // generated on send when empty; the preview needs one
  return out;
}

function box(form) {
  let out = form.querySelector(".order-preview");
  if (!out) {
    out = document.createElement("div");
    out.className = "order-preview";
    out.setAttribute("aria-live", "polite");
    const buttons = form.querySelector("button[type=submit]");
    (buttons ? buttons.closest("div, p, footer") || buttons : form).before(out);
  }
  return out;
}

function line(text, cls = "") {
  const p = document.createElement("div");
  if (cls) p.className = cls;
  p.textContent = text;
  return p;
}

function show(form, status, json) {
  const out = box(form);
  out.replaceChildren();
  if (status === "incomplete") {
    out.dataset.state = "incomplete";
    out.append(line("Preview: side, symbol, quantity and account first", "muted"));
    return;
  }
  if (status !== 200) {
    const e = json.error || json;
    out.dataset.state = "invalid";
    const fields = e.fields ? Object.entries(e.fields).map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`).join("; ") : "";
    out.append(line(`Preview: ${e.message || status}${fields ? ` (${fields})` : ""}`, "muted"));
    return;
  }
  out.dataset.state = json.accepted ? "accepted" : "refused";
  out.append(line(json.accepted ? "Preview: accepted" : "Preview: refused", json.accepted ? "ok" : "bad"));
  for (const r of json.refusals || []) {
    const numbers = Object.entries(r.details || {})
      .filter(([, v]) => v !== null && typeof v !== "object")
      .map(([k, v]) => `${k} ${v}`)
      .join(" · ");
    const item = line(`${r.rule}: ${r.message}${numbers ? ` (${numbers})` : ""}`, "refusal");
    item.dataset.rule = r.rule;
    out.append(item);
  }
  const routing = json.routing || {};
  if (routing.handling) out.append(line(`Routing: ${routing.handling} · ${routing.routingReason || ""}${routing.routingRule ? ` · rule ${routing.routingRule}` : ""}`, "routing"));
  const est = json.estimate || {};
  const parts = ESTIMATE.filter((k) => est[k] !== null && est[k] !== undefined).map((k) => `${k} ${est[k]}`);
  if (parts.length) out.append(line(`Estimate: ${parts.join(" · ")}`, "estimate"));
}

async function run(form) {
  const payload = body(form);
  if (!payload.side || !payload.symbol || !payload.orderQty || !payload.account) {
    show(form, "incomplete", {});
    return;
  }
  const mine = ++sent;
  let response;
  let json = {};
  try {
    response = await fetch(URL, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken(form) },
      body: JSON.stringify(payload),
    });
    json = await response.json();
  } catch {
    if (mine === sent) show(form, "error", { message: "unavailable" });
    return;
  }
  if (mine === sent && form.isConnected) show(form, response.status, json);
}

function schedule(ev) {
  const form = ev.target.closest && ev.target.closest('form[data-oms-form="new"]');
  if (!form) return;
  clearTimeout(timer);
  timer = setTimeout(() => run(form), DEBOUNCE_MS);
}

export function initPreview() {
  document.addEventListener("input", schedule);
  document.addEventListener("change", schedule);
}
