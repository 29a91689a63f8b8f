// The Jobs view: the job list (polled every 2 s, see joblist.js), and the open job's
// facts, why it waits or why it failed, status history, live log and results, with
// cancel and delete.
import * as api from "./api.js";
import { $, basename, fill, formatTime, h } from "./dom.js";
import { attempt, clearError, notify, showError } from "./notices.js";
import * as list from "./joblist.js";
import * as results from "./results.js";

const POLL_MS = 2000;
const TICK_MS = 1000;
const { TERMINAL } = list;
const FAILURE_KINDS = {
  exit_code: "The application ended with an error",
  timeout: "It ran past its time limit",
  lost: "Its worker was lost",
  cancelled: "It was cancelled",
  invalid: "The job could not start as given",
  system: "labcloud could not run it",
};

let nav = { go: () => {} };
let jobs = new Map(); // id → job, in the order of the last listing
let loadedOnce = false;
let timer = null;
let ticker = null;
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
  list.init(() => list.render(jobs, selectedId, nav.go));
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && running) poll();
  });
}

/** Begin polling (after log in). */
export function start() {
  running = true;
  clearInterval(ticker);
  ticker = setInterval(tick, TICK_MS);
  poll();
}

/** Stop polling and forget everything (log out). */
export function stop() {
  running = false;
  clearTimeout(timer);
  clearInterval(ticker);
  stopLog();
  jobs = new Map();
  list.reset();
  loadedOnce = false;
  selectedId = null;
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
    const listed = await api.request("GET", "jobs", { query: { limit: 100 } });
    if (round === pollRound) update(listed);
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

function update(listed) {
  const before = jobs;
  jobs = new Map(listed.map((job) => [job.id, job]));
  if (loadedOnce) {
    for (const job of listed) {
      const old = before.get(job.id);
      if (old && old.status !== job.status && TERMINAL.has(job.status)) {
        notify(`Job ${job.job_name} ${job.status === "canceled" ? "was canceled" : job.status === "error" ? "failed" : "finished"}.`);
      }
    }
  }
  loadedOnce = true;
  list.render(jobs, selectedId, nav.go);
  if (selectedId !== null && jobs.has(selectedId)) renderDetail(jobs.get(selectedId), before.get(selectedId));
}

function tick() {
  if (document.hidden) return;
  list.tick();
  const job = jobs.get(selectedId);
  const cell = $("#job-duration");
  if (job && cell) fill(cell, list.durationText(job));
}

// --- the open job -------------------------------------------------------------

async function select(id) {
  if (id === selectedId && id !== null) return;
  stopLog();
  selectedId = id;
  resultsFor = "";
  list.render(jobs, selectedId, nav.go);
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

function inputsText(job) {
  const inputs = job.attributes?.files_down || {};
  return [
    inputs.config_id ? `config/${inputs.config_id}` : null,
    ...(inputs.data_ids || []).map((p) => `data/${p}`),
    ...(inputs.artifact_ids || []).map((p) => `artifact/${p}`),
  ].filter(Boolean).join(", ") || "none";
}

function renderDetail(job, previous) {
  fill($("#job-title"), `Job ${job.job_name}`);
  const env = Object.entries(job.attributes?.env_vars || {}).map(([k, v]) => `${k}=${v}`).join(", ");
  const hw = job.hardware
    ? Object.entries(job.hardware).filter(([, v]) => v !== null).map(([k, v]) => `${k} ${v}`).join(", ")
    : "";
  const facts = [
    ["Number", String(job.id)],
    ["Status", list.statusBadge(job.status)],
    job.status === "queued" && job.waiting_reason ? ["Waiting", h("span", { id: "job-waiting" }, job.waiting_reason)] : null,
    ["Application", list.appLabel(job.application)],
    ["Inputs", inputsText(job)],
    ["Variables", env || "none"],
    ["Hardware", hw || "entrypoint defaults"],
    ["Created", formatTime(job.date_created)],
    ["Started", formatTime(job.date_started) || "not yet"],
    ["Ended", formatTime(job.date_finished) || "not yet"],
    ["Duration", h("span", { id: "job-duration" }, list.durationText(job))],
    // a failure says it all once; the details would repeat it
    job.runtime_details && !job.failure ? ["Details", h("span", { class: "details" }, job.runtime_details)] : null,
  ].filter(Boolean);
  fill($("#job-facts"), facts.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
  renderFailure(job.status === "error" ? job.failure : null);
  $("#job-cancel").hidden = TERMINAL.has(job.status);
  if (!previous || previous.status !== job.status) loadHistory(job);
  const key = `${job.id}:${job.status}`;
  if (resultsFor !== key && (TERMINAL.has(job.status) || job.status === "postprocessing" || !resultsFor)) {
    resultsFor = key;
    results.show($("#job-results"), job, TERMINAL.has(job.status), () => selectedId === job.id);
  }
}

/** Why an error job failed (`failure`, when the server gives one): once, readably. */
function renderFailure(failure) {
  const box = $("#job-failure");
  box.hidden = !failure;
  if (!failure) return;
  const headline = FAILURE_KINDS[failure.kind] || "It failed";
  fill(box,
    h("h3", {}, "Why it failed"),
    h("p", { class: "failure-kind" }, headline,
      failure.exit_code !== null && failure.exit_code !== undefined ? ` (exit code ${failure.exit_code})` : "", "."),
    failure.message ? h("p", { class: "failure-message" }, failure.message) : null,
    failure.log_tail ? [h("p", { class: "hint" }, "The end of its log:"),
      h("pre", { class: "log failure-log", tabindex: 0 }, failure.log_tail)] : null);
}

async function loadHistory(job) {
  const pane = $("#job-history-pane");
  try {
    const history = await api.request("GET", `jobs/${job.id}/statuses`);
    if (selectedId !== job.id) return;
    pane.hidden = false;
    fill($("#job-history"), history.map((entry) => h("li", {},
      list.statusBadge(entry.status), " ", h("time", { datetime: entry.time }, formatTime(entry.time)),
      entry.runtime_details ? h("span", { class: "details" }, ` — ${entry.runtime_details}`) : "")));
  } catch (error) {
    // a server without status history (404) simply has no such pane
    if (error.status === 404) pane.hidden = true;
    else showError(error, "Loading the status history failed");
  }
}

// --- the live log -------------------------------------------------------------

function stopLog() {
  if (logAbort) logAbort.abort();
  logAbort = null;
}

function setLogState(text) {
  fill($("#job-log-state"), text ? `(${text})` : "");
}

function liveState() {
  return $("#job-log").textContent ? "live" : "live, waiting for the job's first output";
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

/** Follow the job's log: the SSE stream (its first event is the log so far), else
 * polling `/logs`, else no log pane. */
async function followLog(job) {
  const controller = new AbortController();
  logAbort = controller;
  const pane = $("#job-log-pane");
  pane.hidden = false;
  fill($("#job-log"));
  setLogState(TERMINAL.has(job.status) ? "" : liveState());
  let attemptNo = null;
  try {
    await api.streamEvents(`jobs/${job.id}/logs/stream`, (name, data, id) => {
      let payload = {};
      try { payload = data ? JSON.parse(data) : {}; } catch { payload = { text: data }; }
      if (name === "log") {
        // ids are "<attempt>-<offset>": a new attempt (a retry) starts its own log
        const thisAttempt = (id || "").split("-")[0] || null;
        if (attemptNo && thisAttempt && thisAttempt !== attemptNo) {
          appendLog(`\n--- attempt ${thisAttempt} ---\n`);
        }
        attemptNo = thisAttempt || attemptNo;
        appendLog(payload.text ?? "");
        if (!TERMINAL.has(jobs.get(job.id)?.status ?? job.status)) setLogState(liveState());
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
      setLogState([live ? liveState() : "", answer.truncated ? "showing the end" : ""].filter(Boolean).join(", "));
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
