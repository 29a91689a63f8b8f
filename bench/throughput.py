"""5. Throughput end to end: 1,000 no-op jobs (process runner) through user API →
transport → worker API → 4 workers → `finished` visible in the user API; jobs per
second, on SQLite and PostgreSQL.

Eight client threads submit the jobs as fast as the user API takes them while four
`labcloud worker` processes (up to 4 jobs each) run them. The clock runs from
the first submission until the user database, which is what `GET /jobs` reads,
shows every job `finished`; the listing is checked once at the end. The HTTP
transport (`POST /_jobs`) carries the jobs, as configured by default.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import sqlalchemy as sa

from bench.config import BenchConfig
from bench.load import cpu_seconds, run_load
from bench.result import Figure, figure, rounded
from bench.stack import DB_NAMES, Stack, platform, wait_until
from bench.submit import job_body
from shared import db
from userfacing_api.db.models import Job

NAME = "throughput"
WORKERS = 4
CLIENTS = 8


def run(cfg: BenchConfig) -> list[Figure]:
    return cfg.per_db(NAME, lambda kind: measure(cfg, kind))


def _count(users: sa.Engine, prefix: str) -> dict[str, int]:
    with users.connect() as conn:
        rows = conn.execute(
            sa.select(Job.status, sa.func.count())
            .where(Job.job_name.like(f"{prefix}-%"))
            .group_by(Job.status)
        ).all()
    return {status: int(n) for status, n in rows}


def one_round(
    stack: Stack, http: list[httpx.Client], users: sa.Engine, prefix: str, jobs: int
) -> dict[str, Any]:
    """Submit `jobs` jobs and wait for all to be finished; the round's numbers."""
    pids = {name: p.pid for name, p in stack.procs.items()}
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}

    def submit(client: httpx.Client, n: int, i: int) -> bool:
        response = client.post("/jobs", json=job_body(f"{prefix}-{n}-{i}"))
        if response.status_code != 201:
            raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
        return True

    began = time.monotonic()
    submitted = run_load(http, submit, total=jobs)
    if submitted.failed:
        raise RuntimeError(f"{submitted.failed} submissions failed: {submitted.first_error}")

    def all_ended() -> bool:
        counts = _count(users, prefix)
        ended = sum(counts.get(s, 0) for s in ("finished", "error", "canceled"))
        if ended > counts.get("finished", 0):
            raise RuntimeError(f"jobs ended other than finished: {counts}; logs in {stack.tmp}")
        return counts.get("finished", 0) == jobs

    wait_until(all_ended, 60 + jobs, f"{jobs} jobs", period=0.1)
    elapsed = time.monotonic() - began
    listed = 0
    listing = http[0]
    # every job is in GET /jobs as finished (the user API answers from this database)
    for offset in range(0, jobs * 2, 1000):
        page = listing.get("/jobs", params={"offset": offset, "limit": 1000}).json()
        listed += sum(1 for j in page if j["job_name"].startswith(f"{prefix}-"))
        if len(page) < 1000:
            break
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    return {
        "jobs_per_s": jobs / elapsed,
        "seconds": rounded(elapsed),
        "submit_seconds": rounded(submitted.elapsed_s),
        "listed_finished": listed,
        "cpu_ms_per_job": {name: rounded(s * 1000 / jobs) for name, s in cpu.items()},
    }


def measure(cfg: BenchConfig, kind: str) -> list[Figure]:
    jobs = cfg.size(30, 1000)
    rounds: list[dict[str, Any]] = []
    with platform(kind, cfg.workdir(f"{NAME}-{kind}")) as stack:
        for n in range(WORKERS):
            stack.start_worker(
                f"throughput-worker-{n}", cpu_cores="4", memory_mb="8000", max_concurrent_jobs="4"
            )
        owner = stack.user_client("throughput@example.org")
        http = [
            httpx.Client(base_url=stack.user_url, headers=dict(owner.headers), timeout=60)
            for _ in range(CLIENTS)
        ]
        for client in http:
            stack.stack.callback(client.close)
        users = db.make_engine(stack.user_db)
        try:
            one_round(stack, http, users, "warmup", WORKERS)  # logged in and polling
            for r in range(cfg.runs):
                with cfg.profiling(stack, f"{NAME}-{kind}-run{r}", "user-api", "worker-api"):
                    rounds.append(one_round(stack, http, users, f"run{r}", jobs))
                cfg.say(
                    f"  run {r + 1}: {rounds[-1]['jobs_per_s']:.1f} jobs/s "
                    f"({jobs} jobs in {rounds[-1]['seconds']} s)"
                )
        finally:
            users.dispose()
    return [
        figure(
            f"{NAME}.{kind}",
            f"throughput: {jobs:,} no-op jobs end to end, {WORKERS} workers ({DB_NAMES[kind]})",
            "jobs/s",
            [r["jobs_per_s"] for r in rounds],
            None,
            per_run=[{k: v for k, v in r.items() if k != "jobs_per_s"} for r in rounds],
        )
    ]
