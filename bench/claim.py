"""2. Claim: jobs leased per second by 1, 8 and 32 concurrent pollers, with mixed
hardware requirements; double leases counted (must be 0).

Each run seeds a fresh batch of queued jobs with mixed requirements straight into
both databases (as if submitted and delivered), then the pollers, each with its
own offer (environment, CPU, memory, GPU model and memory, groups), call
`GET /jobs?limit=1` on one worker-API process until they find nothing three
times in a row. Leases per second = leases / time to the last lease. The user
API runs too, so the status relay delivers every `pulled` event as in
production. A second figure per database calls the claim query directly from
the same number of threads (one engine each, as separate API processes would),
without HTTP: the database's share of the cost.

Double leases: a job handed to two pollers (seen by the clients), or a job with
more than one attempt (seen in the database).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa

from bench import seed
from bench.config import BenchConfig
from bench.load import cpu_seconds
from bench.result import Figure, Target, figure, rounded
from bench.stack import DB_NAMES, Stack, databases, platform, wait_until
from shared import db
from userfacing_api.db.models import Job, StatusEvent
from workerfacing_api.db.models import Attempt, QueuedJob, StatusOutbox, utcnow
from workerfacing_api.db.session import upgrade, write_session
from workerfacing_api.services import queue

NAME = "claim"
POLLERS = (1, 8, 32)
TARGET_AT_32 = Target(">=", 500)
NO_DOUBLES = Target("==", 0)
EMPTY_POLLS_TO_STOP = 3


@dataclass
class ClaimRun:
    leases: list[tuple[int, float]] = field(default_factory=list)  # (job id, when)
    elapsed_s: float = 0.0
    polls: int = 0
    double_leases: int = 0
    server_cpu_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.leases) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def details(self) -> dict[str, Any]:
        return {
            "leases": len(self.leases),
            "polls": self.polls,
            "seconds": rounded(self.elapsed_s),
            "double_leases": self.double_leases,
            "server_cpu_ms_per_poll": rounded(self.server_cpu_s * 1000 / max(self.polls, 1)),
            "errors": len(self.errors),
            "first_error": self.errors[0][:200] if self.errors else None,
        }


def run(cfg: BenchConfig) -> list[Figure]:
    return cfg.per_db(NAME, lambda kind: measure(cfg, kind))


def _params(offer: queue.WorkerOffer) -> dict[str, Any]:
    params: dict[str, Any] = {
        "memory": offer.memory,
        "cpu_cores": offer.cpu_cores,
        "gpu_mem": offer.gpu_mem,
        "limit": 1,
    }
    if offer.gpu_model:
        params["gpu_model"] = offer.gpu_model
    if offer.groups:
        params["groups"] = list(offer.groups)
    if offer.gpus is not None:
        params["gpus"] = offer.gpus
    return params


def _started_together(workers: list[threading.Thread], barrier: threading.Barrier) -> float:
    for t in workers:
        t.start()
    began = time.monotonic()
    barrier.wait()
    for t in workers:
        t.join()
    return began


def http_round(stack: Stack, pollers: int, ids: range, rng: random.Random) -> ClaimRun:
    """Seed `ids` (mixed), let `pollers` HTTP pollers drain what they can."""
    requirements = [seed.mixed(rng) for _ in ids]
    seed.user_jobs(stack.user_db, ids, requirements=requirements)
    seed.queued_jobs(stack.worker_db, ids, requirements)
    offers = seed.mixed_offers(pollers, rng)
    result = ClaimRun()
    lock = threading.Lock()
    barrier = threading.Barrier(pollers + 1)

    def poll(offer: queue.WorkerOffer) -> None:
        headers = stack.worker_headers(
            f"{offer.worker_id}-{ids.start}", cloud=offer.environment.value == "cloud"
        )
        got: list[tuple[int, float]] = []
        polls, empty = 0, 0
        with httpx.Client(base_url=stack.worker_url, headers=headers, timeout=60) as http:
            barrier.wait()
            while empty < EMPTY_POLLS_TO_STOP:
                response = http.get("/jobs", params=_params(offer))
                polls += 1
                if response.status_code != 200:
                    with lock:
                        result.errors.append(f"{response.status_code}: {response.text[:200]}")
                    empty += 1
                    continue
                jobs = response.json()
                now = time.monotonic()
                got.extend((int(k), now) for k in jobs)
                empty = 0 if jobs else empty + 1
        with lock:
            result.leases.extend(got)
            result.polls += polls

    threads = [threading.Thread(target=poll, args=(o,), daemon=True) for o in offers]
    cpu_before = cpu_seconds(stack.procs["worker-api"].pid)
    began = _started_together(threads, barrier)
    result.server_cpu_s = cpu_seconds(stack.procs["worker-api"].pid) - cpu_before
    last = max((t for _, t in result.leases), default=began)
    result.elapsed_s = last - began
    result.double_leases = _doubles(result, stack.worker_db, ids)
    _settle_and_clear(stack, ids)
    return result


def _doubles(result: ClaimRun, worker_db: str, ids: range) -> int:
    """Jobs leased twice: seen by the pollers, or as a second attempt in the database."""
    by_clients = sum(n - 1 for n in Counter(j for j, _ in result.leases).values() if n > 1)
    engine = db.make_engine(worker_db)
    try:
        with engine.connect() as conn:
            in_db = conn.execute(
                sa.select(sa.func.count())
                .select_from(Attempt)
                .join(QueuedJob, QueuedJob.id == Attempt.queued_job_id)
                .where(QueuedJob.job_id.between(ids.start, ids.stop - 1), Attempt.number > 1)
            ).scalar_one()
    finally:
        engine.dispose()
    return by_clients + int(in_db)


def _settle_and_clear(stack: Stack, ids: range) -> None:
    """Wait for the relay to deliver the run's events, then remove the run's jobs, so the
    next run starts on a queue of the same depth and with an idle relay."""
    worker = db.make_engine(stack.worker_db)
    user = db.make_engine(stack.user_db)
    in_run = ids.start, ids.stop - 1

    def delivered() -> bool:
        with worker.connect() as conn:
            pending = conn.execute(
                sa.select(sa.func.count())
                .select_from(StatusOutbox)
                .where(StatusOutbox.delivered_at.is_(None))
            ).scalar_one()
        return pending == 0

    try:
        wait_until(delivered, 300, "status relay", period=0.2)
        with worker.begin() as conn:
            rows = sa.select(QueuedJob.id).where(QueuedJob.job_id.between(*in_run))
            conn.execute(sa.delete(Attempt).where(Attempt.queued_job_id.in_(rows)))
            conn.execute(sa.delete(StatusOutbox).where(StatusOutbox.job_id.between(*in_run)))
            conn.execute(sa.delete(QueuedJob).where(QueuedJob.job_id.between(*in_run)))
        with user.begin() as conn:
            conn.execute(sa.delete(StatusEvent).where(StatusEvent.job_id.between(*in_run)))
            conn.execute(sa.delete(Job).where(Job.id.between(*in_run)))
    finally:
        worker.dispose()
        user.dispose()


def db_round(url: str, pollers: int, ids: range, rng: random.Random) -> ClaimRun:
    """The same crowd calling `queue.claim` directly, one engine per poller."""
    seed.queued_jobs(url, ids, [seed.mixed(rng) for _ in ids])
    offers = seed.mixed_offers(pollers, rng)
    result = ClaimRun()
    lock = threading.Lock()
    barrier = threading.Barrier(pollers + 1)

    def poll(offer: queue.WorkerOffer) -> None:
        engine = db.make_engine(url, pool_size=1)
        sessions = db.make_sessionmaker(engine)
        got: list[tuple[int, float]] = []
        polls, empty = 0, 0
        try:
            barrier.wait()
            while empty < EMPTY_POLLS_TO_STOP:
                try:
                    with write_session(sessions) as session:
                        jobs = queue.claim(session, offer, 1, 60, utcnow())
                        job_ids = [j.job_id for j in jobs]
                except sa.exc.OperationalError as exc:  # e.g. SQLite's busy timeout
                    with lock:
                        result.errors.append(str(exc.orig))
                    job_ids = []
                polls += 1
                now = time.monotonic()
                got.extend((j, now) for j in job_ids)
                empty = 0 if job_ids else empty + 1
        finally:
            engine.dispose()
        with lock:
            result.leases.extend(got)
            result.polls += polls

    threads = [threading.Thread(target=poll, args=(o,), daemon=True) for o in offers]
    began = _started_together(threads, barrier)
    result.elapsed_s = max((t for _, t in result.leases), default=began) - began
    result.double_leases = _doubles(result, url, ids)
    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:  # the next round starts on an empty queue again
            conn.execute(sa.delete(Attempt))
            conn.execute(sa.delete(StatusOutbox))
            conn.execute(sa.delete(QueuedJob))
    finally:
        engine.dispose()
    return result


def measure(cfg: BenchConfig, kind: str) -> list[Figure]:
    jobs = cfg.size(200, 2000)
    rng = random.Random(20261125)
    http_runs: dict[int, list[ClaimRun]] = {p: [] for p in POLLERS}
    db_runs: dict[int, list[ClaimRun]] = {p: [] for p in POLLERS}
    next_id = 1
    # Pollers never heartbeat: a long lease keeps the sweeper from requeueing their jobs
    # (which would count as second attempts) while a run lasts.
    long_lease = {"LEASE_TIMEOUT": "3600", "DECODE_LEASE_TIMEOUT": "3600"}
    with platform(kind, cfg.workdir(f"{NAME}-{kind}"), worker_env=long_lease) as stack:
        for pollers in POLLERS:
            for r in range(cfg.runs):
                ids = range(next_id, next_id + jobs)
                next_id += jobs
                with cfg.profiling(stack, f"{NAME}-{kind}-{pollers}-run{r}", "worker-api"):
                    http_runs[pollers].append(http_round(stack, pollers, ids, rng))
                got = http_runs[pollers][-1]
                cfg.say(
                    f"  {pollers} pollers, run {r + 1}: {got.rate:.0f} leases/s "
                    f"({len(got.leases)} leases, {got.double_leases} double)"
                )
    with databases(kind, cfg.workdir(f"{NAME}-db-{kind}")) as (_, worker_db):
        upgrade(worker_db)
        for pollers in POLLERS:
            for _ in range(cfg.runs):
                ids = range(next_id, next_id + jobs)
                next_id += jobs
                db_runs[pollers].append(db_round(worker_db, pollers, ids, rng))
            cfg.say(f"  {pollers} pollers, claim query only: {db_runs[pollers][-1].rate:.0f}/s")
    name = DB_NAMES[kind]
    figures = [
        figure(
            f"{NAME}.{kind}.http.{p}",
            f"claim: leases/s, {p} poller{'s' if p > 1 else ''}, HTTP ({name})",
            "leases/s",
            [r.rate for r in http_runs[p]],
            TARGET_AT_32 if p == 32 else None,
            jobs_per_run=jobs,
            per_run=[r.details() for r in http_runs[p]],
        )
        for p in POLLERS
    ]
    figures += [
        figure(
            f"{NAME}.{kind}.query.{p}",
            f"claim: leases/s, {p} poller{'s' if p > 1 else ''}, claim query only ({name})",
            "leases/s",
            [r.rate for r in db_runs[p]],
            None,
            jobs_per_run=jobs,
            per_run=[r.details() for r in db_runs[p]],
        )
        for p in POLLERS
    ]
    doubles = [r.double_leases for p in POLLERS for r in (*http_runs[p], *db_runs[p])]
    figures.append(
        figure(
            f"{NAME}.{kind}.double_leases",
            f"claim: double leases, all runs above ({name})",
            "",
            [sum(doubles)],
            NO_DOUBLES,
        )
    )
    return figures
