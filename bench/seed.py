"""Filling the databases directly: many jobs at once through the project's SQLAlchemy
models (bulk INSERTs), instead of one HTTP call per job.

The rows are what the APIs themselves write for a submitted job: a `jobs` row in the
user database and, when the job has reached the worker side, a `queued_jobs` row
with the same id. Hardware requirements are mixed (CPU, memory, GPU model and
memory, environment, group, priority) the way the concurrency test mixes them.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from shared import db
from shared.jobs.specs import (
    AppSpecs,
    Environment,
    HandlerSpecs,
    HardwareSpecs,
    JobSpecs,
    MetaSpecs,
    OutputKind,
    PathsUpload,
    SubmittedJob,
)
from userfacing_api.db.models import Job
from workerfacing_api.db.models import Attempt, QueuedJob, utcnow
from workerfacing_api.services import queue

BATCH = 5000
SEED_USER = "bench-seed@example.org"
GPU_MODELS = (None, "A100", "V100", "T4")
ENVIRONMENTS = (Environment.local, Environment.cloud)


@dataclass(frozen=True)
class Requirements:
    """What one seeded job needs (None: anything will do)."""

    environment: str = "any"
    group: str | None = None
    priority: int = 5
    cpu_cores: int | None = 1
    memory: int | None = 64
    gpu_mem: int | None = None
    gpu_model: str | None = None
    gpus: int = 0


def mixed(rng: random.Random) -> Requirements:
    """A random mix of requirements, like tests/integration's crowd of pollers."""
    gpu_model = rng.choice(GPU_MODELS)
    return Requirements(
        environment=rng.choice(["local", "cloud", "any"]),
        group=rng.choice([None, None, None, "lab-a"]),
        priority=rng.randint(0, 5),
        cpu_cores=rng.randint(1, 8),
        memory=rng.choice([None, 1000, 4000, 16000, 64000]),
        gpu_mem=None if gpu_model is None else rng.choice([None, 0, 8000, 16000, 40000]),
        gpu_model=gpu_model,
        gpus=0 if gpu_model is None else rng.randint(0, 2),
    )


def mixed_offers(
    pollers: int, rng: random.Random, *, give_any_away: bool = False
) -> list[queue.WorkerOffer]:
    """`pollers` offers: first one big offer per (environment, GPU model), so every mixed
    job has a taker, then small varied ones. One poller gets the biggest local offer.
    `give_any_away`: some small offers leave young "any" jobs to others (`older_than`)."""
    offers = [
        queue.WorkerOffer(
            worker_id=f"big-{env.value}-{model}",
            environment=env,
            memory=64000,
            cpu_cores=8,
            gpu_mem=40000 if model else 0,
            gpu_model=model,
            groups=("lab-a",),
        )
        for env in ENVIRONMENTS
        for model in GPU_MODELS
    ]
    while len(offers) < pollers:
        model = rng.choice(GPU_MODELS)
        offers.append(
            queue.WorkerOffer(
                worker_id=f"p{len(offers)}",
                environment=rng.choice(ENVIRONMENTS),
                memory=rng.choice([2000, 8000, 32000]),
                cpu_cores=rng.choice([1, 2, 4, 8]),
                gpu_mem=rng.choice([8000, 16000]) if model else 0,
                gpu_model=model,
                groups=rng.choice([(), ("lab-a",)]),
                gpus=rng.choice([None, 1, 2]) if model else None,
                older_than=rng.choice([0.0, 0.0, 3600.0]) if give_any_away else 0.0,
            )
        )
    return offers[:pollers]


def _spec_template() -> dict[str, Any]:
    spec = SubmittedJob(
        job=JobSpecs(
            app=AppSpecs(cmd=["true"], env={}),
            handler=HandlerSpecs(
                image_url="busybox:latest",
                image_name="bench",
                image_version="v1",
                entrypoint="noop",
                files_up={OutputKind.output: "output", OutputKind.log: "log"},
                runner="docker",
                timeout=60,
            ),
            meta=MetaSpecs(job_id=1, date_created=utcnow()),
            hardware=HardwareSpecs(),
        ),
        paths_upload=PathsUpload(output="local://x/output", log="local://x/log", artifact="x"),
    )
    return spec.model_dump(mode="json")


