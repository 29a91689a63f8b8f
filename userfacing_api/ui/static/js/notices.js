// The page's message areas: a polite status line, a warning box and an error alert.
// They are about the last thing the user did: the next action (a click on a button or
// link, a form sent, files picked or dropped) clears them before it runs.
import { $, fill, h } from "./dom.js";

const NOTICE_MS = 8000;
let statusTimer = null;

/** Show (and announce) a short confirmation, e.g. "Uploaded 3 files". */
export function notify(message) {
  const line = $("#notice");
  fill(line, message);
  line.hidden = false;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { line.hidden = true; }, NOTICE_MS);
}

/** Show warnings (e.g. those of a launched job) until the next action. */
export function warn(messages, heading = "") {
  const list = (messages || []).filter(Boolean);
  if (!list.length) return;
  fill($("#warning"),
    heading ? h("p", { class: "warning-heading" }, heading) : null,
    list.length === 1 ? h("p", {}, list[0]) : h("ul", {}, list.map((text) => h("li", {}, text))));
  $("#warning").hidden = false;
}

/** Show an error until dismissed or the next action; `context` says what failed. */
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

/** Clear every message: the status line, the warnings and the error. */
export function clearMessages() {
  clearTimeout(statusTimer);
  $("#notice").hidden = true;
  $("#warning").hidden = true;
  fill($("#warning"));
  clearError();
}

/**
 * Clear the messages when the user acts inside `root`: listened to in the capture
 * phase, so the action's own handler runs after and its messages stay.
 */
export function clearOnNextAction(root) {
  const acted = (event) => {
    if (event.target.closest?.("#error-close, .messages")) return;
    clearMessages();
  };
  root.addEventListener("click", (event) => {
    if (event.target.closest?.("button, a[href], summary")) acted(event);
  }, true);
  root.addEventListener("submit", acted, true);
  root.addEventListener("drop", acted, true);
  root.addEventListener("change", (event) => {
    if (event.target.type === "file") acted(event);
  }, true);
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
