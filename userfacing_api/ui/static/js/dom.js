// Small DOM helpers. Text always goes in as text nodes, never as HTML.

/** Create an element: h("button", {type: "button", onclick: f}, "Text", child…). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key in el && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** A Date from the API's timestamps (naive ones are UTC). */
export function parseTime(text) {
  if (!text) return null;
  return new Date(/([zZ]|[+-]\d\d:?\d\d)$/.test(text) ? text : `${text}Z`);
}

/** A short local date and time, e.g. "25 Nov 2024, 15:26:03". */
export function formatTime(text) {
  const date = parseTime(text);
  if (!date || Number.isNaN(date.getTime())) return "";
  return date.toLocaleString(undefined, {
    day: "numeric", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export function formatBytes(bytes) {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = -1;
  do { value /= 1000; unit += 1; } while (value >= 1000 && unit < units.length - 1);
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** The last segment of a path ("data/exp1/" → "exp1"). */
export function basename(path) {
  const parts = path.replace(/\/+$/, "").split("/");
  return parts[parts.length - 1];
}

/** A short duration: "0.4 s", "42 s", "3 min 05 s", "10 min", "2 h 04 min", "5 h". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "";
  const s = Math.max(0, seconds);
  if (s < 10) return `${s.toFixed(s < 1 ? 1 : 0)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const whole = Math.round(s);
  const minutes = Math.floor(whole / 60);
  if (whole < 3600) {
    return whole % 60 ? `${minutes} min ${String(whole % 60).padStart(2, "0")} s` : `${minutes} min`;
  }
  const rest = minutes % 60;
  return rest ? `${Math.floor(minutes / 60)} h ${String(rest).padStart(2, "0")} min` : `${minutes / 60} h`;
}

/** The file name's extension, lower case, without the dot ("" when none). */
export function extension(path) {
  const name = basename(path);
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
}
