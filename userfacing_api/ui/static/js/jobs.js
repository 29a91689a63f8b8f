// The Jobs view: the job list (polled every 2 s, updated in place so keyboard focus
// stays put), and the open job's facts, status history, live log and results, with
// cancel and delete.
import * as api from "./api.js";
import { $, basename, fill, formatTime, h } from "./dom.js";
import { attempt, clearError, notify, showError } from "./notices.js";

const POLL_MS = 2000;
const TERMINAL = new Set(["finished", "error", "canceled"]);
const RESULT_KINDS = [["output", "Output"], ["log", "Logs"], ["artifact", "Artifacts"]];

let nav = { go: () => {} };
let jobs = new Map(); // id → job, in the order of the last listing
const rows = new Map(); // id → {row, button, app, status, created}
let loadedOnce = false;
let timer = null;
let pollRound = 0;
let pollFailed = false;
let running = false;
let selectedId = null;
let logAbort = null;
let resultsFor = ""; // "<id>:<status>" whose results are shown

export function init(navigation) {
  nav = navigation;
  $("#job-cancel").addEventListener("click", onCancel);
  $("#job-delete").addEventListener("click", onDelete);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && running) poll();
  });
}

/** Begin polling (after log in). */
export function start() {
  running = true;
  poll();
}

/** Stop polling and forget everything (log out). */
export function stop() {
  running = false;
  clearTimeout(timer);
  stopLog();
  jobs = new Map();
  rows.clear();
  loadedOnce = false;
  selectedId = null;
  fill($("#jobs-table tbody"));
  $("#job-detail").hidden = true;
}

export function show() {
  poll();
}

export function hide() {}

/** `#jobs/<id>` opens that job; `#jobs` none. */
export function route(rest) {
  const id = Number.parseInt(rest, 10);
  select(Number.isNaN(id) ? null : id);
}

async function poll() {
  clearTimeout(timer);
  if (!running) return;
  const round = ++pollRound; // only the latest round schedules the next: one loop at most
  try {
    const list = await api.request("GET", "jobs", { query: { limit: 100 } });
    if (round === pollRound) update(list);
    if (pollFailed) clearError(); // the server is back: its outage message is stale
    pollFailed = false;
  } catch (error) {
    if (error.status !== 401) {
      showError(error, "Refreshing the job list failed");
      pollFailed = true;
    }
  }
  if (running && round === pollRound && !document.hidden) timer = setTimeout(poll, POLL_MS);
}

function update(list) {
  const before = jobs;
  jobs = new Map(list.map((job) => [job.id, job]));
  if (loadedOnce) {
    for (const job of list) {
      const old = before.get(job.id);
      if (old && old.status !== job.status && TERMINAL.has(job.status)) {
        notify(`Job ${job.job_name} ${job.status === "canceled" ? "was canceled" : job.status === "error" ? "failed" : "finished"}.`);
      }
    }
  }
  loadedOnce = true;
  renderList();
  if (selectedId !== null && jobs.has(selectedId)) renderDetail(jobs.get(selectedId), before.get(selectedId));
}

// --- the list -----------------------------------------------------------------

function statusBadge(status) {
  return h("span", { class: `status status-${status}` }, status);
}

function renderList() {
  const body = $("#jobs-table tbody");
  for (const [id, parts] of rows) {
    if (!jobs.has(id)) { parts.row.remove(); rows.delete(id); }
  }
  let index = 0;
  for (const job of jobs.values()) {
    let parts = rows.get(job.id);
    if (!parts) {
      const button = h("button", { type: "button", class: "link", onclick: () => nav.go("jobs", job.id) }, job.job_name);
      parts = { button, app: h("td"), status: h("td"), created: h("td"), shown: "" };
      parts.row = h("tr", { "data-job-id": job.id }, h("th", { scope: "row" }, button), parts.app, parts.status, parts.created);
      rows.set(job.id, parts);
    }
    const ref = job.application;
    const shown = `${job.status}|${ref.application}|${job.date_created}`;
    if (parts.shown !== shown) {
      fill(parts.app, `${ref.application} ${ref.version} ${ref.entrypoint}`);
      fill(parts.status, statusBadge(job.status));
      fill(parts.created, formatTime(job.date_created));
      parts.shown = shown;
    }
    const isSelected = job.id === selectedId;
    parts.row.classList.toggle("selected", isSelected);
    if (isSelected) parts.button.setAttribute("aria-current", "true");
    else parts.button.removeAttribute("aria-current");
    if (body.children[index] !== parts.row) body.insertBefore(parts.row, body.children[index] || null);
    index += 1;
  }
  $("#jobs-empty").hidden = jobs.size > 0;
  $("#jobs-table").hidden = jobs.size === 0;
}

