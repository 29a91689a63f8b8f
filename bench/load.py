"""Concurrent HTTP load: N client threads, each with its own keep-alive connection, and
the CPU the server process spent meanwhile.

Threads rather than asyncio: each client is a plain `httpx.Client`, the way the
worker agent and most scripts talk to labcloud. The load generator runs in this
process; its own CPU time is reported next to the server's so that a reader can
tell when the client, not the server, was the limit.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import psutil

from bench.result import percentile, rounded

# One request: (client thread number, request number within the thread) -> accepted?
Request = Callable[[httpx.Client, int, int], bool]


@dataclass
class LoadResult:
    ok: int
    failed: int
    elapsed_s: float
    latencies_s: list[float] = field(default_factory=list)
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    first_error: str | None = None

    def check(self) -> LoadResult:
        """Itself, or RuntimeError if any request failed: a benchmark that loses requests
        measures something else than it says."""
        if self.failed:
            raise RuntimeError(
                f"{self.failed} of {self.ok + self.failed} requests failed: {self.first_error}"
            )
        return self

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def details(self) -> dict[str, float | int | str | None]:
        """Numbers that explain the rate (per run)."""
        done = max(self.ok + self.failed, 1)
        return {
            "requests": self.ok + self.failed,
            "failed": self.failed,
            "p50_ms": rounded(percentile(self.latencies_s, 50) * 1000),
            "p99_ms": rounded(percentile(self.latencies_s, 99) * 1000),
            "server_cpu_ms_per_request": rounded(self.server_cpu_s * 1000 / done),
            "server_cpu_share": rounded(self.server_cpu_s / self.elapsed_s),
            "client_cpu_share": rounded(self.client_cpu_s / self.elapsed_s),
            "first_error": self.first_error,
        }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def run_load(
    clients: list[httpx.Client],
    request: Request,
    *,
    total: int | None = None,
    duration_s: float | None = None,
    server_pid: int | None = None,
) -> LoadResult:
    """Send requests from one thread per client until `total` were sent or `duration_s`
    passed (whichever is given), all threads starting together."""
    if (total is None) == (duration_s is None):
        raise ValueError("give total or duration_s")
    counter = iter(range(total if total is not None else 1 << 62))
    counter_lock = threading.Lock()
    start = threading.Barrier(len(clients) + 1)
    stop_at = [0.0]
    lock = threading.Lock()
    result = LoadResult(0, 0, 0.0)

    def next_number() -> int | None:
        with counter_lock:
            if duration_s is not None and time.monotonic() >= stop_at[0]:
                return None
            return next(counter, None)

    def client_loop(n: int, http: httpx.Client) -> None:
        latencies: list[float] = []
        ok = failed = 0
        error: str | None = None
        start.wait()
        while (i := next_number()) is not None:
            began = time.perf_counter()
            try:
                accepted = request(http, n, i)
            except Exception as exc:  # noqa: BLE001 - counted, the first one kept
                accepted = False
                error = error or f"{type(exc).__name__}: {exc}"
            latencies.append(time.perf_counter() - began)
            ok, failed = (ok + 1, failed) if accepted else (ok, failed + 1)
        with lock:
            result.ok += ok
            result.failed += failed
            result.latencies_s.extend(latencies)
            result.first_error = result.first_error or error

    threads = [
        threading.Thread(target=client_loop, args=(n, http), daemon=True)
        for n, http in enumerate(clients)
    ]
    for t in threads:
        t.start()
    server_before = cpu_seconds(server_pid) if server_pid else 0.0
    client_before = _own_cpu()
    began = time.monotonic()
    stop_at[0] = began + (duration_s or 0)
    start.wait()
    for t in threads:
        t.join()
    result.elapsed_s = time.monotonic() - began
    result.client_cpu_s = _own_cpu() - client_before
    if server_pid:
        result.server_cpu_s = cpu_seconds(server_pid) - server_before
    return result


def clients(count: int, base_url: str, headers: list[dict[str, str]]) -> list[httpx.Client]:
    """`count` clients of `base_url`; client n sends `headers[n % len(headers)]`."""
    return [
        httpx.Client(base_url=base_url, headers=headers[n % len(headers)], timeout=60)
        for n in range(count)
    ]
