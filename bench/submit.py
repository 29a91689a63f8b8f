"""1. Submission: `POST /jobs` per second from concurrent clients against one user-API
process, on SQLite and on PostgreSQL.

The worker API runs too, so the outbox relay delivers every job as it would in
production (in the user-API process, competing for the same CPU). Jobs use the
benchmark catalogue's no-op entrypoint and no input files, so the figure is the
cost of validating and storing a job with its outbox message.

A rate of `POST /jobs` alone flatters a relay that falls behind (the requests get the
CPU, the backlog grows), so after each run the benchmark waits until the user API's
outbox is empty, i.e. every job is in the worker API's queue, and also reports that
rate: jobs submitted and delivered per second, and the backlog the run left.
"""

from __future__ import annotations

import time

import httpx
import sqlalchemy as sa

from bench.config import BenchConfig
from bench.load import LoadResult, run_load
from bench.result import Figure, Target, figure
from bench.stack import DB_NAMES, platform, wait_until
from shared import db
from userfacing_api.db.models import OutboxMessage

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


def backlog(engine: sa.Engine) -> int:
    """Messages the user API's outbox relay has not delivered yet."""
    with engine.connect() as conn:
        undelivered = OutboxMessage.delivered_at.is_(None)
        count = sa.select(sa.func.count()).select_from(OutboxMessage).where(undelivered)
        return int(conn.execute(count).scalar_one())


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
        user_db = db.make_engine(stack.user_db)
        stack.stack.callback(user_db.dispose)
        wait_until(lambda: backlog(user_db) == 0, 120, "the warm-up's delivery")
        results: list[LoadResult] = []
        delivered: list[dict[str, float]] = []
        with cfg.profiling(stack, f"{NAME}-{kind}", "user-api"):
            for r in range(cfg.runs):
                round_[0] = f"run{r}"
                pid = stack.procs["user-api"].pid
                results.append(run_load(http, submit, total=total, server_pid=pid).check())
                left, drain_started = backlog(user_db), time.monotonic()
                wait_until(lambda: backlog(user_db) == 0, 300, "the outbox relay")
                drain_s = time.monotonic() - drain_started
                delivered.append(
                    {
                        "rate": total / (results[-1].elapsed_s + drain_s),
                        "backlog_at_last_response": left,
                        "drain_s": round(drain_s, 2),
                    }
                )
                cfg.say(
                    f"  run {r + 1}: {results[-1].rate:.0f} jobs/s accepted, "
                    f"{delivered[-1]['rate']:.0f} jobs/s delivered ({left} left at the end)"
                )
    return [
        figure(
            f"{NAME}.{kind}",
            f"submit: POST /jobs per second, {n_clients} clients ({DB_NAMES[kind]})",
            "jobs/s",
            [r.rate for r in results],
            TARGETS[kind],
            clients=n_clients,
            requests_per_run=total,
            per_run=[{**r.details(), **d} for r, d in zip(results, delivered, strict=True)],
        ),
        figure(
            f"{NAME}.{kind}.delivered",
            f"submit: jobs/s submitted and delivered to the worker API ({DB_NAMES[kind]})",
            "jobs/s",
            [d["rate"] for d in delivered],
            None,
            per_run=delivered,
        ),
    ]
