// The open job's results: its output, log and artifact folders, each file to look at
// (the viewer) or download, and a plot of its metrics when it reports some: a file
// named metrics.csv in its output (a header row, then numbers: the first column
// against the others).
import * as api from "./api.js";
import { fill, h } from "./dom.js";
import { numericColumns, parseCsv } from "./csv.js";
import { plotColumns } from "./plot.js";
import { attempt, showError } from "./notices.js";
import * as viewer from "./viewer.js";

const RESULT_KINDS = [["output", "Output"], ["log", "Logs"], ["artifact", "Artifacts"]];
export const METRICS_FILE = "metrics.csv";

/** Fill `target` with the job's results; `current()` says whether the job is still open. */
export async function show(target, job, ended, current) {
  const listed = await Promise.all(RESULT_KINDS.map(async ([kind]) => {
    try {
      return await api.listFiles(job.paths_out[kind], { recursive: true, showDirs: false });
    } catch (error) {
      if (error.status !== 404) showError(error, `Listing ${job.paths_out[kind]} failed`);
      return [];
    }
  }));
  if (!current()) return;
  const groups = RESULT_KINDS.map(([kind, label], index) => group(job, kind, label, listed[index], ended));
  const metrics = findMetrics(listed[0]);
  const figure = metrics ? h("figure", { class: "metrics", id: "job-metrics" },
    h("figcaption", {}, h("strong", {}, "Metrics "), h("span", { class: "hint" }, metrics.path)),
    h("p", { class: "hint" }, "Loading the plot…")) : null;
  fill(target, figure, groups);
  if (figure) drawMetrics(figure, metrics.path, current);
}

/** The output's metrics.csv nearest its top, if any. */
function findMetrics(files) {
  const named = files.filter((file) => file.path.split("/").pop() === METRICS_FILE);
  named.sort((a, b) => a.path.split("/").length - b.path.split("/").length);
  return named[0] || null;
}

async function drawMetrics(figure, path, current) {
  let note;
  try {
    const { bytes, truncated } = await api.readCapped(await api.openFile(path), viewer.TEXT_CAP);
    let rows = parseCsv(new TextDecoder().decode(bytes));
    if (truncated) rows = rows.slice(0, -1); // the last row may be cut
    const plot = plotColumns(numericColumns(rows), "Metrics");
    note = plot || h("p", { class: "hint" }, "No numbers to plot in it (a header row, then numeric columns).");
    if (plot && truncated) note = [plot, h("p", { class: "hint" }, `Plotted from the first ${viewer.TEXT_CAP / 1024 / 1024} MB.`)];
  } catch (error) {
    note = h("p", { class: "hint" }, `Cannot plot it: ${error.message}`);
  }
  if (!current()) return;
  figure.querySelector("p.hint")?.remove();
  figure.append(...[note].flat());
}

function group(job, kind, label, files, ended) {
  const folder = job.paths_out[kind];
  const heading = h("h4", {}, `${label} `, h("span", { class: "hint" }, `${folder}/`));
  if (!files.length) {
    return h("div", { class: "result-group" }, h("div", { class: "result-head" }, heading),
      h("p", { class: "hint" }, ended ? "none" : "none yet"));
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
        viewer.canShow(file.path) ? h("button", {
          type: "button",
          class: "small",
          "aria-label": `View ${name} (${kind})`,
          onclick: () => viewer.open(file.path),
        }, "View") : h("span"),
        h("button", {
          type: "button",
          class: "small",
          "aria-label": `Download ${name} (${kind})`,
          onclick: () => attempt(`Downloading ${file.path}`, () => api.download(file.path)),
        }, "Download"));
    })));
}
