// Building elements, the one way the blotter's panels do it (controls, refusals, the risk view).

/** `el("div", {class: "x", "data-y": 1, title: "t"}, child, "text")`: attributes that are null,
 * undefined or false are left out (so `disabled: cond` and an absent title read naturally). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-") || k.startsWith("aria-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

/** "HH:MM:SS" UTC of an ISO time, blank when there is none. */
export const time = (iso) => (iso ? new Date(iso).toISOString().slice(11, 19) : "");
