"""`python -m bench.report [RESULTS.json]`: the results as Markdown (machine, command,
one table row per figure), for docs/benchmarks.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.stack import BENCH_DIR


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 100:
        return str(int(value))
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _row(f: dict[str, Any]) -> str:
    if f.get("skipped"):
        value, met = f"skipped: {f['skipped']}", ""
    elif f.get("error"):
        value, met = f"error: {f['error']}", "error"
    else:
        runs = f["runs"]
        spread = f" ({_number(min(runs))}–{_number(max(runs))})" if len(runs) > 1 else ""
        value = f"{_number(f['value'])} {f['unit']}".strip().replace(" ×", "×") + spread
        met = {True: "**yes**", False: "**no**", None: ""}[f["met"]]
    target = f["target"]["text"] if f.get("target") else ""
    return f"| {f['label']} | {value} | {target} | {met} |"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    disk = m["disk"]
    lines = [
        f"Command: `{results['command']}` ({results['mode']}, median of {results['runs']} "
        f"runs per figure; {results['duration_s'] / 60:.0f} min), started {results['started']}.",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB RAM, "
        f"{disk['fstype']} on {disk['device']} ({disk['size_gb']} GB), {m['os']}; "
        f"Python {m['python']}, PostgreSQL {m['postgres']}, SQLite {m['sqlite']}; "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
        + f". Load average at the start {m['load_average']}, at the end "
        f"{m.get('load_average_end')}. Code: commit {m['git']['commit']}"
        + (f" plus {len(m['git']['changed'])} changed files" if m["git"]["changed"] else "")
        + ".",
        "",
        *(
            f"Re-run afterwards: `{r['command']}` ({r['started']}): {r['why']}."
            for r in results.get("reruns", [])
        ),
        "",
        "| figure | value (median; min–max) | target | met? |",
        "|---|---|---|---|",
    ]
    lines += [_row(f) for f in results["figures"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else BENCH_DIR / "results" / "full.json"
    print(markdown(json.loads(path.read_text())), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
