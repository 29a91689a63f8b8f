"""7. Bytes: upload of a 1 GiB file and download of a 1 GiB directory as a zip through
the user API: MB/s and the peak RSS growth of the API process. Targets: RSS growth
< 64 MiB; throughput ≥ 50 % of a plain local file copy on the same disk, measured
in the same run.

The upload is one multipart `POST /files/data/bench/upload` streamed from a file by
httpx; the download is `GET /files/data/bigdir/download` (a zip built while it is
sent) read in 1 MiB pieces and thrown away. The reference is `cp` of the same file
to the same file system, timed until it returns (the data in the page cache, as the
API's are when it answers); `cp` followed by fsync (the disk's own speed) is kept
as a detail.
RSS is sampled every 5 ms; on Linux the kernel's own peak (VmHWM, reset before each
transfer through /proc/<pid>/clear_refs) is used when it can be reset.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.config import BenchConfig
from bench.result import Figure, Target, figure, rounded
from bench.stack import platform

NAME = "bytes"
MIB = 1 << 20
RSS_TARGET = Target("<", 64)
SHARE_TARGET = Target(">=", 50)
USER = "bytes@example.org"


def run(cfg: BenchConfig) -> list[Figure]:
    # The database plays no part in moving bytes: SQLite only.
    return cfg.per_db(NAME, lambda kind: measure(cfg, kind), kinds=("sqlite",))


def write_file(path: Path, size: int) -> None:
    """`size` bytes of incompressible data (a random 16 MiB block, repeated)."""
    block = os.urandom(16 * MIB)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        left = size
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= len(block)


class PeakRSS:
    """The highest RSS of a process while the block runs, minus its RSS before."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.process = psutil.Process(pid)
        self.samples_peak = 0
        self.kernel_peak: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _status(self, field: str) -> int | None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return None

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.samples_peak = max(self.samples_peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRSS:
        try:  # "5" resets the peak RSS (VmHWM) to the current RSS
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self._can_reset = True
        except OSError:
            self._can_reset = False
        self.before: int = self.process.memory_info().rss
        self.samples_peak = self.before
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._can_reset:
            self.kernel_peak = self._status("VmHWM")

    @property
    def growth_mib(self) -> float:
        peak = max(self.samples_peak, self.kernel_peak or 0)
        return (peak - self.before) / MIB


def timed_copy(src: Path, dst: Path, durable: bool = False) -> float:
    """MB/s of `cp src dst`: until cp returns (the data in the page cache, as the API's
    writes are when it answers), or with `durable` until an fsync says it is on disk."""
    dst.unlink(missing_ok=True)
    began = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    if durable:
        fd = os.open(dst, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    elapsed = time.perf_counter() - began
    dst.unlink()
    return src.stat().st_size / 1e6 / elapsed


def upload(http: httpx.Client, pid: int, src: Path) -> tuple[float, float]:
    """(MB/s, RSS growth MiB) of one upload."""
    with PeakRSS(pid) as rss, src.open("rb") as fh:
        began = time.perf_counter()
        response = http.post("/files/data/bench/upload", files={"file": ("big.bin", fh)})
        elapsed = time.perf_counter() - began
    if response.status_code != 201:
        raise RuntimeError(f"upload: {response.status_code}: {response.text[:200]}")
    return src.stat().st_size / 1e6 / elapsed, rss.growth_mib


def download(http: httpx.Client, pid: int, expected: int) -> tuple[float, float]:
    """(MB/s, RSS growth MiB) of one zip download of data/bigdir."""
    got = 0
    with PeakRSS(pid) as rss:
        began = time.perf_counter()
        with http.stream("GET", "/files/data/bigdir/download") as response:
            if response.status_code != 200:
                raise RuntimeError(f"download: {response.status_code}")
            for chunk in response.iter_raw(MIB):
                got += len(chunk)
        elapsed = time.perf_counter() - began
    if got < expected:
        raise RuntimeError(f"download: {got} bytes, expected at least {expected}")
    return got / 1e6 / elapsed, rss.growth_mib


def measure(cfg: BenchConfig, kind: str) -> list[Figure]:
    size = cfg.size(64 * MIB, 1024 * MIB)
    parts = 8
    work = cfg.workdir(f"{NAME}-{kind}")
    src = work / "source.bin"
    write_file(src, size)
    copies: list[float] = []
    durable: list[float] = []  # cp then fsync: what the disk itself sustains
    ups: list[tuple[float, float]] = []
    downs: list[tuple[float, float]] = []
    with platform(kind, work, worker_api=False) as stack:
        http = stack.user_client(USER, timeout=600)
        bigdir = stack.storage_root / USER / "data" / "bigdir"
        for n in range(parts):
            write_file(bigdir / f"part-{n}.bin", size // parts)
        pid = stack.procs["user-api"].pid
        for r in range(cfg.runs):
            copies.append(timed_copy(src, work / "copy.bin"))
            durable.append(timed_copy(src, work / "copy.bin", durable=True))
            with cfg.profiling(stack, f"{NAME}-upload-run{r}", "user-api"):
                ups.append(upload(http, pid, src))
            with cfg.profiling(stack, f"{NAME}-download-run{r}", "user-api"):
                downs.append(download(http, pid, size))
            cfg.say(
                f"  run {r + 1}: cp {copies[-1]:.0f} MB/s, upload {ups[-1][0]:.0f} MB/s "
                f"(+{ups[-1][1]:.1f} MiB), download {downs[-1][0]:.0f} MB/s "
                f"(+{downs[-1][1]:.1f} MiB)"
            )
        shutil.rmtree(bigdir)
    src.unlink()
    gib = f"{size / 1024 / MIB:g} GiB" if size >= 1024 * MIB else f"{size // MIB} MiB"
    extra: dict[str, Any] = {"bytes": size, "cp_MB_per_s": [rounded(c) for c in copies]}
    return [
        figure(
            f"{NAME}.cp",
            f"bytes: plain local copy (cp), {gib}",
            "MB/s",
            copies,
            cp_then_fsync_MB_per_s=[rounded(d) for d in durable],
        ),
        figure(f"{NAME}.upload", f"bytes: upload {gib} file", "MB/s", [u[0] for u in ups], **extra),
        figure(
            f"{NAME}.upload.share",
            "bytes: upload speed / cp speed",
            "%",
            [u[0] / c * 100 for u, c in zip(ups, copies, strict=True)],
            SHARE_TARGET,
        ),
        figure(
            f"{NAME}.upload.rss",
            "bytes: upload, peak RSS growth of the user API",
            "MiB",
            [u[1] for u in ups],
            RSS_TARGET,
        ),
        figure(
            f"{NAME}.download",
            f"bytes: download {gib} directory as zip",
            "MB/s",
            [d[0] for d in downs],
            **extra,
        ),
        figure(
            f"{NAME}.download.share",
            "bytes: download speed / cp speed",
            "%",
            [d[0] / c * 100 for d, c in zip(downs, copies, strict=True)],
            SHARE_TARGET,
        ),
        figure(
            f"{NAME}.download.rss",
            "bytes: download, peak RSS growth of the user API",
            "MiB",
            [d[1] for d in downs],
            RSS_TARGET,
        ),
    ]
