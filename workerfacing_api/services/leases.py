"""Leases: status reports and heartbeats from the holder, and the sweep of lost ones.

Every change is fenced by (job, attempt): only the current holder of a live job
may report on it, and the sweeper changes a job only if it is still in the
state and attempt it saw. Functions that write must run inside `write_session`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Float, and_, func, or_, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from shared.api.errors import Conflict, NotFound
from shared.jobs.states import IllegalTransition, JobStatus, requeue, transition
from workerfacing_api.db.models import Attempt, QueuedJob, utcnow
from workerfacing_api.services.outbox import add_event

LEASED = (JobStatus.pulled, JobStatus.preprocessing, JobStatus.running, JobStatus.postprocessing)
LEASED_VALUES = tuple(s.value for s in LEASED)
# Staging the inputs and uploading the outputs have time limits of their own.
STAGING_VALUES = (JobStatus.pulled.value, JobStatus.preprocessing.value)
LOST_REASON = "lost: max retries reached"
# After reporting `error`, DECODE's worker still sends `postprocessing`, uploads the
# outputs and logs, and sends `error` again with the log tail: its holder may do so
# for this long.
ERROR_GRACE = dt.timedelta(minutes=15)
MAX_REASON = 2000  # terminal_reason keeps the tail of what the worker said


class StatusOutcome(StrEnum):
    heartbeat = "heartbeat"  # same status again: the lease was extended, nothing else
    moved = "moved"  # a legal move, recorded and reported


def find_job(session: Session, job_id: int, *, lock: bool = False) -> QueuedJob | None:
    """The queued job with user-side id `job_id`, row-locked on PostgreSQL if `lock`."""
    stmt = select(QueuedJob).where(QueuedJob.job_id == job_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def get_job(session: Session, job_id: int) -> QueuedJob:
    job = find_job(session, job_id)
    if job is None:
        raise NotFound("job not found")
    return job


def current_attempt(session: Session, job: QueuedJob) -> Attempt | None:
    return session.scalars(
        select(Attempt).where(Attempt.queued_job_id == job.id, Attempt.number == job.attempt)
    ).first()


def move(job: QueuedJob, new: JobStatus, now: dt.datetime) -> None:
    """Record a status change of `job` (a row the caller holds locked).

    Every status change sets `status_changed_at`, which the per-state time limits run
    from; a heartbeat (the same status again) does not.
    """
    job.status = new.value
    job.status_changed_at = now
    job.updated_at = now


def held_job(
    session: Session,
    job_id: int,
    worker_id: str,
    *,
    attempt: int | None = None,
    lock: bool = False,
    after_error: bool = False,
) -> QueuedJob:
    """The job if it is live and leased to `worker_id` (in `attempt`, when the worker
    states it); NotFound otherwise.

    NotFound (HTTP 404) is DECODE's signal to a worker that the job was deleted,
    cancelled or given to someone else: it kills its container and moves on.
    With `after_error`, a job its holder has just reported as `error` still counts
    as held for `ERROR_GRACE` (to upload its outputs and logs).
    """
    job = find_job(session, job_id, lock=lock)
    if (
        job is None
        or job.worker_id != worker_id
        or (attempt is not None and job.attempt != attempt)
    ):
        raise NotFound("job not found, or no longer leased to this worker")
    if job.status in LEASED_VALUES or (after_error and _in_error_grace(session, job)):
        return job
    raise NotFound("job not found, or no longer leased to this worker")


def _in_error_grace(session: Session, job: QueuedJob) -> bool:
    """Whether the holder itself reported `error` for the current attempt, recently."""
    if job.status != JobStatus.error.value:
        return False
    attempt = current_attempt(session, job)
    return (
        attempt is not None
        and attempt.outcome == JobStatus.error.value
        and attempt.ended_at is not None
        and attempt.ended_at > utcnow() - ERROR_GRACE
    )


def update_status(
    session: Session,
    job_id: int,
    worker_id: str,
    status: JobStatus,
    runtime_details: str | None,
    *,
    lease_timeout: float,
    now: dt.datetime,
    attempt: int | None = None,
) -> StatusOutcome:
    """Apply a status report (and heartbeat) from the holder of job `job_id`.

    The same status again only extends the lease. A legal move (see
    `shared.jobs.states`) is stored with an outbox event and extends the lease;
    a terminal status also ends the attempt. An illegal move raises Conflict and
    changes nothing; a caller that is not the holder gets NotFound. After its own
    `error`, the holder's further reports are accepted and change nothing, except
    that the details of a repeated `error` (DECODE's worker sends the log tail
    then) are passed on. An `error` without details is recorded as "error reported by
    worker X", so that every failed job says why.
    """
    lease_until = now + dt.timedelta(seconds=lease_timeout)
    if _heartbeat(session, job_id, worker_id, status, attempt, lease_until, now):
        return StatusOutcome.heartbeat
    job = held_job(session, job_id, worker_id, attempt=attempt, lock=True, after_error=True)
    current = JobStatus(job.status)
    if current.is_terminal:
        if status is current and runtime_details:
            add_event(
                session, job.job_id, current, runtime_details, now, submission_id=job.submission_id
            )
        return StatusOutcome.heartbeat
    lease = current_attempt(session, job)
    if status is current:
        _extend(job, lease, lease_until, now)
        return StatusOutcome.heartbeat
    try:
        new = transition(current, status)
    except IllegalTransition as exc:
        raise Conflict(str(exc)) from None
    move(job, new, now)
    if new.is_terminal:
        if new is JobStatus.error and not runtime_details:
            runtime_details = f"error reported by worker {worker_id}"
        job.lease_expires_at = None
        job.terminal_reason = (runtime_details or f"{new.value} (reported by the worker)")[
            -MAX_REASON:
        ]
        if lease is not None:
            lease.ended_at = now
            lease.outcome = new.value
    else:
        _extend(job, lease, lease_until, now)
    add_event(session, job.job_id, new, runtime_details, now, submission_id=job.submission_id)
    return StatusOutcome.moved


def _heartbeat(
    session: Session,
    job_id: int,
    worker_id: str,
    status: JobStatus,
    attempt: int | None,
    until: dt.datetime,
    now: dt.datetime,
) -> bool:
    """The common report, the holder repeating a leased job's status, as two guarded
    UPDATEs that load no row; False (nothing changed) for anything else, which takes the
    full path. The guard is `held_job`'s test, so the outcome is the same."""
    if status not in LEASED:
        return False
    q = QueuedJob
    guard = [q.job_id == job_id, q.worker_id == worker_id, q.status == status.value]
    if attempt is not None:
        guard.append(q.attempt == attempt)
    held = session.execute(
        update(q)
        .where(*guard)
        .values(lease_expires_at=until, updated_at=now)
        .returning(q.id, q.attempt)
        .execution_options(synchronize_session=False)
    ).first()
    if held is None:
        return False
    session.execute(
        update(Attempt)
        .where(Attempt.queued_job_id == held.id, Attempt.number == held.attempt)
        .values(lease_expires_at=until)
        .execution_options(synchronize_session=False)
    )
    return True


