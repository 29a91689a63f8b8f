// A line plot drawn as inline SVG (no library): the first numeric column of a table
// against the others, e.g. a job's output/metrics.csv.

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#1f5fbf", "#d9480f", "#2b8a3e", "#862e9c", "#e8590c", "#0b7285"];
const MAX_POINTS = 2000; // per line: more cannot be told apart on a screen
const SIZE = { width: 640, height: 300, left: 58, right: 16, top: 30, bottom: 40 };

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** About `count` round tick values between low and high. */
export function ticks(low, high, count = 5) {
  if (!(high > low)) return [low];
  const raw = (high - low) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

function label(value) {
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(1);
  return String(Number(value.toPrecision(6)));
}

function extent(values) {
  let low = Infinity;
  let high = -Infinity;
  for (const v of values) {
    if (v === null) continue;
    if (v < low) low = v;
    if (v > high) high = v;
  }
  if (low === Infinity) return [0, 1];
  if (low === high) return [low - 1, high + 1];
  return [low, high];
}

/** Every k-th point, so a long series stays cheap to draw. */
function thin(xs, ys) {
  const k = Math.max(1, Math.ceil(xs.length / MAX_POINTS));
  const points = [];
  for (let i = 0; i < xs.length; i += k) {
    if (xs[i] !== null && ys[i] !== null) points.push([xs[i], ys[i]]);
  }
  return points;
}

/**
 * An <svg> of `series` ([{name, values}]) against `x` ({name, values}), with axes,
 * ticks and a legend. Text goes in as text nodes.
 */
export function linePlot(x, series, title = "") {
  const { width, height, left, right, top, bottom } = SIZE;
  const names = series.map((s) => s.name).join(", ");
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`, class: "plot", role: "img",
    "aria-label": `${title ? `${title}: ` : ""}${names} against ${x.name}`,
  });
  const [x0, x1] = extent(x.values);
  const [y0, y1] = extent(series.flatMap((s) => s.values));
  const px = (v) => left + ((v - x0) / (x1 - x0)) * (width - left - right);
  const py = (v) => height - bottom - ((v - y0) / (y1 - y0)) * (height - top - bottom);

  const axes = el("g", { class: "axes", stroke: "#8a94a3", "font-size": "11", fill: "#556070" });
  axes.append(el("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom }));
  axes.append(el("line", { x1: left, y1: top, x2: left, y2: height - bottom }));
  for (const t of ticks(x0, x1)) {
    axes.append(el("line", { x1: px(t), y1: height - bottom, x2: px(t), y2: height - bottom + 4 }));
    axes.append(el("text", { x: px(t), y: height - bottom + 16, "text-anchor": "middle", stroke: "none" }, label(t)));
  }
  for (const t of ticks(y0, y1)) {
    axes.append(el("line", { x1: left, y1: py(t), x2: width - right, y2: py(t), stroke: "#e3e7ed" }));
    axes.append(el("text", { x: left - 6, y: py(t) + 4, "text-anchor": "end", stroke: "none" }, label(t)));
  }
  axes.append(el("text", { x: (left + width - right) / 2, y: height - 6, "text-anchor": "middle", stroke: "none" }, x.name));
  svg.append(axes);

  series.forEach((s, index) => {
    const colour = COLOURS[index % COLOURS.length];
    const points = thin(x.values, s.values).map(([a, b]) => `${px(a).toFixed(1)},${py(b).toFixed(1)}`);
    const line = el("polyline", { points: points.join(" "), fill: "none", stroke: colour, "stroke-width": 1.8, "data-series": s.name });
    line.append(el("title", {}, s.name));
    svg.append(line);
    const lx = left + 12 + index * 150;
    svg.append(el("line", { x1: lx, y1: 12, x2: lx + 18, y2: 12, stroke: colour, "stroke-width": 3 }));
    svg.append(el("text", { x: lx + 24, y: 16, "font-size": "11", fill: "#1d2330" }, s.name));
  });
  return svg;
}

/** The plot of a table's numeric columns (first against the rest), or null if fewer than two. */
export function plotColumns(columns, title = "") {
  if (columns.length < 2) return null;
  const [x, ...series] = columns;
  return linePlot(x, series.slice(0, COLOURS.length), title);
}
