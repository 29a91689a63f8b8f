"""Which queued jobs a worker may get, in which order, and the atomic claim.

This module is the one place that decides matching and order. The rules are
written twice on purpose, side by side: as Python (`matches`, `order_key`),
which documents them and is what the unit tests reason about, and as SQL
(`match_clause`, `claim_order`), which the claim runs. A unit test checks that
the two agree on a grid of cases.

Matching (a job's requirement that is NULL matches anything):
- hardware: job cpu_cores, memory and gpu_mem ≤ the worker's; gpu_model and
  gpu_archi equal to the worker's when the job sets them;
- environment: a worker gets the jobs of its own environment (cloud or local) at
  once, and jobs of environment "any" once they are older than the worker's
  `older_than` (so a costly cloud worker can give local workers a head start);
  never the jobs pinned to the other environment (DECODE's rule);
- groups: a job without a group is for everyone; a job with a group only for
  workers that list that group;
- GPU count (labcloud): a worker that says how many GPUs it has free (`gpus`)
  gets only jobs needing no more; one that does not say (DECODE's worker) is
  not filtered on it;
- runner (labcloud): a worker gets jobs only for the runners it lists
  (`runners`); one that lists none (DECODE's worker) runs docker images only.

Order: jobs of one of the worker's groups first, then priority (high first),
then jobs this worker has not tried yet (a requeued job goes to someone else
when possible), then age (oldest first), then queue id.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, String, and_, case, cast, or_, select, true
from sqlalchemy.orm import Session

from shared.jobs.specs import Environment
from shared.jobs.states import JobStatus, transition
from workerfacing_api.db.models import Attempt, QueuedJob
from workerfacing_api.services.leases import move
from workerfacing_api.services.outbox import add_event


@dataclass(frozen=True)
class WorkerOffer:
    """What a polling worker is and has (DECODE's `GET /jobs` query, plus identity)."""

    worker_id: str
    environment: Environment  # cloud or local: the worker's own
    memory: int
    cpu_cores: int = 1
    gpu_mem: int = 0
    gpu_model: str | None = None
    gpu_archi: str | None = None
    groups: tuple[str, ...] = ()
    older_than: float = 0.0  # seconds an "any" job must wait before this worker gets it
    gpus: int | None = None  # free GPUs; None = not stated
    runners: tuple[str, ...] = ("docker",)  # the runners the worker can use


class JobLike(Protocol):
    """The columns matching and order look at (a `QueuedJob` has them)."""

    id: Any
    environment: str
    group: str | None
    priority: int
    cpu_cores: int | None
    memory: int | None
    gpu_mem: int | None
    gpu_model: str | None
    gpu_archi: str | None
    gpus: int
    runner: str
    created_at: dt.datetime
    tried_workers: list[str]
    status: str


# --- the rules, in Python -------------------------------------------------


def matches(job: JobLike, offer: WorkerOffer, now: dt.datetime) -> bool:
    """Whether `offer`'s worker may get `job` at time `now` (see the module docstring)."""
    if job.status != JobStatus.queued.value:
        return False
    if job.environment == offer.environment.value:
        env_ok = True
    elif job.environment == Environment.any.value:
        env_ok = job.created_at <= now - dt.timedelta(seconds=offer.older_than)
    else:
        env_ok = False
    return (
        env_ok
        and (job.group is None or job.group in offer.groups)
        and _at_most(job.cpu_cores, offer.cpu_cores)
        and _at_most(job.memory, offer.memory)
        and _at_most(job.gpu_mem, offer.gpu_mem)
        and (job.gpu_model is None or job.gpu_model == offer.gpu_model)
        and (job.gpu_archi is None or job.gpu_archi == offer.gpu_archi)
        and (offer.gpus is None or job.gpus <= offer.gpus)
        and job.runner in offer.runners
    )


def _at_most(required: int | None, available: int) -> bool:
    return required is None or required <= available


def order_key(job: JobLike, offer: WorkerOffer) -> tuple[int, int, int, dt.datetime, int]:
    """Sort key of matching jobs: the smallest is claimed first."""
    return (
        0 if job.group is not None else 1,
        -job.priority,
        1 if offer.worker_id in job.tried_workers else 0,
        job.created_at,
        job.id,
    )


# --- the same rules, in SQL -----------------------------------------------


def match_clause(offer: WorkerOffer, now: dt.datetime) -> ColumnElement[bool]:
    """`matches` as a WHERE clause on `queued_jobs`."""

    def at_most(column: Any, available: int) -> ColumnElement[bool]:
        return or_(column.is_(None), column <= available)

    def equal_if_set(column: Any, offered: str | None) -> ColumnElement[bool]:
        return column.is_(None) if offered is None else or_(column.is_(None), column == offered)

    q = QueuedJob
    return and_(
        q.status == JobStatus.queued.value,
        or_(
            q.environment == offer.environment.value,
            and_(
                q.environment == Environment.any.value,
                q.created_at <= now - dt.timedelta(seconds=offer.older_than),
            ),
        ),
        or_(q.group.is_(None), q.group.in_(offer.groups)),
        at_most(q.cpu_cores, offer.cpu_cores),
        at_most(q.memory, offer.memory),
        at_most(q.gpu_mem, offer.gpu_mem),
        equal_if_set(q.gpu_model, offer.gpu_model),
        equal_if_set(q.gpu_archi, offer.gpu_archi),
        true() if offer.gpus is None else q.gpus <= offer.gpus,
        q.runner.in_(offer.runners),
    )


def _tried_by(worker_id: str) -> ColumnElement[bool]:
    """Whether `tried_workers` (a JSON list of strings) holds `worker_id`.

    Done on the JSON text so that it is the same SQL on SQLite and PostgreSQL:
    the JSON-quoted id can only occur in the text as a whole element.
    """
    quoted = json.dumps(worker_id)
    escaped = quoted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(QueuedJob.tried_workers, String).like(f"%{escaped}%", escape="\\")


def claim_order(offer: WorkerOffer) -> Sequence[Any]:
    """`order_key` as ORDER BY terms."""
    q = QueuedJob
    return (
        case((q.group.is_(None), 1), else_=0),
        q.priority.desc(),
        case((_tried_by(offer.worker_id), 1), else_=0),
        q.created_at.asc(),
        q.id.asc(),
    )


# --- the claim --------------------------------------------------------------


def claim(
    session: Session,
    offer: WorkerOffer,
    limit: int,
    lease_timeout: float,
    now: dt.datetime,
) -> list[QueuedJob]:
    """Lease up to `limit` matching jobs to `offer.worker_id`, best first.

    Must run inside `write_session`: on PostgreSQL the rows are taken with
    `FOR UPDATE SKIP LOCKED`, so concurrent claims never wait for each other nor
    get the same job; on SQLite the write transaction is exclusive (BEGIN
    IMMEDIATE), so the select-then-update cannot interleave with another claim.
    Each claimed job gets status `pulled`, a new attempt (number, holder, lease
    expiry), this worker in `tried_workers`, and a `pulled` outbox event.
    """
    stmt = (
        select(QueuedJob)
        .where(match_clause(offer, now))
        .order_by(*claim_order(offer))
        .limit(limit)
        .with_for_update(skip_locked=True, of=QueuedJob)  # SQLite leaves this out
    )
    jobs = list(session.scalars(stmt))
    lease_until = now + dt.timedelta(seconds=lease_timeout)
    for job in jobs:
        move(job, transition(job.status, JobStatus.pulled), now)
        job.attempt += 1
        job.worker_id = offer.worker_id
        job.lease_expires_at = lease_until
        if offer.worker_id not in job.tried_workers:
            job.tried_workers = [*job.tried_workers, offer.worker_id]
        session.add(
            Attempt(
                queued_job_id=job.id,
                number=job.attempt,
                worker_id=offer.worker_id,
                started_at=now,
                lease_expires_at=lease_until,
            )
        )
        add_event(
            session,
            job.job_id,
            JobStatus.pulled,
            f"pulled by worker {offer.worker_id} (attempt {job.attempt})",
            now,
        )
    session.flush()
    return jobs
