// The job list: name, application, status (with why a queued job waits), duration
// (counting while the job runs) and creation time; filtered by status and by
// application and searched by name, in the page, over the listed jobs. Rows are
// updated in place, so keyboard focus stays put while the list refreshes.
import { $, fill, formatDuration, formatTime, h, parseTime } from "./dom.js";

export const TERMINAL = new Set(["finished", "error", "canceled"]);
const STATUS_FILTERS = {
  active: ["queued", "pulled", "preprocessing", "running", "postprocessing"],
  finished: ["finished"],
  error: ["error"],
  canceled: ["canceled"],
};

const rows = new Map(); // id → {row, button, app, status, duration, created, shown}

/** Call `changed` when the search or a filter changes. */
export function init(changed) {
  $("#jobs-filters").addEventListener("submit", (event) => event.preventDefault());
  $("#jobs-search").addEventListener("input", changed);
  $("#jobs-status").addEventListener("change", changed);
  $("#jobs-app").addEventListener("change", changed);
}

export function reset() {
  rows.clear();
  fill($("#jobs-table tbody"));
}

/** The job's run time in seconds: start to end, or to now while it runs; null before it starts. */
export function duration(job, now = Date.now()) {
  const start = parseTime(job.date_started);
  if (!start) return null;
  const end = parseTime(job.date_finished);
  if (end) return (end - start) / 1000;
  return TERMINAL.has(job.status) ? null : (now - start) / 1000;
}

export function durationText(job) {
  const seconds = duration(job);
  if (seconds === null) return TERMINAL.has(job.status) ? "—" : "not started";
  return formatDuration(seconds);
}

export const appLabel = (ref) => `${ref.application} ${ref.version} ${ref.entrypoint}`;

export function statusBadge(status) {
  return h("span", { class: `status status-${status}` }, status);
}

function matches(job) {
  const text = $("#jobs-search").value.trim().toLowerCase();
  const status = $("#jobs-status").value;
  const app = $("#jobs-app").value;
  return (!text || job.job_name.toLowerCase().includes(text))
    && (!status || STATUS_FILTERS[status].includes(job.status))
    && (!app || job.application.application === app);
}

function fillAppFilter(jobs) {
  const select = $("#jobs-app");
  const apps = [...new Set([...jobs.values()].map((job) => job.application.application))].sort();
  const have = [...select.options].slice(1).map((option) => option.value);
  if (have.join("\n") === apps.join("\n")) return;
  const chosen = select.value;
  fill(select, h("option", { value: "" }, "All applications"), apps.map((app) => h("option", { value: app }, app)));
  select.value = apps.includes(chosen) ? chosen : "";
}

function rowFor(job, go) {
  let parts = rows.get(job.id);
  if (!parts) {
    const button = h("button", { type: "button", class: "link", onclick: () => go("jobs", job.id) }, job.job_name);
    parts = { button, app: h("td"), status: h("td"), duration: h("td", { class: "num duration" }), created: h("td", { class: "num" }), shown: "" };
    parts.row = h("tr", { "data-job-id": job.id }, h("th", { scope: "row" }, button),
      parts.app, parts.status, parts.duration, parts.created);
    rows.set(job.id, parts);
  }
  parts.job = job;
  const shown = `${job.status}|${job.date_created}|${job.waiting_reason ?? ""}`;
  if (parts.shown !== shown) {
    fill(parts.app, appLabel(job.application));
    fill(parts.status, statusBadge(job.status),
      job.status === "queued" && job.waiting_reason ? h("span", { class: "waiting hint" }, job.waiting_reason) : null);
    fill(parts.created, formatTime(job.date_created));
    parts.shown = shown;
  }
  fill(parts.duration, durationText(job));
  return parts;
}

/** Show the listed jobs (newest first) that pass the filters; `selectedId` is highlighted. */
export function render(jobs, selectedId, go) {
  const body = $("#jobs-table tbody");
  for (const [id, parts] of rows) {
    if (!jobs.has(id)) { parts.row.remove(); rows.delete(id); }
  }
  fillAppFilter(jobs);
  let index = 0;
  for (const job of jobs.values()) {
    const parts = rowFor(job, go);
    if (!matches(job)) { parts.row.remove(); continue; }
    const isSelected = job.id === selectedId;
    parts.row.classList.toggle("selected", isSelected);
    if (isSelected) parts.button.setAttribute("aria-current", "true");
    else parts.button.removeAttribute("aria-current");
    if (body.children[index] !== parts.row) body.insertBefore(parts.row, body.children[index] || null);
    index += 1;
  }
  const filtered = index < jobs.size;
  fill($("#jobs-count"), filtered ? `${index} of ${jobs.size} jobs match.` : "");
  $("#jobs-empty").hidden = jobs.size > 0;
  $("#jobs-none-match").hidden = !(jobs.size > 0 && index === 0);
  $("#jobs-table").hidden = index === 0;
  $("#jobs-filters").hidden = jobs.size === 0;
}

/** Move the running jobs' durations on (called every second). */
export function tick() {
  for (const parts of rows.values()) {
    if (parts.job && parts.job.date_started && !TERMINAL.has(parts.job.status)) {
      fill(parts.duration, durationText(parts.job));
    }
  }
}
