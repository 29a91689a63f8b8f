// The Files view: browse folders, upload files and folders (buttons or drag and drop,
// with progress, speed and time left), create folders, look at, download and delete.
import * as api from "./api.js";
import { $, basename, fill, h } from "./dom.js";
import { attempt, notify, showError } from "./notices.js";
import { RateMeter, describeDone, describeProgress } from "./transfer.js";
import * as viewer from "./viewer.js";

const UPLOADABLE = ["config", "data", "artifact"];
const PARALLEL_UPLOADS = 3;

let folder = ""; // the open folder: "" (the root) or "data/exp1/"
let uploadAbort = null;

const topFolder = () => folder.split("/")[0];
const canUpload = () => UPLOADABLE.includes(topFolder());

export function init() {
  $("#upload-files").addEventListener("click", () => $("#pick-files").click());
  $("#upload-folder").addEventListener("click", () => $("#pick-folder").click());
  $("#pick-files").addEventListener("change", (event) => {
    const picked = [...event.target.files].map((file) => ({ file, dir: "" }));
    event.target.value = "";
    upload(picked, []);
  });
  $("#pick-folder").addEventListener("change", (event) => {
    // webkitRelativePath is "chosen-folder/sub/file.csv": keep that layout
    const picked = [...event.target.files].map((file) => ({
      file,
      dir: (file.webkitRelativePath || file.name).split("/").slice(0, -1).join("/"),
    }));
    event.target.value = "";
    upload(picked, []);
  });
  $("#refresh-files").addEventListener("click", () => load());
  $("#mkdir-form").addEventListener("submit", onMakeFolder);
  $("#upload-cancel").addEventListener("click", () => uploadAbort && uploadAbort.abort());
  const view = $("#view-files");
  const zone = $("#drop-zone");
  view.addEventListener("dragover", (event) => {
    if (![...(event.dataTransfer?.types || [])].includes("Files")) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = canUpload() ? "copy" : "none";
    zone.classList.add("dragging");
  });
  view.addEventListener("dragleave", (event) => {
    if (!view.contains(event.relatedTarget)) zone.classList.remove("dragging");
  });
  view.addEventListener("drop", onDrop);
}

export function show() {
  load();
}

/** Open a folder ("" for the root). */
export function open(path) {
  folder = path && !path.endsWith("/") ? `${path}/` : path || "";
  load();
}

async function load() {
  renderCrumbs();
  renderUploadState();
  let entries;
  try {
    entries = await api.listFiles(folder);
  } catch (error) {
    if (error.status === 404 && folder) {
      showError(error, `Cannot open ${folder}`);
      open("");
      return;
    }
    showError(error, "Listing the files failed");
    return;
  }
  renderEntries(entries);
}

function renderCrumbs() {
  const parts = folder.split("/").filter(Boolean);
  const items = [h("li", {}, parts.length
    ? h("button", { type: "button", class: "link", onclick: () => open("") }, "All files")
    : h("span", { "aria-current": "location" }, "All files"))];
  parts.forEach((part, index) => {
    const path = `${parts.slice(0, index + 1).join("/")}/`;
    items.push(h("li", {}, index === parts.length - 1
      ? h("span", { "aria-current": "location" }, part)
      : h("button", { type: "button", class: "link", onclick: () => open(path) }, part)));
  });
  fill($("#crumbs"), h("ol", {}, items));
}

function renderUploadState() {
  const allowed = canUpload();
  for (const id of ["#upload-files", "#upload-folder"]) $(id).disabled = !allowed;
  $("#mkdir-form").hidden = !allowed;
  $("#drop-zone").classList.toggle("disabled", !allowed);
  fill($("#drop-text"), allowed
    ? ["Drop files or folders here to upload them into ", h("strong", {}, folder), "."]
    : "Uploads go into config/, data/ or artifact/: open one of these folders first.");
}

function renderEntries(entries) {
  const folders = entries.filter((entry) => entry.type === "directory");
  const others = entries.filter((entry) => entry.type !== "directory");
  const rows = [...folders, ...others].map((entry) => {
    const isDir = entry.type === "directory";
    const name = basename(entry.path);
    const nameCell = isDir
      ? h("button", { type: "button", class: "link folder", onclick: () => open(entry.path) }, `${name}/`)
      : h("span", { class: "file" }, name);
    const actions = [
      !isDir && viewer.canShow(entry.path) ? h("button", {
        type: "button",
        "aria-label": `View ${name}`,
        onclick: () => viewer.open(entry.path),
      }, "View") : null,
      h("button", {
        type: "button",
        "aria-label": isDir ? `Download zip of ${name}/` : `Download ${name}`,
        onclick: () => attempt(`Downloading ${entry.path}`, async () => {
          const saved = await api.download(entry.path, { isDir });
          notify(`Downloading ${saved}`);
        }),
      }, isDir ? "Download zip" : "Download"),
    ];
    if (folder) {
      actions.push(h("button", {
        type: "button",
        class: "danger",
        "aria-label": `Delete ${name}`,
        onclick: () => remove(entry.path),
      }, "Delete"));
    }
    return h("tr", {}, h("td", {}, nameCell), h("td", { class: "num" }, entry.size || "—"),
      h("td", { class: "actions" }, actions));
  });
  if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 3, class: "hint" }, "This folder is empty.")));
  fill($("#files-table tbody"), rows);
  fill($("#files-caption"), folder ? `Contents of ${folder}` : "Your folders");
}

