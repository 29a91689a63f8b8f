// Look at a file in the page (a dialog): text and logs, JSON pretty-printed, CSV and
// TSV as a table (and a plot of their numeric columns), PNG/JPEG/GIF/WebP/SVG images.
// Only the first TEXT_CAP bytes of a text are read (a 2 GB log costs 1 MB), an image
// over IMAGE_CAP is not shown; the full file is a download away. An SVG is shown as
// an <img> of a blob URL, never put into the page, so its scripts never run.
import * as api from "./api.js";
import { $, basename, extension, fill, formatBytes, h } from "./dom.js";
import { parseCsv, numericColumns } from "./csv.js";
import { plotColumns } from "./plot.js";
import { attempt } from "./notices.js";

export const TEXT_CAP = 1024 * 1024;
export const IMAGE_CAP = 20 * 1024 * 1024;
const TABLE_ROWS = 500;
const IMAGES = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp", svg: "image/svg+xml" };
const TABLES = { csv: ",", tsv: "\t" };
const TEXTS = new Set(["txt", "log", "out", "err", "md", "yaml", "yml", "json", "ini", "cfg", "conf",
  "toml", "py", "sh", "r", "m", "xml", "html", "tex", "dat", "nf", "smk", "cwl", ""]);

let blobUrl = null;
let abort = null;

/** Whether the viewer knows how to show this file. */
export function canShow(path) {
  const ext = extension(path);
  return ext in IMAGES || ext in TABLES || TEXTS.has(ext);
}

export function init() {
  const dialog = $("#viewer");
  $("#viewer-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", reset);
}

function reset() {
  if (abort) abort.abort();
  abort = null;
  if (blobUrl) URL.revokeObjectURL(blobUrl);
  blobUrl = null;
  fill($("#viewer-body"));
}

/** Open the viewer on a file of the user's storage, e.g. "output/run1/output/report.txt". */
export async function open(path) {
  const dialog = $("#viewer");
  reset();
  fill($("#viewer-title"), basename(path));
  fill($("#viewer-path"), path);
  fill($("#viewer-size"));
  $("#viewer-download").onclick = () => attempt(`Downloading ${path}`, () => api.download(path));
  fill($("#viewer-body"), h("p", { class: "hint" }, "Loading…"));
  if (!dialog.open) dialog.showModal();
  const controller = new AbortController();
  abort = controller;
  const ext = extension(path);
  try {
    const response = await api.openFile(path, { signal: controller.signal });
    const cap = ext in IMAGES ? IMAGE_CAP : TEXT_CAP;
    const { bytes, total, truncated } = await api.readCapped(response, cap);
    if (abort !== controller) return;
    const size = total ?? bytes.length;
    fill($("#viewer-size"), total !== null || !truncated ? formatBytes(size) : `over ${formatBytes(cap)}`);
    fill($("#viewer-body"), render(ext, bytes, truncated, size, basename(path)));
  } catch (error) {
    if (controller.signal.aborted) return;
    fill($("#viewer-body"), h("p", { class: "error-inline", role: "alert" }, `Cannot show ${path}: ${error.message}`));
  }
}

function cutNote(shown, size) {
  return h("p", { class: "viewer-cut" },
    `Showing the first ${formatBytes(shown)} of ${formatBytes(size)}: download the file for the rest.`);
}

function render(ext, bytes, truncated, size, name) {
  if (ext in IMAGES) {
    if (truncated) {
      return h("p", { class: "viewer-cut" }, `This image is too large to show here (over ${formatBytes(IMAGE_CAP)}): download it.`);
    }
    blobUrl = URL.createObjectURL(new Blob([bytes], { type: IMAGES[ext] }));
    return h("img", { class: "viewer-image", src: blobUrl, alt: name });
  }
  if (looksBinary(bytes)) {
    return h("p", { class: "hint" }, "This file is not text: download it to open it.");
  }
  const text = new TextDecoder().decode(bytes);
  const note = truncated ? cutNote(bytes.length, size) : null;
  if (ext in TABLES) return [note, table(parseCsv(text, TABLES[ext]), truncated)];
  if (ext === "json" && !truncated) {
    try {
      return h("pre", { class: "viewer-text json" }, JSON.stringify(JSON.parse(text), null, 2));
    } catch {
      return [h("p", { class: "hint" }, "Not valid JSON: shown as it is."), h("pre", { class: "viewer-text" }, text)];
    }
  }
  return [note, h("pre", { class: "viewer-text", tabindex: 0 }, text)];
}

/** NUL bytes in the first 8 KiB: a binary file, not a text. */
function looksBinary(bytes) {
  return bytes.subarray(0, 8192).includes(0);
}

function table(rows, truncated) {
  if (truncated && rows.length > 1) rows = rows.slice(0, -1); // the last row may be cut
  if (!rows.length) return h("p", { class: "hint" }, "This table is empty.");
  const [header, ...body] = rows;
  const shown = body.slice(0, TABLE_ROWS);
  const plot = plotColumns(numericColumns([header, ...body]));
  return [
    plot ? h("figure", { class: "viewer-plot" }, plot, h("figcaption", { class: "hint" }, "The first numeric column against the others.")) : null,
    h("div", { class: "table-scroll", tabindex: 0 },
      h("table", { class: "table data-table" },
        h("thead", {}, h("tr", {}, header.map((name) => h("th", { scope: "col" }, name)))),
        h("tbody", {}, shown.map((row) => h("tr", {}, header.map((_, i) => h("td", {}, row[i] ?? ""))))))),
    body.length > shown.length ? h("p", { class: "hint" }, `Showing ${shown.length} of ${body.length} rows.`) : null,
  ];
}
