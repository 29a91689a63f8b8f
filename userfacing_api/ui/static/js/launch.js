// The Launch view: a form generated from the application catalogue
// (GET /jobs/applications): version, entrypoint (with their descriptions), inputs
// picked from the user's files, the entrypoint's allowed environment variables (with
// what they do and their defaults), and hardware. It starts on an entrypoint that can
// run here, and is fresh again after each launch.
import * as api from "./api.js";
import { $, fill, formatDuration, h } from "./dom.js";
import { notify, showError, warn } from "./notices.js";

const INPUTS = {
  config_id: { folder: "config", label: "Config", multiple: false },
  data_ids: { folder: "data", label: "Data", multiple: true },
  artifact_ids: { folder: "artifact", label: "Artifacts", multiple: true },
};

let catalogue = {};
let available = { config_id: [], data_ids: [], artifact_ids: [] };
let nameEdited = false;
let chosenOnce = false; // the default entrypoint is picked once; then the user's choice stays
let nav = { go: () => {} };

export function init(navigation) {
  nav = navigation;
  $("#launch-app").addEventListener("change", () => { fillVersions(); suggestName(); });
  $("#launch-version").addEventListener("change", () => fillEntrypoints());
  $("#launch-entrypoint").addEventListener("change", renderEntrypoint);
  $("#launch-name").addEventListener("input", () => { nameEdited = true; });
  $("#launch-reload").addEventListener("click", () => load());
  $("#launch-form").addEventListener("submit", onSubmit);
}

export function show() {
  load();
}

async function load() {
  try {
    const [apps, ...lists] = await Promise.all([
      api.request("GET", "jobs/applications"),
      ...Object.values(INPUTS).map((input) =>
        api.listFiles(input.folder, { recursive: true }).catch(() => [])),
    ]);
    catalogue = apps;
    Object.keys(INPUTS).forEach((kind, index) => {
      const prefix = `${INPUTS[kind].folder}/`;
      available[kind] = lists[index].map((entry) => entry.path.slice(prefix.length)).filter(Boolean);
    });
  } catch (error) {
    showError(error, "Loading the applications failed");
    return;
  }
  const apps = Object.keys(catalogue).sort();
  setOptions($("#launch-app"), apps, (app) => label(app, Object.values(catalogue[app]).flatMap(Object.values)));
  if (!apps.length) {
    showError(new Error("The catalogue has no applications yet."));
    return;
  }
  const preferred = chosenOnce ? null : preferredEntrypoint(catalogue);
  chosenOnce = true;
  if (preferred) $("#launch-app").value = preferred.app;
  fillVersions(preferred);
  if (!$("#launch-name").value) suggestName();
}

/**
 * The entrypoint the form starts on: one that can run here. With the server's
 * `runnable` flags, a runnable one; without, a process entrypoint (no container, no
 * GPU) before one without a GPU before the rest; ties go alphabetically.
 */
export function preferredEntrypoint(apps) {
  const all = [];
  for (const app of Object.keys(apps).sort()) {
    for (const version of Object.keys(apps[app]).sort()) {
      for (const entrypoint of Object.keys(apps[app][version]).sort()) {
        all.push({ app, version, entrypoint, spec: apps[app][version][entrypoint] });
      }
    }
  }
  const rank = ({ spec }) => [
    spec.runnable === true ? 0 : spec.runnable === false ? 2 : 1,
    spec.handler?.runner === "process" ? 0 : 1,
    (spec.aws_resources?.hardware?.GPU || 0) > 0 ? 1 : 0,
  ];
  const order = (a, b) => {
    const [ra, rb] = [rank(a), rank(b)];
    const i = ra.findIndex((value, index) => value !== rb[index]);
    return i < 0 ? 0 : ra[i] - rb[i];
  };
  return all.sort(order)[0] || null; // sort is stable: ties stay alphabetical
}

/** An option's text: the name, and a word when none of its entrypoints can run here. */
function label(name, specs) {
  return specs.length && specs.every((spec) => spec.runnable === false) ? `${name} (cannot run here now)` : name;
}

function setOptions(select, values, text = (value) => value) {
  const previous = select.value;
  fill(select, values.map((value) => h("option", { value }, text(value))));
  if (values.includes(previous)) select.value = previous;
}

function fillVersions(preferred = null) {
  const versions = catalogue[$("#launch-app").value] || {};
  setOptions($("#launch-version"), Object.keys(versions).sort(), (v) => label(v, Object.values(versions[v])));
  if (preferred) $("#launch-version").value = preferred.version;
  fillEntrypoints(preferred);
}