def _queued_row(
    template: dict[str, Any], job_id: int, req: Requirements, user: str, now: dt.datetime
) -> dict[str, Any]:
    hardware = {
        "cpu_cores": req.cpu_cores,
        "memory": req.memory,
        "gpu_model": req.gpu_model,
        "gpu_archi": None,
        "gpu_mem": req.gpu_mem,
    }
    name = f"seed-{job_id}"
    paths = {k: f"local://{user}/{k}/{name}" for k in ("output", "log", "artifact")}
    job = template["job"]
    spec = {
        **template,
        "job": {
            **job,
            "meta": {**job["meta"], "job_id": job_id, "date_created": now.isoformat()},
            "handler": {**job["handler"], "gpus": req.gpus},
            "hardware": hardware,
        },
        "environment": req.environment,
        "group": req.group,
        "priority": req.priority,
        "paths_upload": paths,
    }
    return {
        "job_id": job_id,
        "spec": spec,
        "environment": req.environment,
        "group": req.group,
        "priority": req.priority,
        "paths_upload": paths,
        "cpu_cores": req.cpu_cores,
        "memory": req.memory,
        "gpu_mem": req.gpu_mem,
        "gpu_model": req.gpu_model,
        "gpu_archi": None,
        "gpus": req.gpus,
        "runner": "docker",
        "status": "queued",
        "status_changed_at": now,
        "timeout_s": 60,
        "attempt": 0,
        "attempt_base": 0,
        "created_at": now,
        "updated_at": now,
        "tried_workers": [],
    }


def _user_row(
    job_id: int, req: Requirements, user: str, now: dt.datetime, status: str
) -> dict[str, Any]:
    return {
        "id": job_id,
        "user_id": user,
        "user_email": user,
        "job_name": f"seed-{job_id}",
        "date_created": now,
        "status": status,
        "environment": None if req.environment == "any" else req.environment,
        "priority": req.priority,
        "application": {"application": "bench", "version": "v1", "entrypoint": "noop"},
        "attributes": {"files_down": {}, "env_vars": None},
        "hardware": None,
        "status_changed_at": now,
    }


def _batches(rows: Iterable[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(url: str, table: Any, rows: Iterable[dict[str, Any]]) -> None:
    engine = db.make_engine(url)
    try:
        for batch in _batches(rows):
            with engine.begin() as conn:
                conn.execute(sa.insert(table), batch)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                if "id" in table.c and table.c.id.autoincrement is True:
                    # explicit ids leave the sequence behind: move it past them
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table.name}))"
                    )
                conn.exec_driver_sql(f"ANALYZE {table.name}")  # as autovacuum would
    finally:
        engine.dispose()


def user_jobs(
    url: str,
    ids: range,
    *,
    user: str = SEED_USER,
    status: str = "queued",
    requirements: list[Requirements] | None = None,
) -> None:
    """`jobs` rows with ids `ids` for `user`, created one millisecond apart."""
    start = utcnow() - dt.timedelta(milliseconds=len(ids))
    _insert(
        url,
        Job.__table__,
        (
            _user_row(
                job_id,
                requirements[n] if requirements else Requirements(),
                user,
                start + dt.timedelta(milliseconds=n),
                status,
            )
            for n, job_id in enumerate(ids)
        ),
    )


def queued_jobs(
    url: str,
    ids: range,
    requirements: list[Requirements] | None = None,
    *,
    user: str = SEED_USER,
    age_s: float = 3600,
) -> None:
    """`queued_jobs` rows (status queued) with user-side ids `ids`, `age_s` old."""
    template = _spec_template()
    start = utcnow() - dt.timedelta(seconds=age_s)
    _insert(
        url,
        QueuedJob.__table__,
        (
            _queued_row(
                template,
                job_id,
                requirements[n] if requirements else Requirements(),
                user,
                start + dt.timedelta(microseconds=n),
            )
            for n, job_id in enumerate(ids)
        ),
    )


def running_jobs(url: str, holders: dict[int, str], lease_s: float = 3600) -> None:
    """Jobs already leased and `running` (attempt 1, lease `lease_s` ahead): job id → holder
    (`<account>/<X-Worker-Id>`), for heartbeats."""
    queued_jobs(url, range(min(holders), max(holders) + 1), age_s=0)
    now = utcnow()
    until = now + dt.timedelta(seconds=lease_s)
    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:
            for job_id, holder in holders.items():
                conn.execute(
                    sa.update(QueuedJob)
                    .where(QueuedJob.job_id == job_id)
                    .values(
                        status="running",
                        status_changed_at=now,  # the sweeper's time limits run from here
                        timeout_s=None,  # and it must not time the job out meanwhile
                        attempt=1,
                        worker_id=holder,
                        lease_expires_at=until,
                        tried_workers=[holder],
                    )
                )
            rows = conn.execute(
                sa.select(QueuedJob.id, QueuedJob.worker_id).where(QueuedJob.status == "running")
            ).all()
            conn.execute(
                sa.insert(Attempt),
                [
                    {
                        "queued_job_id": row.id,
                        "number": 1,
                        "worker_id": row.worker_id,
                        "started_at": now,
                        "lease_expires_at": until,
                    }
                    for row in rows
                ],
            )
    finally:
        engine.dispose()
