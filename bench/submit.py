"""1. Submission: `POST /jobs` per second from concurrent clients against one user-API
process, on SQLite and on PostgreSQL.

The worker API runs too, so the outbox relay delivers every job as it would in
production (in the user-API process, competing for the same CPU). Jobs use the
benchmark catalogue's no-op entrypoint and no input files, so the figure is the
cost of validating and storing a job with its outbox message.
"""

from __future__ import annotations

import httpx

from bench.config import BenchConfig
from bench.load import LoadResult, run_load
from bench.result import Figure, Target, figure
from bench.stack import DB_NAMES, platform

NAME = "submit"
TARGETS = {"sqlite": Target(">=", 300), "postgres": Target(">=", 500)}
USERS = 4
APPLICATION = {"application": "bench", "version": "v1", "entrypoint": "noop"}


def run(cfg: BenchConfig) -> list[Figure]:
    return cfg.per_db(NAME, lambda kind: measure(cfg, kind))


def job_body(name: str) -> dict[str, object]:
    return {
        "job_name": name,
        "application": APPLICATION,
        "attributes": {"files_down": {}, "env_vars": None},
    }


def measure(cfg: BenchConfig, kind: str) -> list[Figure]:
    n_clients = cfg.size(8, 16)
    total = cfg.size(300, 3000)
    with platform(kind, cfg.workdir(f"{NAME}-{kind}")) as stack:
        users = [stack.user_client(f"submit-{n}@example.org") for n in range(USERS)]
        headers = [dict(u.headers) for u in users]
        http = [
            httpx.Client(base_url=stack.user_url, headers=headers[n % USERS], timeout=60)
            for n in range(n_clients)
        ]
        for client in http:
            stack.stack.callback(client.close)
        round_ = ["warmup"]

        def submit(client: httpx.Client, n: int, i: int) -> bool:
            response = client.post("/jobs", json=job_body(f"{round_[0]}-c{n}-{i}"))
            if response.status_code != 201:
                raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
            return True

        run_load(http, submit, total=n_clients * 5).check()  # connections, caches, first queries
        results: list[LoadResult] = []
        with cfg.profiling(stack, f"{NAME}-{kind}", "user-api"):
            for r in range(cfg.runs):
                round_[0] = f"run{r}"
                pid = stack.procs["user-api"].pid
                results.append(run_load(http, submit, total=total, server_pid=pid).check())
                cfg.say(f"  run {r + 1}: {results[-1].rate:.0f} jobs/s")
    return [
        figure(
            f"{NAME}.{kind}",
            f"submit: POST /jobs per second, {n_clients} clients ({DB_NAMES[kind]})",
            "jobs/s",
            [r.rate for r in results],
            TARGETS[kind],
            clients=n_clients,
            requests_per_run=total,
            per_run=[r.details() for r in results],
        )
    ]