def _extend(job: QueuedJob, attempt: Attempt | None, until: dt.datetime, now: dt.datetime) -> None:
    job.lease_expires_at = until
    job.updated_at = now
    if attempt is not None:
        attempt.lease_expires_at = until


@dataclass
class SweepReport:
    requeued: list[int] = field(default_factory=list)  # user-side job ids
    failed: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class TimeLimits:
    """How long a job may stay in one state, heartbeats or not (seconds)."""

    staging: float  # `pulled` or `preprocessing`; then requeued like an expired lease
    upload: float  # `postprocessing`; the same
    running_grace: float  # `running` beyond the job's own timeout; then `error`, final


@dataclass(frozen=True)
class Verdict:
    """What the sweep does to one job, and why."""

    cause: str  # for the outbox and the reason: "lease expired on worker a", ...
    outcome: str  # of the attempt: expired | stuck | timeout
    final: bool  # `error` whatever the attempts left (a job that overran its timeout)


def sweep(session: Session, now: dt.datetime, max_retries: int, limits: TimeLimits) -> SweepReport:
    """Requeue every leased job whose lease ran out or that overstayed a time limit, or
    fail it when out of attempts.

    - lease expired (no heartbeat for the lease timeout), or `pulled`/`preprocessing`
      longer than `limits.staging`, or `postprocessing` longer than `limits.upload`:
      requeued, and the attempt counts. A job is attempted at most `1 + max_retries`
      times since its last operator requeue (`attempt - attempt_base`); after that it
      ends in `error`, "lost: max retries reached (<cause>)".
    - `running` longer than its timeout plus `limits.running_grace`: `error`, final
      ("timeout: still running N s after its T s limit"): the worker should have
      killed it, so running it again would likely overrun again.

    When several apply, the one that fell due first decides. Safe to run in several
    processes at once: PostgreSQL skips rows another sweep (or a heartbeat) has
    locked, and each change is a guarded UPDATE on the status and attempt seen.
    """
    report = SweepReport()
    dialect = session.get_bind().dialect.name
    due = session.scalars(
        select(QueuedJob)
        .where(QueuedJob.status.in_(LEASED_VALUES), due_clause(now, limits, dialect))
        .order_by(QueuedJob.id)
        .with_for_update(skip_locked=True, of=QueuedJob)
    ).all()
    max_attempts = 1 + max_retries
    for job in due:
        decision = verdict(job, now, limits)
        if decision is None:
            continue  # picked by the SQL's rounding, not due by the exact rule
        seen_status, seen_attempt = job.status, job.attempt
        tries = seen_attempt - job.attempt_base
        values: dict[str, object]
        if not decision.final and tries < max_attempts:
            new = requeue(seen_status)
            details = f"{decision.cause}, requeued (attempt {tries + 1} of {max_attempts})"
            values = {"worker_id": None}
        else:
            new = transition(seen_status, JobStatus.error)
            details = decision.cause if decision.final else f"{LOST_REASON} ({decision.cause})"
            values = {"terminal_reason": details[-MAX_REASON:]}
        result = session.execute(
            update(QueuedJob)
            .where(
                QueuedJob.id == job.id,
                QueuedJob.status == seen_status,
                QueuedJob.attempt == seen_attempt,
            )
            .values(
                status=new.value,
                status_changed_at=now,
                lease_expires_at=None,
                updated_at=now,
                **values,
            )
            .execution_options(synchronize_session=False)
        )
        changed = cast(CursorResult[Any], result).rowcount
        if changed != 1:
            continue  # someone else moved it meanwhile: theirs is the newer truth
        session.execute(
            update(Attempt)
            .where(
                Attempt.queued_job_id == job.id,
                Attempt.number == seen_attempt,
                Attempt.ended_at.is_(None),
            )
            .values(ended_at=now, outcome=decision.outcome)
            .execution_options(synchronize_session=False)
        )
        add_event(session, job.job_id, new, details, now, submission_id=job.submission_id)
        (report.requeued if new is JobStatus.queued else report.failed).append(job.job_id)
    return report


