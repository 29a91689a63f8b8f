"""Claims racing each other: every job is claimed exactly once.

Two set-ups per database: 8 threads sharing one engine (one worker-API process),
and 8 threads each with its own engine (as 8 worker-API processes would be: on
SQLite no in-process lock is shared then, only `BEGIN IMMEDIATE` keeps them apart).
Then a crowd: 32 pollers (8 on SQLite) with mixed offers over 1,000 jobs (300) with
mixed requirements: each job claimed once, and only by a poller whose offer it matches.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from bench.seed import GPU_MODELS, mixed_offers
from shared import db
from shared.jobs.specs import Environment, SubmittedJob
from tests.integration.workerfacing_api.conftest import WorkerAPI, job_payload
from workerfacing_api.db.models import Attempt, QueuedJob, StatusOutbox, utcnow
from workerfacing_api.db.session import write_session
from workerfacing_api.services import inbox, queue

JOBS = 200
THREADS = 8


def _queue_jobs(api: WorkerAPI) -> None:
    with write_session(api.ctx.sessions) as session:
        for job_id in range(1, JOBS + 1):
            spec = SubmittedJob.model_validate(job_payload(job_id, priority=random.randint(0, 5)))
            inbox.submit_job(session, spec, utcnow())


@pytest.mark.parametrize("engines", ["shared-engine", "engine-per-thread"])
def test_every_job_is_claimed_exactly_once(api: WorkerAPI, db_url: str, engines: str) -> None:
    _queue_jobs(api)
    claimed: list[list[int]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        engine = (
            api.ctx.engine if engines == "shared-engine" else db.make_engine(db_url, pool_size=1)
        )
        sessions = db.make_sessionmaker(engine)
        offer = queue.WorkerOffer(
            worker_id=f"w{n}", environment=Environment.local, memory=10**6, cpu_cores=64
        )
        try:
            start.wait()
            empty_rounds = 0
            while empty_rounds < 3:
                with write_session(sessions) as session:
                    jobs = queue.claim(session, offer, random.randint(1, 3), 120, utcnow())
                    claimed[n].extend(job.job_id for job in jobs)
                empty_rounds = 0 if jobs else empty_rounds + 1
                # A worker runs what it got before it polls again. Without this pause one
                # thread could take every SQLite write lock in turn while the others' busy
                # handlers slept: the claims would not overlap (seen once in CI).
                time.sleep(0.01 if jobs else 0.001)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            if engine is not api.ctx.engine:
                engine.dispose()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    everything = [job_id for got in claimed for job_id in got]
    duplicates = [job_id for job_id, n in Counter(everything).items() if n > 1]
    assert duplicates == []
    assert sorted(everything) == list(range(1, JOBS + 1))
    assert sum(1 for got in claimed if got) > 1, "the claims did not overlap at all"

    with api.ctx.sessions() as session:
        rows = session.execute(
            sa.select(QueuedJob.job_id, QueuedJob.status, QueuedJob.attempt, QueuedJob.worker_id)
        ).all()
        assert {(r.status, r.attempt) for r in rows} == {("pulled", 1)}
        holder = {r.job_id: r.worker_id for r in rows}
        for n, got in enumerate(claimed):
            assert all(holder[job_id] == f"w{n}" for job_id in got)
        assert session.scalar(sa.select(sa.func.count()).select_from(Attempt)) == JOBS
        pulled_events = session.scalar(
            sa.select(sa.func.count())
            .select_from(StatusOutbox)
            .where(StatusOutbox.status == "pulled")
        )
        assert pulled_events == JOBS


# --- many pollers, mixed hardware ------------------------------------------------

# (jobs, pollers) per database: PostgreSQL is the deployment for many API processes;
# SQLite serialises its writers, so a smaller crowd proves the same there.
CROWD = {"postgresql": (1000, 32), "sqlite": (300, 8)}


def _mixed_job(job_id: int, rng: random.Random) -> dict[str, Any]:
    gpu_model = rng.choice(GPU_MODELS)
    hardware = {
        "cpu_cores": rng.randint(1, 8),
        "memory": rng.choice([None, 1000, 4000, 16000, 64000]),
        "gpu_mem": None if gpu_model is None else rng.choice([None, 0, 8000, 16000, 40000]),
        "gpu_model": gpu_model,
    }
    return job_payload(
        job_id,
        environment=rng.choice(["local", "cloud", "any"]),
        group=rng.choice([None, None, None, "lab-a"]),
        priority=rng.randint(0, 5),
        hardware=hardware,
        gpus=0 if gpu_model is None else rng.randint(0, 2),
    )


def test_a_crowd_of_pollers_with_mixed_offers_claims_every_job_once(
    api: WorkerAPI, db_url: str
) -> None:
    jobs, pollers = CROWD[api.ctx.engine.dialect.name]
    rng = random.Random(20261125)
    with write_session(api.ctx.sessions) as session:
        for job_id in range(1, jobs + 1):
            spec = SubmittedJob.model_validate(_mixed_job(job_id, rng))
            inbox.submit_job(session, spec, utcnow())
    with api.ctx.sessions() as session:
        queued = {job.job_id: job for job in session.scalars(sa.select(QueuedJob))}
        session.expunge_all()
    offers = mixed_offers(pollers, rng, give_any_away=True)
    claims: list[list[tuple[int, dt.datetime]]] = [[] for _ in offers]
    errors: list[BaseException] = []
    start = threading.Barrier(len(offers))

    def poll(n: int) -> None:
        engine = db.make_engine(db_url, pool_size=1)  # as if each were its own process
        sessions = db.make_sessionmaker(engine)
        try:
            start.wait()
            empty_rounds = 0
            while empty_rounds < 3:
                now = utcnow()
                with write_session(sessions) as session:
                    got = queue.claim(session, offers[n], rng.randint(1, 4), 120, now)
                    claims[n].extend((job.job_id, now) for job in got)
                empty_rounds = 0 if got else empty_rounds + 1
                time.sleep(0.001)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            engine.dispose()

    began = time.monotonic()
    threads = [threading.Thread(target=poll, args=(n,)) for n in range(len(offers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    elapsed = time.monotonic() - began
    assert not errors, errors
    assert elapsed < 30, f"{jobs} claims by {pollers} pollers took {elapsed:.1f} s"

    # every job claimed, by exactly one poller, once
    everything = [job_id for got in claims for job_id, _ in got]
    assert [j for j, n in Counter(everything).items() if n > 1] == []
    assert sorted(everything) == list(range(1, jobs + 1))
    assert sum(1 for got in claims if got) > len(offers) // 2, "the claims hardly overlapped"
    # and each claim within its poller's offer, by the documented rules
    for n, got in enumerate(claims):
        for job_id, at in got:
            assert queue.matches(queued[job_id], offers[n], at), (job_id, offers[n])

    with api.ctx.sessions() as session:
        per_job = session.execute(
            sa.select(Attempt.queued_job_id, sa.func.count()).group_by(Attempt.queued_job_id)
        ).all()
        assert len(per_job) == jobs
        assert {count for _, count in per_job} == {1}
        rows = session.execute(
            sa.select(QueuedJob.job_id, QueuedJob.status, QueuedJob.attempt, QueuedJob.worker_id)
        ).all()
        assert {(r.status, r.attempt) for r in rows} == {("pulled", 1)}
        holder = {r.job_id: r.worker_id for r in rows}
        for n, got in enumerate(claims):
            assert all(holder[job_id] == offers[n].worker_id for job_id, _ in got)
        pulled_events = session.scalar(
            sa.select(sa.func.count())
            .select_from(StatusOutbox)
            .where(StatusOutbox.status == "pulled")
        )
        assert pulled_events == jobs
