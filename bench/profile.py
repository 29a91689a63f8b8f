"""`--profile`: record the API processes with py-spy while a benchmark measures, and
summarise where their CPU went.

py-spy samples another process from outside (it needs ptrace: root, or
`kernel.yama.ptrace_scope=0`). Each recording is kept as collapsed stacks
(`<name>.txt`, for flamegraph tools or speedscope) next to a summary of the
functions with the most samples, inclusive and own. Install with
`pip install py-spy`.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def py_spy(pid: int, out: Path, rate: int = 250) -> Iterator[None]:
    """Record `pid` until the block ends; writes `out` (collapsed stacks) and
    `out.with_suffix('.top.txt')` (the summary)."""
    exe = shutil.which("py-spy")
    if exe is None:
        raise RuntimeError("--profile needs py-spy: pip install py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
         "--output", str(out), "--nonblocking", "--threads", "--gil"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if out.exists():
            out.with_suffix(".top.txt").write_text(summary(out))
        elif err:
            out.with_suffix(".error.txt").write_bytes(err)


def _frame_name(frame: str) -> str:
    # py-spy's raw frames read "function (path/to/file.py:line)"
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def summary(collapsed: Path, top: int = 40) -> str:
    """The functions with the most samples: inclusive (on the stack) and own (on top).

    Idle threads (waiting in the event loop, on a lock or a socket) are left out:
    they hold no CPU.
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    idle = ("select (selectors", "wait (threading", "_worker (concurrent", "poll (", "epoll")
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        frames = [f for f in stack.split(";") if f and not f.startswith("thread (")]
        if not frames or any(frames[-1].startswith(i) for i in idle):
            continue
        count = int(count_text)
        total += count
        names = [_frame_name(f) for f in frames]
        for name in set(names):
            inclusive[name] += count
        own[names[-1]] += count
    lines = [f"{total} samples on CPU", "", "inclusive (on the stack):"]
    lines += [f"{n * 100 / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    lines += ["", "own (on top of the stack):"]
    lines += [f"{n * 100 / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines) + "\n"
