"""The `demo` application: a small analysis that needs nothing but Python.

It reads every data file under `<files>/data`, the first config file under
`<files>/config`, and writes real results: per-file statistics and a summary to
`output/`, a log to `log/`, and a "model" (the fitted statistics) to `model/`,
which the catalogue uploads as the job's artifact. Numbers in CSV/TSV/text data
are summed and averaged, so a scientist sees their own data reflected back: also as
`output/metrics.csv` (each number and the running mean, which the web page plots)
and `output/histogram.svg` (their distribution).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import sys
import time
from html import escape
from pathlib import Path

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
MAX_POINTS = 10_000  # rows of metrics.csv: the first numbers, enough for a plot
HISTOGRAM_BINS = 10


def read_config(config_dir: Path) -> dict[str, str]:
    """`key: value` or `key=value` lines, or a JSON object, from the first config file."""
    files = sorted(p for p in config_dir.rglob("*") if p.is_file()) if config_dir.is_dir() else []
    if not files:
        return {}
    text = files[0].read_text(errors="replace")
    try:
        loaded = json.loads(text)
        if isinstance(loaded, dict):
            return {str(k): str(v) for k, v in loaded.items()}
    except ValueError:
        pass
    config = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        key, sep, value = line.partition(":") if ":" in line else line.partition("=")
        if sep and key.strip():
            config[key.strip()] = value.strip()
    return config


def numbers_in(data: bytes) -> list[float]:
    return [float(m) for m in NUMBER.findall(data.decode(errors="replace"))]


def describe(data: bytes, numbers: list[float]) -> dict[str, object]:
    return {
        "bytes": len(data),
        "lines": data.count(b"\n"),
        "sha256": hashlib.sha256(data).hexdigest(),
        "numbers": len(numbers),
        "sum": sum(numbers),
        "mean": statistics.fmean(numbers) if numbers else None,
    }


def write_metrics(path: Path, numbers: list[float]) -> None:
    """`index,value,running_mean`: one row per number (the first MAX_POINTS)."""
    lines = ["index,value,running_mean"]
    total = 0.0
    for index, value in enumerate(numbers[:MAX_POINTS], 1):
        total += value
        lines.append(f"{index},{value:g},{total / index:.6g}")
    path.write_text("\n".join(lines) + "\n")


def histogram_svg(numbers: list[float], bins: int = HISTOGRAM_BINS) -> str:
    """A bar chart of how the numbers are distributed, as a standalone SVG."""
    width, height, pad = 480, 260, 36
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{pad}" y="20" font-weight="bold">Distribution of the numbers</text>',
    ]
    if not numbers:
        parts.append(f'<text x="{pad}" y="{height // 2}">no numbers in the data</text>')
        return "".join(parts) + "</svg>\n"
    low, high = min(numbers), max(numbers)
    step = (high - low) / bins or 1.0
    counts = [0] * bins
    for value in numbers:
        counts[min(int((value - low) / step), bins - 1)] += 1
    plot_w, plot_h = width - 2 * pad, height - 2 * pad - 10
    bar_w = plot_w / bins
    for i, count in enumerate(counts):
        bar_h = plot_h * count / max(counts)
        x, y = pad + i * bar_w, pad + 10 + plot_h - bar_h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{bar_h:.1f}" '
            f'fill="#1f5fbf"><title>{count}</title></rect>'
        )
    base = pad + 10 + plot_h
    parts.append(f'<line x1="{pad}" y1="{base}" x2="{width - pad}" y2="{base}" stroke="#333"/>')
    for x, label in ((pad, f"{low:g}"), (width - pad, f"{high:g}")):
        parts.append(f'<text x="{x}" y="{base + 16}" text-anchor="middle">{escape(label)}</text>')
    parts.append(f'<text x="{width - pad}" y="20" text-anchor="end">{len(numbers)} numbers</text>')
    return "".join(parts) + "</svg>\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", default=os.environ.get("FILES_DIR", "/files"))
    args = parser.parse_args(argv)
    root = Path(args.files)
    out, log_dir, model = root / "output", root / "log", root / "model"
    for folder in (out, log_dir, model):
        folder.mkdir(parents=True, exist_ok=True)

    config = read_config(root / "config")
    greeting = os.environ.get("DEMO_GREETING") or config.get("greeting", "hello")
    delay = float(os.environ.get("DEMO_SLEEP") or config.get("sleep", 0) or 0)
    fail = (os.environ.get("DEMO_FAIL") or config.get("fail", "")).lower() in ("1", "true", "yes")

    with (log_dir / "demo.log").open("w") as log:

        def say(message: str) -> None:
            print(message, flush=True)
            log.write(message + "\n")
            log.flush()

        say(f"{greeting}! demo analysis starting in {root}")
        say(f"config: {json.dumps(config, sort_keys=True)}")
        data_files = sorted(p for p in (root / "data").rglob("*") if p.is_file())
        results = {}
        all_numbers: list[float] = []
        for i, path in enumerate(data_files, 1):
            rel = path.relative_to(root / "data").as_posix()
            data = path.read_bytes()
            numbers = numbers_in(data)
            results[rel] = describe(data, numbers)
            all_numbers.extend(numbers)
            say(
                f"[{i}/{len(data_files)}] {rel}: {results[rel]['bytes']} bytes, "
                f"{results[rel]['numbers']} numbers"
            )
        steps = int(delay) if delay >= 1 else 0
        for step in range(steps):
            say(f"working… {step + 1}/{steps}")
            time.sleep(delay / steps)
        if 0 < delay < 1:
            time.sleep(delay)
        if fail:
            say("failing on purpose (fail: true in the config)")
            return 3

        all_numbers_sum = sum(float(r["sum"]) for r in results.values())  # type: ignore[arg-type]
        summary = {
            "job": os.environ.get("LABCLOUD_JOB_ID"),
            "attempt": os.environ.get("LABCLOUD_ATTEMPT"),
            "greeting": greeting,
            "files": len(results),
            "total_sum": all_numbers_sum,
            "config": config,
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        (out / "per_file.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        (out / "report.txt").write_text(
            "\n".join(
                [
                    f"{greeting}!",
                    f"{len(results)} data file(s) analysed.",
                    f"sum of all numbers: {all_numbers_sum}",
                ]
            )
            + "\n"
        )
        write_metrics(out / "metrics.csv", all_numbers)
        (out / "histogram.svg").write_text(histogram_svg(all_numbers))
        (model / "model.json").write_text(
            json.dumps(
                {"kind": "demo-model", "means": {k: v["mean"] for k, v in results.items()}},
                indent=2,
                sort_keys=True,
            )
            + "\n"
        )
        say(f"done: {len(results)} file(s), results in output/, model in model/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
