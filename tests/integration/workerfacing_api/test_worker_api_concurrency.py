"""Claims racing each other: every job is claimed exactly once.

Two set-ups per database: 8 threads sharing one engine (one worker-API process),
and 8 threads each with its own engine (as 8 worker-API processes would be: on
SQLite no in-process lock is shared then, only `BEGIN IMMEDIATE` keeps them apart).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa

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
                time.sleep(0.001)  # a worker polls again later, not in a tight loop
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
