"""`python -m bench`: run the benchmarks, print a table, write the results as JSON.

    python -m bench                       # everything, full sizes, 3 runs per figure
    python -m bench --quick               # small sizes, 1 run: proves they still work (CI)
    python -m bench --only claim,latency  # some of them
    python -m bench --db sqlite           # one database only

Exit status: 0 when every benchmark ran (whether or not it met its target), 1 when
one failed, 2 for a bad command line. Targets are reported, never asserted: the
figures depend on the machine and on what else it is doing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import machine
from bench.config import BenchConfig, failed
from bench.result import Figure
from bench.stack import BENCH_DIR, DB_KINDS, DB_NAMES, postgres_available

# name -> module `bench.<name>`, whose `run(cfg)` returns its figures; in the order
BENCHMARKS = (
    "submit",
    "claim",
    "claim_depth",
    "latency",
    "throughput",
    "heartbeat",
    "bytes",
    "listing",
    "signin",
)


def benchmark(name: str) -> Callable[[BenchConfig], list[Figure]]:
    run: Callable[[BenchConfig], list[Figure]] = importlib.import_module(f"bench.{name}").run
    return run


def _names(text: str, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}"
        )
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="How fast labcloud moves jobs and bytes, measured on this machine.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one run (CI)")
    parser.add_argument(
        "--only",
        type=lambda t: _names(t, BENCHMARKS, "benchmark"),
        default=BENCHMARKS,
        metavar="NAME[,NAME]",
        help=f"run only these: {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--db",
        type=lambda t: _names(t, DB_KINDS, "database"),
        default=DB_KINDS,
        metavar="KIND[,KIND]",
        help="sqlite, postgres or both (default; PostgreSQL is skipped if not reachable)",
    )
    parser.add_argument(
        "--runs", type=int, default=None, help="repeats per figure (default: 1 quick, 3 full)"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help="where to write the results (default: bench/results/quick.json or full.json)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        nargs="?",
        const=BENCH_DIR / "results" / "profiles",
        default=None,
        metavar="DIR",
        help="record the API processes with py-spy while measuring "
        "(default DIR: bench/results/profiles)",
    )
    parser.add_argument(
        "--tmp", type=Path, default=None, help="scratch directory (default: a temp dir)"
    )
    return parser.parse_args(argv)


def _value(f: Figure) -> str:
    if f.skipped:
        return f"skipped: {f.skipped}"
    if f.error:
        return f"[red]error: {f.error[:120]}[/]"
    if f.value is None:
        return "–"
    spread = f" ({min(f.runs):.4g}–{max(f.runs):.4g})" if len(f.runs) > 1 else ""
    return f"{f.value:.4g} {f.unit}{spread}"


def _met(f: Figure) -> str:
    if f.error:
        return "[red]error[/]"
    met = f.met
    return "" if met is None else "[green]yes[/]" if met else "[red]no[/]"


def table(figures: list[Figure], title: str) -> Table:
    out = Table(title=title, show_lines=False)
    out.add_column("figure")
    out.add_column("value (median; min–max)", justify="right")
    out.add_column("target", justify="right")
    out.add_column("met?", justify="center")
    for f in figures:
        out.add_row(f.label, _value(f), f.target_text, _met(f))
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=False)
    runs = args.runs or (1 if args.quick else 3)
    dbs, skipped = tuple(args.db), {}
    if "postgres" in dbs and (why := postgres_available()):
        dbs = tuple(d for d in dbs if d != "postgres")
        skipped["postgres"] = why
        console.print(f"[yellow]{why}: PostgreSQL figures are skipped[/]")
    mode = "quick" if args.quick else "full"
    out_path = args.json or BENCH_DIR / "results" / f"{mode}.json"
    command = f"python -m bench {shlex.join(argv if argv is not None else sys.argv[1:])}".strip()
    started = dt.datetime.now(dt.UTC)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="labcloud-bench-", dir=args.tmp) as tmp:
        cfg = BenchConfig(args.quick, runs, dbs, Path(tmp), console, skipped, args.profile)
        about = machine.describe(Path(tmp))
        for name in args.only:
            began = time.monotonic()
            console.rule(name)
            try:
                figures.extend(benchmark(name)(cfg))
            except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the rest
                console.print_exception()
                figures.append(failed(name, name, exc))
            console.log(f"{name}: {time.monotonic() - began:.1f} s")
        about["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    duration = (dt.datetime.now(dt.UTC) - started).total_seconds()
    title = f"labcloud benchmarks ({mode}, median of {runs} run{'s' if runs > 1 else ''})"
    console.print(table(figures, title))
    for kind, why in skipped.items():
        console.print(f"[yellow]{DB_NAMES[kind]} skipped: {why}[/]")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(
        json.dumps(
            {
                "command": command,
                "mode": mode,
                "runs": runs,
                "started": started.isoformat(timespec="seconds"),
                "duration_s": round(duration, 1),
                "machine": about,
                "skipped": skipped,
                "figures": [f.as_json() for f in figures],
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    console.print(f"results: {out_path} ({duration:.0f} s)")
    return 1 if any(f.error for f in figures) else 0
