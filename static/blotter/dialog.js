// The modal that hosts the desk's server-rendered forms, and toasts.
// Contract: docs/design/blotter-dialog-contract.md.

const HTML_HEADERS = { Accept: "text/html", "X-Requested-With": "XMLHttpRequest" };

function cookie(name) {
  const hit = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : "";
}

export function csrfToken(form) {
  const field = form && form.querySelector("input[name=csrfmiddlewaretoken]");
  return (field && field.value) || cookie("csrftoken");
}

export function toast(message, kind = "info", ms = 4000) {
  let box = document.getElementById("toasts");
  if (!box) {
    box = document.createElement("div");
    box.id = "toasts";
    document.body.append(box);
  }
  const el = document.createElement("div");
  el.className = `toast ${kind}`;
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  el.textContent = message;
  box.append(el);
  setTimeout(() => el.remove(), kind === "error" ? ms * 2 : ms);
  return el;
}

async function errorText(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    return (body.error && body.error.message) || body.message || text;
  } catch {
    return text.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim().slice(0, 300) || response.statusText;
  }
}

function ensureDialog() {
  let dialog = document.getElementById("oms-dialog");
  if (dialog) return dialog;
  dialog = document.createElement("dialog");
  dialog.id = "oms-dialog";
  dialog.innerHTML =
    '<header><h3 id="oms-dialog-title"></h3><button type="button" class="x" data-dialog-close aria-label="Close">×</button></header>' +
    '<div id="oms-dialog-body"></div>';
  document.body.append(dialog);
  return dialog;
}

let current = null; // {resolve, url}

/** Open a server-rendered form in the modal. Resolves with the success JSON, or null if closed. */
export async function openForm(url, options = {}) {
  const dialog = ensureDialog();
  if (current) close(null);
  const body = dialog.querySelector("#oms-dialog-body");
  dialog.querySelector("#oms-dialog-title").textContent = options.title || "";
  body.innerHTML = '<p class="muted">Loading…</p>';
  let response;
  try {
    response = await fetch(url, { headers: HTML_HEADERS, credentials: "same-origin" });
  } catch (err) {
    toast(`Could not load the form: ${err.message}`, "error");
    return null;
  }
  if (response.redirected && /\/accounts\/login\//.test(response.url)) {
    toast("Your session has expired: log in again.", "error");
    return null;
  }
  if (!response.ok) {
    toast(`${response.status === 403 ? "Not allowed: " : ""}${await errorText(response)}`, "error");
    return null;
  }
  const promise = new Promise((resolve) => {
    current = { resolve, url };
  });
  render(dialog, await response.text(), url);
  if (!dialog.open) dialog.showModal();
  return promise;
}

function close(result) {
  const dialog = document.getElementById("oms-dialog");
  const pending = current;
  current = null;
  if (dialog && dialog.open) dialog.close();
  if (pending) pending.resolve(result);
}

function render(dialog, html, url) {
  const body = dialog.querySelector("#oms-dialog-body");
  body.innerHTML = html;
  const form = body.querySelector("form");
  if (!form) return;
  const action = form.getAttribute("action") || url;
  let submitter = null;
  let inFlight = false;
  form.addEventListener("click", (ev) => {
    const button = ev.target.closest("button, input[type=submit]");
    if (button && button.type === "submit") submitter = button;
  });
  form.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    if ((ev.ctrlKey || ev.metaKey) && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit(form.querySelector("button[type=submit], input[type=submit]") || undefined);
      return;
    }
    const tag = ev.target.tagName;
    if (tag === "INPUT" || tag === "SELECT") ev.preventDefault(); // Enter never sends an order
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (inFlight) return;
    inFlight = true;
    const buttons = [...form.querySelectorAll("button[type=submit], input[type=submit]")];
    buttons.forEach((b) => (b.disabled = true));
    const data = new FormData(form);
    const clicked = ev.submitter || submitter;
    if (clicked && clicked.name) data.append(clicked.name, clicked.value);
    let response;
    try {
      response = await fetch(action, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(form), "X-Requested-With": "XMLHttpRequest", Accept: "application/json, text/html" },
      });
    } catch (err) {
      toast(`Not sent: ${err.message}`, "error");
      buttons.forEach((b) => (b.disabled = false));
      inFlight = false;
      return;
    }
    const type = response.headers.get("Content-Type") || "";
    if (response.ok && type.includes("application/json")) {
      const json = await response.json();
      toast(json.message || "Done.", "success");
      window.dispatchEvent(new CustomEvent("oms:form-success", { detail: json }));
      close(json);
    } else if ([400, 409, 422].includes(response.status) && type.includes("text/html")) {
      render(dialog, await response.text(), url);
    } else if (response.status === 403) {
      toast(`Not allowed: ${await errorText(response)}`, "error");
      close(null);
    } else {
      toast(`Failed (${response.status}): ${await errorText(response)}`, "error");
      buttons.forEach((b) => (b.disabled = false));
      inFlight = false;
    }
  });
  const focus = form.querySelector("[autofocus]") || form.querySelector("input:not([type=hidden]), select, textarea");
  if (focus) setTimeout(() => focus.focus(), 0);
}

document.addEventListener("click", (ev) => {
  if (ev.target.closest("#oms-dialog [data-dialog-close]")) {
    ev.preventDefault();
    close(null);
  }
});
document.addEventListener("cancel", (ev) => {
  if (ev.target.id === "oms-dialog") {
    ev.preventDefault();
    close(null); // Esc
  }}, true);

export function dialogOpen() {
  const dialog = document.getElementById("oms-dialog");
  return !!(dialog && dialog.open);
}

window.openForm = openForm;
window.toast = toast;
