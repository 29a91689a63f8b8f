"""The dead letters, for operators: listing jobs by status, and requeueing a failed one.

A job that ended in `error` (its worker reported it, it was lost too often, it
overran its time limit, its spec was invalid) stays there until an operator
requeues it. The requeue is the only move out of a terminal state
(`shared.jobs.states.revive`): the job is queued as if new, except that its
attempt numbers go on growing, and it gets a fresh retry budget.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from shared.api.errors import Conflict, NotFound
from shared.jobs.specs import SubmittedJob
from shared.jobs.states import IllegalTransition, JobStatus, revive
from workerfacing_api.db.models import QueuedJob
from workerfacing_api.services.leases import find_job
from workerfacing_api.services.outbox import add_event

REQUEUED_BY_OPERATOR = "requeued by an operator"


@dataclass(frozen=True)
class RequeueResult:
    requeued: bool  # False: the job was live already, nothing changed
    status: JobStatus  # the job's status after the call


def list_jobs(
    session: Session, status: JobStatus | None, limit: int, offset: int
) -> list[QueuedJob]:
    """Jobs (of `status`, or all), the most recently updated first."""
    stmt = select(QueuedJob)
    if status is not None:
        stmt = stmt.where(QueuedJob.status == status.value)
    stmt = stmt.order_by(QueuedJob.updated_at.desc(), QueuedJob.id.desc())
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def requeue_job(session: Session, job_id: int, now: dt.datetime) -> RequeueResult:
    """Give failed job `job_id` another round: `queued`, no holder, no tried workers,
    no reason, and `1 + max_retries` more attempts (counted from `attempt_base`); the
    user API is told with a `queued` event marked `operator_requeue`.

    Idempotent: a job that is queued or live already is left alone. NotFound for an
    unknown job; Conflict for a finished or cancelled one (not a dead letter), and for
    one whose spec is invalid (it would only fail again). Must run in `write_session`.
    """
    job = find_job(session, job_id, lock=True)
    if job is None:
        raise NotFound("job not found")
    current = JobStatus(job.status)
    if not current.is_terminal:
        return RequeueResult(requeued=False, status=current)
    try:
        new = revive(current)
    except IllegalTransition:
        raise Conflict(
            f"job {job_id} is {current.value}: only failed jobs (status error) can be requeued"
        ) from None
    try:
        SubmittedJob.model_validate(job.spec)
    except ValidationError:
        raise Conflict(
            f"job {job_id} cannot run again: {job.terminal_reason or 'its spec is invalid'}"
        ) from None
    result = session.execute(
        update(QueuedJob)
        .where(
            QueuedJob.id == job.id,
            QueuedJob.status == current.value,
            QueuedJob.attempt == job.attempt,
        )
        .values(
            status=new.value,
            status_changed_at=now,
            updated_at=now,
            worker_id=None,
            lease_expires_at=None,
            tried_workers=[],
            terminal_reason=None,
            attempt_base=job.attempt,
        )
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:  # the row lock makes this unreachable
        raise Conflict(f"job {job_id} changed meanwhile; try again")
    add_event(
        session,
        job_id,
        new,
        REQUEUED_BY_OPERATOR,
        now,
        submission_id=job.submission_id,
        operator_requeue=True,
    )
    return RequeueResult(requeued=True, status=new)
