// The page's two message areas: a polite status line and an error alert.
import { $, fill } from "./dom.js";

let statusTimer = null;

/** Show (and announce) a short confirmation, e.g. "Uploaded 3 files". */
export function notify(message) {
  const line = $("#notice");
  fill(line, message);
  line.hidden = false;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { line.hidden = true; }, 8000);
}

/** Show an error until dismissed; `context` says what failed ("Upload of a.csv"). */
export function showError(error, context = "") {
  if (error && error.name === "AbortError") return;
  const message = (error && error.message) || String(error);
  const box = $("#error");
  fill($("#error-text"), context ? `${context}: ${message}` : message);
  box.hidden = false;
}

export function clearError() {
  $("#error").hidden = true;
  fill($("#error-text"));
}

/** Run an async action, showing any error it raises; returns its result or undefined. */
export async function attempt(context, action) {
  try {
    return await action();
  } catch (error) {
    showError(error, context);
    return undefined;
  }
}