def due_clause(now: dt.datetime, limits: TimeLimits, dialect: str) -> ColumnElement[bool]:
    """The jobs `verdict` may act on, as a WHERE clause (with the leased-status filter)."""
    q = QueuedJob

    def since(seconds: float) -> dt.datetime:
        return now - dt.timedelta(seconds=seconds)

    running_limit = sql_cast(q.timeout_s, Float) + limits.running_grace
    if dialect == "postgresql":
        overran = q.status_changed_at + func.make_interval(0, 0, 0, 0, 0, 0, running_limit) < now
    else:  # SQLite keeps dates as text; julianday() reads it as fractional days
        elapsed = (func.julianday(now) - func.julianday(q.status_changed_at)) * 86400.0
        overran = elapsed > running_limit
    return or_(
        q.lease_expires_at < now,
        and_(q.status.in_(STAGING_VALUES), q.status_changed_at < since(limits.staging)),
        and_(
            q.status == JobStatus.postprocessing.value,
            q.status_changed_at < since(limits.upload),
        ),
        and_(
            q.status == JobStatus.running.value,
            q.timeout_s.is_not(None),
            q.status_changed_at < since(limits.running_grace),
            overran,
        ),
    )


def verdict(job: QueuedJob, now: dt.datetime, limits: TimeLimits) -> Verdict | None:
    """Why the sweep must act on `job` at `now`, if it must: the earliest due of its
    lease expiry and the time limit of its state."""
    candidates: list[tuple[dt.datetime, Verdict]] = []
    holder = job.worker_id
    if job.lease_expires_at is not None and job.lease_expires_at < now:
        cause = f"lease expired on worker {holder}"
        candidates.append((job.lease_expires_at, Verdict(cause, "expired", final=False)))
    in_state = now - job.status_changed_at
    seconds = int(in_state.total_seconds())
    limit = None
    if job.status in STAGING_VALUES:
        limit = limits.staging
    elif job.status == JobStatus.postprocessing.value:
        limit = limits.upload
    if limit is not None and in_state > dt.timedelta(seconds=limit):
        cause = f"stuck in {job.status} for {seconds} s on worker {holder}"
        deadline = job.status_changed_at + dt.timedelta(seconds=limit)
        candidates.append((deadline, Verdict(cause, "stuck", final=False)))
    if job.status == JobStatus.running.value and job.timeout_s is not None:
        allowed = dt.timedelta(seconds=job.timeout_s + limits.running_grace)
        if in_state > allowed:
            cause = (
                f"timeout: still running {seconds - job.timeout_s} s "
                f"after its {job.timeout_s} s limit"
            )
            deadline = job.status_changed_at + allowed
            candidates.append((deadline, Verdict(cause, "timeout", final=True)))
    return min(candidates, key=lambda c: c[0])[1] if candidates else None
