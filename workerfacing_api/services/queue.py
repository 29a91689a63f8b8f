"""Which queued jobs a worker may get, in which order, and the atomic claim.

This module is the one place that decides matching and order. The rules are
written twice on purpose, side by side: as Python (`matches`, `order_key`),
which documents them and is what the unit tests reason about, and as SQL
(`match_clause` and the index passes of `candidates`), which the claim runs. A
unit test checks that the two agree on a grid of cases.

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
when possible), then age (oldest first), then queue id. The claim does not sort
the queue by it: it reads indexes in passes that each follow this order and
merges their few candidates (`candidates`), so a claim costs the same with 100 or
100,000 queued jobs.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    or_,
    select,
    true,
)
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
#
# The claim's statements are built once per offer shape (which optional columns the
# offer sets) with the offer's values as bound parameters: building and keying a
# statement of this size costs more CPU than running it, on every poll.


@dataclass(frozen=True)
class _Shape:
    """What changes the SQL of a claim, beyond parameter values."""

    gpu_model: bool  # the worker names a GPU model
    gpu_archi: bool
    gpus: bool  # the worker says how many GPUs are free

    @classmethod
    def of(cls, offer: WorkerOffer) -> _Shape:
        return cls(offer.gpu_model is not None, offer.gpu_archi is not None, offer.gpus is not None)


def match_clause(shape: _Shape) -> ColumnElement[bool]:
    """`matches` as a WHERE clause on `queued_jobs`, its values bound by `_params`."""

    def at_most(column: Any, name: str) -> ColumnElement[bool]:
        return or_(column.is_(None), column <= bindparam(name))

    def equal_if_set(column: Any, name: str, offered: bool) -> ColumnElement[bool]:
        return or_(column.is_(None), column == bindparam(name)) if offered else column.is_(None)

    q = QueuedJob
    return and_(
        q.status == JobStatus.queued.value,
        or_(
            q.environment == bindparam("environment"),
            and_(
                q.environment == Environment.any.value,
                q.created_at <= bindparam("any_before"),
            ),
        ),
        or_(q.group.is_(None), q.group.in_(bindparam("groups", expanding=True))),
        at_most(q.cpu_cores, "cpu_cores"),
        at_most(q.memory, "memory"),
        at_most(q.gpu_mem, "gpu_mem"),
        equal_if_set(q.gpu_model, "gpu_model", shape.gpu_model),
        equal_if_set(q.gpu_archi, "gpu_archi", shape.gpu_archi),
        q.gpus <= bindparam("gpus") if shape.gpus else true(),
        q.runner.in_(bindparam("runners", expanding=True)),
    )


def _params(offer: WorkerOffer, limit: int, now: dt.datetime) -> dict[str, Any]:
    """The values of `match_clause`, `_TRIED` and the limit for `offer`."""
    return {
        "environment": offer.environment.value,
        "any_before": now - dt.timedelta(seconds=offer.older_than),
        "groups": list(offer.groups),
        "cpu_cores": offer.cpu_cores,
        "memory": offer.memory,
        "gpu_mem": offer.gpu_mem,
        "gpu_model": offer.gpu_model,
        "gpu_archi": offer.gpu_archi,
        "gpus": offer.gpus,
        "runners": list(offer.runners),
        "tried_pattern": _tried_pattern(offer.worker_id),
        "limit": limit,
    }


def _tried_pattern(worker_id: str) -> str:
    """The LIKE pattern of `_TRIED`: whether `tried_workers` (a JSON list of strings)
    holds `worker_id`.

    Done on the JSON text so that it is the same SQL on SQLite and PostgreSQL:
    the JSON-quoted id can only occur in the text as a whole element.
    """
    quoted = json.dumps(worker_id)
    escaped = quoted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_TRIED = cast(QueuedJob.tried_workers, String).like(bindparam("tried_pattern"), escape="\\")


class _Pass(StrEnum):
    group = "group"  # the jobs of one group (`group` bound), not tried by the worker
    no_group = "no_group"  # the jobs without a group, not tried by the worker
    tried = "tried"  # the requeued jobs the worker tried before (few: sorted, not indexed)


@functools.cache
def _pass_statement(shape: _Shape, kind: _Pass) -> Select[tuple[QueuedJob]]:
    """One pass of `candidates`: matching jobs in claim order, read from an index."""
    q = QueuedJob
    where = {
        _Pass.group: (q.group == bindparam("group"), ~_TRIED),
        _Pass.no_group: (q.group.is_(None), ~_TRIED),
        _Pass.tried: (q.attempt > 0, _TRIED),
    }[kind]
    in_order = [q.priority.desc(), q.created_at.asc(), q.id.asc()]
    if kind is _Pass.tried:  # a pass over both: group jobs first, as in `order_key`
        in_order.insert(0, case((q.group.is_(None), 1), else_=0))
    return (
        select(q)
        .where(match_clause(shape), *where)
        .order_by(*in_order)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True, of=q)  # SQLite leaves this out
    )


# --- the claim --------------------------------------------------------------


def candidates(
    session: Session, offer: WorkerOffer, limit: int, now: dt.datetime
) -> list[QueuedJob]:
    """The best `limit` matching jobs, locked, without sorting the whole queue.

    `order_key` split into passes, each read from an index in its order and stopped at
    `limit` matches, so a claim costs the same with 100 or 100,000 queued jobs: the
    jobs of each of the worker's groups (ix_queued_jobs_ready_group), then, if they are
    not enough, the jobs without a group (ix_queued_jobs_ready), both leaving out jobs
    this worker tried before; and those, found among the few requeued jobs
    (ix_queued_jobs_retried). The candidates are merged by `order_key`; the extra
    rows locked stay locked only until the claim commits.
    """
    shape, params = _Shape.of(offer), _params(offer, limit, now)

    def take(kind: _Pass, **extra: Any) -> list[QueuedJob]:
        return list(session.scalars(_pass_statement(shape, kind), {**params, **extra}))

    found: list[QueuedJob] = []
    for group in dict.fromkeys(offer.groups):  # a pass per group keeps each in index order
        found += take(_Pass.group, group=group)
    if len(found) < limit:
        found += take(_Pass.no_group)
    found += take(_Pass.tried)  # disjoint from the passes above
    return sorted(found, key=lambda job: order_key(job, offer))[:limit]


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
    jobs = candidates(session, offer, limit, now)
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
            submission_id=job.submission_id,
        )
    session.flush()
    return jobs
