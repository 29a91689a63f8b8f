"""4. Latency: submit → `pulled` and submit → `running` with an idle worker, p50 and
p99. Target for submit → pulled: p50 < 50 ms and p99 < 250 ms (a waiting worker
must hear of new work at once).

One `labcloud worker` (process runner, long polling as configured by default)
waits for work. Jobs are submitted one at a time through the user API; the next
is submitted only once the previous one is `finished` in the user API, so the
worker is idle (in its long poll) every time. Times are taken on one clock:
the client's just before `POST /jobs`, and the worker API's own records of the
lease (the attempt's start) and of the `running` report; the moment the user API
learnt of `pulled` (its status event) is kept as a detail.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
import sqlalchemy as sa

from bench.config import BenchConfig
from bench.result import Figure, Target, figure, percentile, rounded
from bench.stack import DB_NAMES, Stack, platform, wait_until
from bench.submit import job_body
from shared import db
from userfacing_api.db.models import Job, StatusEvent
from workerfacing_api.db.models import Attempt, QueuedJob, StatusOutbox

NAME = "latency"
TARGETS = {("pulled", 50): Target("<", 50), ("pulled", 99): Target("<", 250)}


def run(cfg: BenchConfig) -> list[Figure]:
    return cfg.per_db(NAME, lambda kind: measure(cfg, kind))


def epoch(value: dt.datetime) -> float:
    """The APIs store naive UTC."""
    return value.replace(tzinfo=dt.UTC).timestamp()


def _submit_one(stack: Stack, http: httpx.Client, users: sa.Engine, name: str) -> tuple[int, float]:
    sent = time.time()
    response = http.post("/jobs", json=job_body(name))
    response.raise_for_status()
    job_id = int(response.json()["id"])

    def finished() -> bool:
        with users.connect() as conn:
            status = conn.execute(sa.select(Job.status).where(Job.id == job_id)).scalar_one()
        if status in ("error", "canceled"):
            raise RuntimeError(f"job {job_id} ended {status}; see the worker's log in {stack.tmp}")
        return status == "finished"

    wait_until(finished, 60, f"job {job_id}", period=0.01)
    return job_id, sent


def _latencies(stack: Stack, sent: dict[int, float]) -> dict[str, list[float]]:
    """Seconds from submit to the lease, to `running`, and to the user API hearing `pulled`."""
    workers, users = db.make_engine(stack.worker_db), db.make_engine(stack.user_db)
    ids = list(sent)
    try:
        with workers.connect() as conn:
            leased = dict(
                conn.execute(
                    sa.select(QueuedJob.job_id, Attempt.started_at)
                    .join(Attempt, Attempt.queued_job_id == QueuedJob.id)
                    .where(QueuedJob.job_id.in_(ids), Attempt.number == 1)
                ).all()
            )
            running = dict(
                conn.execute(
                    sa.select(StatusOutbox.job_id, sa.func.min(StatusOutbox.created_at))
                    .where(StatusOutbox.job_id.in_(ids), StatusOutbox.status == "running")
                    .group_by(StatusOutbox.job_id)
                ).all()
            )
        with users.connect() as conn:
            heard = dict(
                conn.execute(
                    sa.select(StatusEvent.job_id, sa.func.min(StatusEvent.received_at))
                    .where(StatusEvent.job_id.in_(ids), StatusEvent.status == "pulled")
                    .group_by(StatusEvent.job_id)
                ).all()
            )
    finally:
        workers.dispose()
        users.dispose()
    return {
        "pulled": [epoch(leased[j]) - sent[j] for j in ids],
        "running": [epoch(running[j]) - sent[j] for j in ids],
        "pulled_seen_by_user_api": [epoch(heard[j]) - sent[j] for j in ids],
    }


def measure(cfg: BenchConfig, kind: str) -> list[Figure]:
    samples = cfg.size(8, 60)
    per_run: list[dict[str, list[float]]] = []
    with platform(kind, cfg.workdir(f"{NAME}-{kind}")) as stack:
        stack.start_worker("latency-worker")
        http = stack.user_client("latency@example.org")
        users = db.make_engine(stack.user_db)
        try:
            for n in range(2):  # the worker logs in, everything is warm
                _submit_one(stack, http, users, f"warmup-{n}")
            for r in range(cfg.runs):
                sent: dict[int, float] = {}
                for n in range(samples):
                    time.sleep(0.1)  # the worker is back in its long poll
                    job_id, at = _submit_one(stack, http, users, f"run{r}-{n}")
                    sent[job_id] = at
                per_run.append(_latencies(stack, sent))
                cfg.say(
                    f"  run {r + 1}: submit → pulled p50 "
                    f"{percentile(per_run[-1]['pulled'], 50) * 1000:.1f} ms, "
                    f"→ running p50 {percentile(per_run[-1]['running'], 50) * 1000:.1f} ms"
                )
        finally:
            users.dispose()
    name = DB_NAMES[kind]
    figures = []
    for what in ("pulled", "running"):
        for p in (50, 99):
            runs = [percentile(run_[what], p) * 1000 for run_ in per_run]
            pooled = [t for run_ in per_run for t in run_[what]]
            details: dict[str, Any] = {
                "samples_per_run": samples,
                "all_runs_pooled_ms": rounded(percentile(pooled, p) * 1000),
                "max_ms": rounded(max(pooled) * 1000),
            }
            if what == "pulled":
                seen = [t for run_ in per_run for t in run_["pulled_seen_by_user_api"]]
                details["pulled_seen_by_user_api_ms"] = rounded(percentile(seen, p) * 1000)
            figures.append(
                figure(
                    f"{NAME}.{kind}.{what}.p{p}",
                    f"latency: submit → {what}, p{p}, idle worker ({name})",
                    "ms",
                    runs,
                    TARGETS.get((what, p)),
                    **details,
                )
            )
    return figures