function fillEntrypoints(preferred = null) {
  const entrypoints = (catalogue[$("#launch-app").value] || {})[$("#launch-version").value] || {};
  setOptions($("#launch-entrypoint"), Object.keys(entrypoints).sort(), (e) => label(e, [entrypoints[e]]));
  if (preferred) $("#launch-entrypoint").value = preferred.entrypoint;
  renderEntrypoint();
}

function selected() {
  const app = $("#launch-app").value;
  const version = $("#launch-version").value;
  const entrypoint = $("#launch-entrypoint").value;
  return { app, version, entrypoint, spec: catalogue[app]?.[version]?.[entrypoint] };
}

function suggestName() {
  if (nameEdited && $("#launch-name").value) return;
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  $("#launch-name").value = `${$("#launch-app").value || "job"}-${stamp}`;
  nameEdited = false;
}

function renderEntrypoint() {
  const { spec } = selected();
  if (!spec) {
    fill($("#launch-about"));
    fill($("#launch-input-fields"));
    fill($("#launch-env-fields"));
    return;
  }
  const hw = spec.aws_resources?.hardware || {};
  const where = spec.handler.runner === "process" ? "as a process on a worker" : `in the container ${spec.handler.image_url}`;
  const needs = [
    hw.VCPU ? `${hw.VCPU} CPU core${hw.VCPU === 1 ? "" : "s"}` : null,
    hw.MEMORY ? `${hw.MEMORY} MB of memory` : null,
    hw.GPU ? `${hw.GPU} GPU${hw.GPU === 1 ? "" : "s"}` : null,
  ].filter(Boolean);
  const timeout = spec.aws_resources?.timeout;
  const about = [spec.application_description, spec.version_description, spec.description].filter(Boolean);
  fill($("#launch-about"),
    about.map((text) => h("p", { class: "description" }, text)),
    spec.runnable === false
      ? h("p", { class: "cannot-run" }, "No worker connected now can run this entrypoint: a job would wait until one can.")
      : null,
    h("p", { class: "hint" },
      `Runs ${where}`,
      needs.length ? `; needs ${needs.join(", ")}` : "",
      timeout ? `; stopped after ${formatDuration(timeout)}` : "",
      ". Results: ", Object.keys(spec.handler.files_up || {}).join(", ") || "none", "."));
  $("#hw-cpu").placeholder = hw.VCPU ?? "any";
  $("#hw-memory").placeholder = hw.MEMORY ?? "any";
  $("#hw-gpu-mem").placeholder = "any";
  renderInputs(spec);
  renderEnv(spec);
}

function renderInputs(spec) {
  const wanted = Object.keys(spec.handler.files_down || {});
  const kinds = Object.keys(INPUTS).filter((kind) => !wanted.length || wanted.includes(kind));
  const previous = readInputs();
  fill($("#launch-input-fields"), kinds.map((kind) => {
    const input = INPUTS[kind];
    const mountedAt = (spec.handler.files_down || {})[kind] || input.folder;
    const hint = `From your ${input.folder}/ folder; the job sees it in /files/${mountedAt}/.`;
    const hintId = `in-${kind}-hint`;
    if (!input.multiple) {
      const select = h("select", { id: `in-${kind}`, "aria-describedby": hintId },
        h("option", { value: "" }, "(none)"),
        available[kind].map((path) => h("option", { value: path }, path)));
      if (available[kind].includes(previous[kind])) select.value = previous[kind];
      return h("div", { class: "field" }, h("label", { for: `in-${kind}` }, input.label), select,
        h("p", { class: "hint", id: hintId }, hint));
    }
    const boxes = available[kind].map((path, index) => h("li", {},
      h("input", { type: "checkbox", id: `in-${kind}-${index}`, value: path,
        checked: (previous[kind] || []).includes(path) }),
      h("label", { for: `in-${kind}-${index}` }, path)));
    return h("fieldset", { class: "picker", "aria-describedby": hintId, "data-kind": kind },
      h("legend", {}, input.label),
      boxes.length ? h("ul", {}, boxes)
        : h("p", { class: "hint" }, `Nothing in ${input.folder}/ yet: upload some files first.`),
      h("p", { class: "hint", id: hintId }, hint));
  }));
}

function readInputs() {
  const values = {};
  for (const [kind, input] of Object.entries(INPUTS)) {
    if (input.multiple) {
      const boxes = document.querySelectorAll(`#launch-input-fields [data-kind="${kind}"] input:checked`);
      values[kind] = [...boxes].map((box) => box.value);
    } else {
      values[kind] = $(`#in-${kind}`)?.value || null;
    }
  }
  return values;
}

