"""6. Heartbeats: status updates per second accepted by the worker API (target ≥ 1,000/s).

The worker database is seeded with jobs already leased and `running`, each held by
one of the clients (as `bench-worker/<X-Worker-Id>`, attempt 1). Every client
re-sends `running` for its own jobs with the attempt header, as labcloud's worker
does every HEARTBEAT_INTERVAL: `PUT /jobs/{id}/status?status=running` → 204, which
extends the lease. Only the worker API runs (a heartbeat writes no status event,
so the relay has nothing to do).
"""

from __future__ import annotations

import httpx

from bench import seed
from bench.config import BenchConfig
from bench.load import LoadResult, run_load
from bench.result import Figure, Target, figure
from bench.stack import DB_NAMES, platform

NAME = "heartbeat"
TARGET = Target(">=", 1000)
JOBS_PER_CLIENT = 4


def run(cfg: BenchConfig) -> list[Figure]:
    return cfg.per_db(NAME, lambda kind: measure(cfg, kind))


def measure(cfg: BenchConfig, kind: str) -> list[Figure]:
    n_clients = cfg.size(8, 16)
    duration = cfg.size(2.0, 8.0)
    with platform(kind, cfg.workdir(f"{NAME}-{kind}"), user_api=False) as stack:
        holders = {
            1 + c * JOBS_PER_CLIENT + k: f"bench-worker/hb-{c}"
            for c in range(n_clients)
            for k in range(JOBS_PER_CLIENT)
        }
        seed.running_jobs(stack.worker_db, holders)
        http = [
            httpx.Client(
                base_url=stack.worker_url,
                headers={**stack.worker_headers(f"hb-{c}"), "X-Labcloud-Attempt": "1"},
                timeout=60,
            )
            for c in range(n_clients)
        ]
        for client in http:
            stack.stack.callback(client.close)

        def beat(client: httpx.Client, c: int, i: int) -> bool:
            job_id = 1 + c * JOBS_PER_CLIENT + i % JOBS_PER_CLIENT
            response = client.put(f"/jobs/{job_id}/status", params={"status": "running"})
            if response.status_code != 204:
                raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
            return True

        run_load(http, beat, total=n_clients * 10).check()  # warm up
        results: list[LoadResult] = []
        with cfg.profiling(stack, f"{NAME}-{kind}", "worker-api"):
            for r in range(cfg.runs):
                pid = stack.procs["worker-api"].pid
                results.append(run_load(http, beat, duration_s=duration, server_pid=pid).check())
                cfg.say(f"  run {r + 1}: {results[-1].rate:.0f} heartbeats/s")
    return [
        figure(
            f"{NAME}.{kind}",
            f"heartbeat: status updates/s accepted, {n_clients} clients ({DB_NAMES[kind]})",
            "updates/s",
            [r.rate for r in results],
            TARGET,
            clients=n_clients,
            seconds_per_run=duration,
            per_run=[r.details() for r in results],
        )
    ]