async function remove(path) {
  const what = path.endsWith("/") ? `the folder ${path} and everything in it` : path;
  if (!window.confirm(`Delete ${what}? This cannot be undone.`)) return;
  await attempt(`Deleting ${path}`, async () => {
    await api.deleteFile(path);
    notify(`Deleted ${path}`);
  });
  load();
}

async function onMakeFolder(event) {
  event.preventDefault();
  const input = $("#mkdir-name");
  const name = input.value.trim().replace(/^\/+|\/+$/g, "");
  if (!name) {
    showError(new Error("Enter a name for the new folder."));
    return;
  }
  const made = await attempt(`Creating the folder ${name}`, () => api.makeFolder(`${folder}${name}`));
  if (made) {
    input.value = "";
    notify(`Created ${made.path}`);
    load();
  }
}

// --- drag and drop ------------------------------------------------------------

function onDrop(event) {
  event.preventDefault();
  $("#drop-zone").classList.remove("dragging");
  if (!canUpload()) {
    showError(new Error("Open config/, data/ or artifact/ (or a folder inside them) to upload there."));
    return;
  }
  // The entries must be taken now: the DataTransfer is emptied once this handler returns.
  const items = [...(event.dataTransfer.items || [])].filter((item) => item.kind === "file");
  const entries = items.map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
  const plain = [...event.dataTransfer.files];
  if (entries.length && entries.every(Boolean)) {
    collect(entries).then(({ found, emptyDirs }) => upload(found, emptyDirs),
      (error) => showError(error, "Reading the dropped folder failed"));
  } else {
    upload(plain.map((file) => ({ file, dir: "" })), []);
  }
}

/** Walk dropped entries: every file with its folder relative to the drop, and empty folders. */
export async function collect(entries) {
  const found = [];
  const emptyDirs = [];
  const walk = async (entry, dir) => {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      found.push({ file, dir });
      return;
    }
    const path = dir ? `${dir}/${entry.name}` : entry.name;
    const reader = entry.createReader();
    let children = [];
    for (;;) { // readEntries hands out at most 100 entries per call
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) break;
      children = children.concat(batch);
    }
    if (!children.length) emptyDirs.push(path);
    for (const child of children) await walk(child, path);
  };
  for (const entry of entries) await walk(entry, "");
  return { found, emptyDirs };
}

// --- uploads ------------------------------------------------------------------

/** Upload [{file, dir}] into the open folder (dir is relative to it), with progress. */
async function upload(picked, emptyDirs) {
  if (!picked.length && !emptyDirs.length) return;
  if (!canUpload()) {
    showError(new Error("Open config/, data/ or artifact/ (or a folder inside them) to upload there."));
    return;
  }
  const base = folder;
  const total = picked.reduce((sum, item) => sum + item.file.size, 0) || 1;
  const loaded = new Map();
  const totalBar = $("#upload-total");
  const totalText = $("#upload-total-text");
  const list = $("#upload-list");
  $("#uploads").hidden = false;
  $("#upload-cancel").disabled = false;
  fill(list);
  uploadAbort = new AbortController();
  const { signal } = uploadAbort;

  const meter = new RateMeter();
  const update = () => {
    const done = [...loaded.values()].reduce((a, b) => a + b, 0);
    meter.add(done);
    totalBar.max = total;
    totalBar.value = done;
    fill(totalText, describeProgress(done, total, meter.rate()));
  };
  const jobs = picked.map((item, index) => {
    const target = `${base}${item.dir ? `${item.dir}/` : ""}`;
    const label = `${item.dir ? `${item.dir}/` : ""}${item.file.name}`;
    const bar = h("progress", { max: Math.max(item.file.size, 1), value: 0, id: `upload-${index}` });
    const state = h("span", { class: "upload-state" }, "waiting");
    list.append(h("li", {}, h("label", { for: `upload-${index}` }, label), bar, state));
    return { item, target, label, bar, state };
  });
  update();

  const failures = [];
  let uploaded = 0;
  let next = 0;
  const worker = async () => {
    while (next < jobs.length && !signal.aborted) {
      const job = jobs[next++];
      fill(job.state, "uploading");
      try {
        await api.uploadFile(job.target, job.item.file, {
          signal,
          onProgress: (done) => {
            job.bar.value = done;
            loaded.set(job, done);
            update();
          },
        });
        fill(job.state, "done");
        uploaded += 1;
      } catch (error) {
        fill(job.state, `failed: ${error.message}`);
        job.state.classList.add("failed");
        failures.push(`${job.label}: ${error.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_UPLOADS, jobs.length) }, worker));
  for (const dir of emptyDirs) {
    await attempt(`Creating ${dir}`, () => api.makeFolder(`${base}${dir}`));
  }
  $("#upload-cancel").disabled = true;
  uploadAbort = null;
  const sent = [...loaded.values()].reduce((a, b) => a + b, 0);
  if (!signal.aborted && !failures.length) fill(totalText, `Done: ${describeDone(sent, meter.elapsed())}`);
  if (signal.aborted) {
    for (const job of jobs) if (job.state.textContent === "waiting") fill(job.state, "cancelled");
  }
  if (failures.length) {
    showError(new Error(failures.join("; ")), `${failures.length} of ${jobs.length} uploads failed`);
  }
  if (uploaded) notify(`Uploaded ${uploaded} file${uploaded === 1 ? "" : "s"} to ${base}`);
  if (folder === base) load();
}