function renderEnv(spec) {
  const names = spec.app.env || [];
  const descriptions = spec.app.env_descriptions || {};
  const defaults = spec.app.env_defaults || {};
  const previous = Object.fromEntries(
    [...document.querySelectorAll("#launch-env-fields input")].map((el) => [el.dataset.name, el.value]));
  $("#launch-env").hidden = false;
  fill($("#launch-env-fields"), names.length
    ? names.map((name) => {
      const hintId = `env-${name}-hint`;
      const hint = [descriptions[name], name in defaults ? `Default: ${defaults[name] || "empty"}.` : null]
        .filter(Boolean).join(" ");
      const input = h("input", { id: `env-${name}`, "data-name": name, placeholder: name in defaults ? defaults[name] : "not set",
        autocomplete: "off", "aria-describedby": hint ? hintId : null });
      input.value = previous[name] || "";
      return h("div", { class: "field" }, h("label", { for: `env-${name}` }, name), input,
        hint ? h("p", { class: "hint", id: hintId }, hint) : null);
    })
    : h("p", { class: "hint" }, "This entrypoint takes no environment variables."));
}

/** After a launch: the next job starts from a fresh form (the entrypoint stays). */
function resetForm() {
  for (const el of document.querySelectorAll("#launch-env-fields input, #launch-form input[type=number], #hw-gpu-model, #hw-gpu-archi")) {
    el.value = "";
  }
  for (const box of document.querySelectorAll("#launch-input-fields input[type=checkbox]")) box.checked = false;
  for (const select of document.querySelectorAll("#launch-input-fields select")) select.value = "";
  $("#launch-environment").value = "";
  $("#launch-priority").value = "0";
  nameEdited = false;
  $("#launch-name").value = "";
  suggestName();
}

function numberOrNull(id) {
  const text = $(id).value.trim();
  return text === "" ? null : Number(text);
}

function buildRequest() {
  const { app, version, entrypoint } = selected();
  const inputs = readInputs();
  const envVars = {};
  for (const el of document.querySelectorAll("#launch-env-fields input")) {
    if (el.value !== "") envVars[el.dataset.name] = el.value;
  }
  const hardware = {
    cpu_cores: numberOrNull("#hw-cpu"),
    memory: numberOrNull("#hw-memory"),
    gpu_mem: numberOrNull("#hw-gpu-mem"),
    gpu_model: $("#hw-gpu-model").value.trim() || null,
    gpu_archi: $("#hw-gpu-archi").value.trim() || null,
  };
  return {
    job_name: $("#launch-name").value.trim(),
    environment: $("#launch-environment").value || null,
    priority: numberOrNull("#launch-priority") ?? 0,
    application: { application: app, version, entrypoint },
    attributes: {
      files_down: {
        config_id: inputs.config_id || null,
        data_ids: inputs.data_ids?.length ? inputs.data_ids : null,
        artifact_ids: inputs.artifact_ids?.length ? inputs.artifact_ids : null,
      },
      env_vars: Object.keys(envVars).length ? envVars : null,
    },
    hardware: Object.values(hardware).some((v) => v !== null) ? hardware : null,
  };
}

function problem(body) {
  if (!body.application.entrypoint) return ["#launch-app", "Choose an application, version and entrypoint."];
  if (!body.job_name) return ["#launch-name", "Give the job a name."];
  if (body.job_name.includes("/") || body.job_name.startsWith(".")) {
    return ["#launch-name", "The job name may not contain “/” or start with “.”."];
  }
  for (const [id, label] of [["#hw-cpu", "CPU cores"], ["#hw-memory", "Memory"],
    ["#hw-gpu-mem", "GPU memory"], ["#launch-priority", "Priority"]]) {
    const value = numberOrNull(id);
    if (value !== null && (!Number.isInteger(value) || value < 0)) return [id, `${label} must be a whole number.`];
  }
  return null;
}

async function onSubmit(event) {
  event.preventDefault();
  const body = buildRequest();
  const wrong = problem(body);
  if (wrong) {
    showError(new Error(wrong[1]), "The job was not launched");
    $(wrong[0]).focus();
    return;
  }
  const button = $("#launch-submit");
  button.disabled = true;
  try {
    const job = await api.request("POST", "jobs", { json: body });
    notify(`Job ${job.job_name} launched (number ${job.id}).`);
    warn(job.warnings, `Job ${job.job_name} may not run soon:`);
    resetForm();
    nav.go("jobs", job.id);
  } catch (error) {
    showError(error, "The job was not launched");
    if (error.status === 409) $("#launch-name").focus();
  } finally {
    button.disabled = false;
  }
}