// --- the open job -------------------------------------------------------------

async function select(id) {
  if (id === selectedId && id !== null) return;
  stopLog();
  selectedId = id;
  resultsFor = "";
  renderList();
  if (id === null) {
    $("#job-detail").hidden = true;
    return;
  }
  let job = jobs.get(id);
  if (!job) {
    try {
      job = await api.request("GET", `jobs/${id}`);
    } catch (error) {
      showError(error, `Cannot open job ${id}`);
      selectedId = null;
      $("#job-detail").hidden = true;
      return;
    }
  }
  if (selectedId !== id) return;
  $("#job-detail").hidden = false;
  renderDetail(job, null);
  followLog(job);
}

function renderDetail(job, previous) {
  fill($("#job-title"), `Job ${job.job_name}`);
  const ref = job.application;
  const inputs = job.attributes?.files_down || {};
  const inputText = [
    inputs.config_id ? `config/${inputs.config_id}` : null,
    ...(inputs.data_ids || []).map((p) => `data/${p}`),
    ...(inputs.artifact_ids || []).map((p) => `artifact/${p}`),
  ].filter(Boolean).join(", ") || "none";
  const env = Object.entries(job.attributes?.env_vars || {}).map(([k, v]) => `${k}=${v}`).join(", ");
  const hw = job.hardware
    ? Object.entries(job.hardware).filter(([, v]) => v !== null).map(([k, v]) => `${k} ${v}`).join(", ")
    : "";
  const facts = [
    ["Number", String(job.id)],
    ["Status", statusBadge(job.status)],
    ["Application", `${ref.application} ${ref.version} ${ref.entrypoint}`],
    ["Inputs", inputText],
    ["Variables", env || "none"],
    ["Hardware", hw || "entrypoint defaults"],
    ["Created", formatTime(job.date_created)],
    ["Started", formatTime(job.date_started) || "not yet"],
    ["Ended", formatTime(job.date_finished) || "not yet"],
  ];
  if (job.runtime_details) facts.push(["Details", h("span", { class: "details" }, job.runtime_details)]);
  fill($("#job-facts"), facts.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
  $("#job-cancel").hidden = TERMINAL.has(job.status);
  if (!previous || previous.status !== job.status) loadHistory(job);
  const key = `${job.id}:${job.status}`;
  if (resultsFor !== key && (TERMINAL.has(job.status) || job.status === "postprocessing" || !resultsFor)) {
    resultsFor = key;
    loadResults(job);
  }
}

async function loadHistory(job) {
  const pane = $("#job-history-pane");
  try {
    const history = await api.request("GET", `jobs/${job.id}/statuses`);
    if (selectedId !== job.id) return;
    pane.hidden = false;
    fill($("#job-history"), history.map((entry) => h("li", {},
      statusBadge(entry.status), " ", h("time", { datetime: entry.time }, formatTime(entry.time)),
      entry.runtime_details ? h("span", { class: "details" }, ` — ${entry.runtime_details}`) : "")));
  } catch (error) {
    // a server without status history (404) simply has no such pane
    if (error.status === 404) pane.hidden = true;
    else showError(error, "Loading the status history failed");
  }
}

async function loadResults(job) {
  const target = $("#job-results");
  const sections = await Promise.all(RESULT_KINDS.map(async ([kind, label]) => {
    const folder = job.paths_out[kind];
    let files = [];
    try {
      files = await api.listFiles(folder, { recursive: true, showDirs: false });
    } catch (error) {
      if (error.status !== 404) showError(error, `Listing ${folder} failed`);
    }
    const heading = h("h4", {}, `${label} `, h("span", { class: "hint" }, `${folder}/`));
    if (!files.length) {
      return h("div", { class: "result-group" }, h("div", { class: "result-head" }, heading),
        h("p", { class: "hint" }, TERMINAL.has(job.status) ? "none" : "none yet"));
    }
    const zip = h("button", {
      type: "button",
      class: "small",
      onclick: () => attempt(`Downloading ${folder}`, () => api.download(folder, { isDir: true })),
    }, `Download all ${label.toLowerCase()} (zip)`);
    return h("div", { class: "result-group" }, h("div", { class: "result-head" }, heading, zip),
      h("ul", { class: "result-files" }, files.map((file) => {
        const name = file.path.slice(folder.length + 1);
        return h("li", {}, h("span", { class: "file" }, name), h("span", { class: "hint" }, file.size),
          h("button", {
            type: "button",
            class: "small",
            "aria-label": `Download ${name} (${kind})`,
            onclick: () => attempt(`Downloading ${file.path}`, () => api.download(file.path)),
          }, "Download"));
      })));
  }));
  if (selectedId === job.id) fill(target, sections);
}

// --- the live log -------------------------------------------------------------

function stopLog() {
  if (logAbort) logAbort.abort();
  logAbort = null;
}

function setLogState(text) {
  fill($("#job-log-state"), text ? `(${text})` : "");
}

function appendLog(text) {
  const pre = $("#job-log");
  const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
  pre.append(document.createTextNode(text));
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

function onStatusEvent(id, status) {
  const job = jobs.get(id);
  if (!job || job.status === status) return;
  poll(); // brings the list, facts, history and results up to date
}

/** Follow the job's log: the SSE stream, else polling `/logs`, else no log pane. */
async function followLog(job) {
  const controller = new AbortController();
  logAbort = controller;
  const pane = $("#job-log-pane");
  pane.hidden = false;
  fill($("#job-log"));
  setLogState(TERMINAL.has(job.status) ? "" : "live");
  let attempt = null;
  try {
    await api.streamEvents(`jobs/${job.id}/logs/stream`, (name, data, id) => {
      let payload = {};
      try { payload = data ? JSON.parse(data) : {}; } catch { payload = { text: data }; }
      if (name === "log") {
        // ids are "<attempt>-<offset>": a new attempt (a retry) starts its own log
        const thisAttempt = (id || "").split("-")[0] || null;
        if (attempt && thisAttempt && thisAttempt !== attempt) {
          appendLog(`\n--- attempt ${thisAttempt} ---\n`);
        }
        attempt = thisAttempt || attempt;
        appendLog(payload.text ?? "");
      } else if (name === "status" || name === "end") {
        if (name === "end") setLogState("");
        onStatusEvent(job.id, payload.status);
      }
    }, controller.signal);
    if (!controller.signal.aborted) setLogState("");
  } catch (error) {
    if (controller.signal.aborted) return;
    await pollLog(job, controller);
  }
}

async function pollLog(job, controller) {
  const pane = $("#job-log-pane");
  for (;;) {
    let answer;
    try {
      answer = await api.request("GET", `jobs/${job.id}/logs`, { signal: controller.signal });
    } catch (error) {
      if (controller.signal.aborted) return;
      if (error.status === 404) {
        pane.hidden = true; // this server keeps no logs for the page
        return;
      }
      setLogState("cannot load the log right now");
      answer = null;
    }
    if (answer) {
      const pre = $("#job-log");
      const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
      fill(pre, answer.log || "");
      if (atBottom) pre.scrollTop = pre.scrollHeight;
      const live = !TERMINAL.has(answer.status);
      setLogState([live ? "live" : "", answer.truncated ? "showing the end" : ""].filter(Boolean).join(", "));
      if (!live) return;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    if (controller.signal.aborted || selectedId !== job.id) return;
  }
}

// --- actions ------------------------------------------------------------------

async function onCancel() {
  const job = jobs.get(selectedId);
  if (!job) return;
  const done = await attempt(`Cancelling ${job.job_name}`, () => api.request("POST", `jobs/${job.id}/cancel`));
  if (done) {
    notify(`Cancelling job ${job.job_name}…`);
    poll();
  }
}

async function onDelete() {
  const job = jobs.get(selectedId);
  if (!job) return;
  if (!window.confirm(`Delete job ${job.job_name} and its results (${basename(job.paths_out.output)} in output/, log/ and artifact/)? This cannot be undone.`)) return;
  try {
    await api.request("DELETE", `jobs/${job.id}`);
  } catch (error) {
    showError(error, `Deleting ${job.job_name} failed`);
    return;
  }
  notify(`Deleted job ${job.job_name}.`);
  nav.go("jobs");
  poll();
}
