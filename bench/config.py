"""What a benchmark run is asked to do: quick or full sizes, how many repeats, which
databases, where to put its files, and where to say what it is doing."""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from rich.console import Console

from bench.profile import py_spy
from bench.result import Figure
from bench.stack import DB_NAMES, Stack

T = TypeVar("T")


@dataclass
class BenchConfig:
    quick: bool
    runs: int  # repeats per figure; each figure is the median over them
    dbs: tuple[str, ...]  # databases to measure on (available ones)
    tmp: Path  # scratch space: databases, storage roots, process logs
    console: Console
    skipped_dbs: dict[str, str] = field(default_factory=dict)  # kind -> why not
    profile_dir: Path | None = None  # --profile: py-spy recordings go here

    @contextlib.contextmanager
    def profiling(self, stack: Stack, label: str, *processes: str) -> Iterator[None]:
        """With --profile, record `processes` of `stack` (e.g. "user-api") with py-spy
        while the block runs, as `<label>-<process>.txt`; otherwise do nothing."""
        with contextlib.ExitStack() as recordings:
            if self.profile_dir is not None:
                for name in processes:
                    out = self.profile_dir / f"{label}-{name}.txt"
                    recordings.enter_context(py_spy(stack.procs[name].pid, out))
            yield

    def size(self, quick: T, full: T) -> T:
        """The quick-mode or the full-mode value of a size."""
        return quick if self.quick else full

    def workdir(self, name: str) -> Path:
        path = self.tmp / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def say(self, message: str) -> None:
        self.console.log(message)

    def per_db(
        self,
        name: str,
        measure: Callable[[str], list[Figure]],
        kinds: tuple[str, ...] | None = None,
    ) -> list[Figure]:
        """`measure(kind)` for every database asked for (and among `kinds`, if given); a
        failure on one database becomes an error line and the others still run."""
        figures: list[Figure] = []
        for kind in self.dbs:
            if kinds is not None and kind not in kinds:
                continue
            began = time.monotonic()
            load_before = os.getloadavg()[0]
            self.say(f"[bold]{name}[/] on {DB_NAMES[kind]}")
            try:
                measured = measure(kind)
            except Exception as exc:  # noqa: BLE001 - reported in the table and the JSON
                self.console.print(traceback.format_exc(), markup=False, highlight=False)
                measured = [failed(f"{name}.{kind}", f"{name} ({DB_NAMES[kind]})", exc)]
            # what else the machine was doing meanwhile (other processes skew the figures)
            load = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            for f in measured:
                f.details["load_average_1min"] = load
            figures.extend(measured)
            self.say(f"{name} on {DB_NAMES[kind]}: {time.monotonic() - began:.1f} s")
        return figures


def failed(key: str, label: str, exc: BaseException) -> Figure:
    return Figure(key, label, "", None, error=f"{type(exc).__name__}: {exc}")
