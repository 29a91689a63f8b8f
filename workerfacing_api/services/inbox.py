"""Messages from the user API (job transport or `POST /_jobs`): submit and cancel.

Both are idempotent on the user-side job id, because every transport delivers
at least once: a duplicate submit changes nothing, a duplicate cancel neither.
`handle_message` returns only after its transaction has committed, so a
transport may ack the message as soon as it returns.

A duplicate is the same job id with the same submission id (`shared.jobs.identity`).
A submit whose job id is known from another submission is another job, which came
after the user API's database was reset or restored: it is refused loudly
(`SubmissionConflict`: 409 on `POST /_jobs`, dead-lettered on a broker, logged at
ERROR) and reported to the user API as that submission's `error`, so that the new
job says why instead of waiting forever. A cancel for another submission of the id
changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import ReturningInsert

from shared.api.errors import Conflict
from shared.jobs.identity import collision_reason, same_submission
from shared.jobs.specs import Environment, SubmittedJob
from shared.jobs.states import JobStatus, transition
from shared.log_context import job_fields
from shared.transport.base import MessageRefused, TransportMessage
from workerfacing_api.db.models import QueuedJob, StatusOutbox, utcnow
from workerfacing_api.db.session import write_session
from workerfacing_api.services.leases import current_attempt, find_job, move
from workerfacing_api.services.outbox import add_event

CANCELLED_BY_USER = "cancelled by the user"
DELETED_BY_USER = "deleted by the user"
INVALID_SPEC = "invalid spec"
_MAX_JOB_ID = 2**31 - 1  # the column is a 32-bit INTEGER

log = logging.getLogger(__name__)


class SubmissionConflict(Conflict, MessageRefused):
    """A submit of a job id the worker API knows from another submission (409; a broker
    message is dead-lettered, not retried: it would be refused the same way again)."""

    def __init__(self, job_id: int, known: str | None, given: str) -> None:
        super().__init__(collision_reason(job_id, known, given))
        self.job_id, self.known, self.given = job_id, known, given


def handle_message(session_factory: sessionmaker, message: TransportMessage) -> None:
    """Consume one transport message; return once its effect is committed.

    A submit whose spec is invalid but names its job (`job.meta.job_id`) is recorded
    as that job failed ("invalid spec: …"), with an `error` event for the user API,
    so that it is not sent again forever. Raises ValueError for a message that cannot
    be tied to a job (no usable job id, or another job's spec) or of an unknown kind,
    and SubmissionConflict (once the user API's `error` is committed to the outbox) for
    a submit of a job id known from another submission.
    """
    if message.kind == "submit":
        try:
            with write_session(session_factory) as session:
                _submit(session, message)
        except SubmissionConflict as conflict:
            with write_session(session_factory) as session:
                report_conflict(session, conflict, utcnow())
            log.error(
                "refused the submission of job %s: %s",
                conflict.job_id,
                conflict,
                extra=job_fields(conflict.job_id),
            )
            raise
    elif message.kind == "cancel":
        with write_session(session_factory) as session:
            cancel_job(
                session,
                message.job_id,
                CANCELLED_BY_USER,
                utcnow(),
                submission_id=submission_of(message.payload),
            )
    else:
        raise ValueError(f"unknown message kind {message.kind!r}")


def _submit(session: Session, message: TransportMessage) -> None:
    try:
        submitted = SubmittedJob.model_validate(message.payload)
    except ValidationError as exc:
        job_id = spec_job_id(message.payload)
        if job_id is None:
            raise ValueError(f"{invalid_spec_reason(exc)}, and no usable job.meta.job_id") from None
        _check_same_job(message.job_id, job_id)
        record_invalid_job(session, job_id, message.payload, invalid_spec_reason(exc), utcnow())
        return
    _check_same_job(message.job_id, submitted.job.meta.job_id)
    submit_job(session, submitted, utcnow())


def submission_of(payload: Any) -> str | None:
    """The submission id a message's payload gives, if it gives a valid one."""
    given = payload.get("submission_id") if isinstance(payload, dict) else None
    try:
        return str(uuid.UUID(given)) if isinstance(given, str) else None
    except ValueError:
        return None


def report_conflict(session: Session, conflict: SubmissionConflict, now: dt.datetime) -> None:
    """Tell the user API, once, that the refused submission ended in `error` and why."""
    reported = session.scalar(
        select(StatusOutbox.id)
        .where(
            StatusOutbox.job_id == conflict.job_id,
            StatusOutbox.submission_id == conflict.given,
            StatusOutbox.status == JobStatus.error.value,
        )
        .limit(1)
    )
    if reported is None:
        add_event(
            session,
            conflict.job_id,
            JobStatus.error,
            str(conflict),
            now,
            submission_id=conflict.given,
        )


def _check_same_job(message_job_id: int, spec_job_id: int) -> None:
    if spec_job_id != message_job_id:
        raise ValueError(f"message for job {message_job_id} carries the spec of job {spec_job_id}")


def spec_job_id(payload: Any) -> int | None:
    """The job id an (invalid) submitted spec names, if it is usable as one."""
    meta = payload.get("job") if isinstance(payload, dict) else None
    meta = meta.get("meta") if isinstance(meta, dict) else None
    job_id = meta.get("job_id") if isinstance(meta, dict) else None
    if type(job_id) is int and 0 < job_id <= _MAX_JOB_ID:
        return job_id
    return None


def invalid_spec_reason(exc: ValidationError) -> str:
    """ "invalid spec: <where>: <what>", from pydantic's first error."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return (
        f"{INVALID_SPEC}: {where}: {first['msg']}" if where else f"{INVALID_SPEC}: {first['msg']}"
    )


def record_invalid_job(
    session: Session, job_id: int, payload: Any, reason: str, now: dt.datetime
) -> bool:
    """Store job `job_id`, whose spec is invalid, as failed with `reason`, and tell the
    user API; True if recorded now. Idempotent like `submit_job`: a known id (a job,
    or a cancel's tombstone) is left as it is; SubmissionConflict if it is known from
    another submission.

    The payload is kept as the job's spec for the operator to see; it can never be
    claimed (the job is in `error`) nor requeued (its spec does not validate).
    """
    environment = payload.get("environment") if isinstance(payload, dict) else None
    values: dict[str, Any] = {
        "job_id": job_id,
        "submission_id": submission_of(payload),
        "spec": json.loads(json.dumps(payload, default=str)),
        "environment": environment
        if isinstance(environment, str) and environment in set(Environment)
        else Environment.any.value,
        "priority": 0,
        "paths_upload": {},
        "status": JobStatus.error.value,
        "terminal_reason": reason,
    }
    if not _admit(session, values, now):
        return False
    add_event(session, job_id, JobStatus.error, reason, now, submission_id=values["submission_id"])
    return True


def submit_job(session: Session, submitted: SubmittedJob, now: dt.datetime) -> bool:
    """Queue a job unless its id is already known; True if it was queued now.

    The insert relies on the UNIQUE job_id (`ON CONFLICT DO NOTHING`), so two
    deliveries racing each other still create one job. A known id may also be
    the tombstone of a cancel that arrived first: then the job stays cancelled.
    SubmissionConflict (nothing changed) if the id is known from another submission.
    """
    hardware = submitted.job.hardware
    submission_id = str(submitted.submission_id) if submitted.submission_id else None
    values: dict[str, Any] = {
        "job_id": submitted.job.meta.job_id,
        "submission_id": submission_id,
        "spec": submitted.model_dump(mode="json"),
        "environment": submitted.environment.value,
        "group": submitted.group,
        "priority": submitted.priority,
        "paths_upload": submitted.paths_upload.model_dump(mode="json"),
        "cpu_cores": hardware.cpu_cores,
        "memory": hardware.memory,
        "gpu_mem": hardware.gpu_mem,
        "gpu_model": hardware.gpu_model,
        "gpu_archi": hardware.gpu_archi,
        "gpus": submitted.job.handler.gpus,
        "runner": submitted.job.handler.runner,
        "timeout_s": submitted.job.handler.timeout,
        "status": JobStatus.queued.value,
    }
    if not _admit(session, values, now):
        return False
    add_event(
        session, submitted.job.meta.job_id, JobStatus.queued, None, now, submission_id=submission_id
    )
    return True


def cancel_job(
    session: Session,
    job_id: int,
    reason: str,
    now: dt.datetime,
    *,
    report: bool = True,
    submission_id: str | None = None,
) -> bool:
    """Cancel job `job_id` from any live state; True if this call cancelled it.

    The attempt in progress ends, so its holder's next status call gets 404 and
    it kills the container. A cancel for a job not seen yet leaves a cancelled
    tombstone, so that a submit arriving later (out of order) is ignored.
    `report=False` skips the outbox event (the user side no longer has the job).
    A cancel about another submission (`submission_id`) of the id changes nothing.
    """
    job = find_job(session, job_id, lock=True)
    if job is None:
        tombstone = {
            "job_id": job_id,
            "submission_id": submission_id,
            "spec": {},
            "environment": Environment.any.value,
            "priority": 0,
            "paths_upload": {},
            "status": JobStatus.canceled.value,
            "terminal_reason": f"{reason} before the job arrived",
        }
        if _insert_if_new(session, tombstone, now):
            return False
        job = find_job(session, job_id, lock=True)  # a submit won the race: cancel that
        assert job is not None
    if not same_submission(job.submission_id, submission_id):
        log.warning(
            "job %s: ignored a cancel of submission %s (the job here is %s)",
            job_id,
            submission_id,
            job.submission_id,
            extra=job_fields(job_id),
        )
        return False
    current = JobStatus(job.status)
    if current.is_terminal:
        return False
    move(job, transition(current, JobStatus.canceled), now)
    job.terminal_reason = reason
    job.lease_expires_at = None
    attempt = current_attempt(session, job)
    if attempt is not None and attempt.ended_at is None:
        attempt.ended_at = now
        attempt.outcome = JobStatus.canceled.value
    if report:
        add_event(session, job_id, JobStatus.canceled, reason, now, submission_id=job.submission_id)
    return True


def _admit(session: Session, values: dict[str, Any], now: dt.datetime) -> bool:
    """Insert the job `values` describe unless its id is known; True if inserted.
    SubmissionConflict if the id is known from another submission."""
    if _insert_if_new(session, values, now):
        return True
    known = session.scalar(
        select(QueuedJob.submission_id).where(QueuedJob.job_id == values["job_id"])
    )
    given = values["submission_id"]
    if not same_submission(known, given):
        raise SubmissionConflict(values["job_id"], known, given)
    return False


def _insert_if_new(session: Session, values: dict[str, Any], now: dt.datetime) -> bool:
    """INSERT … ON CONFLICT (job_id) DO NOTHING; True if a row was inserted."""
    table: Table = QueuedJob.__table__  # type: ignore[assignment]
    dialect = session.get_bind().dialect.name
    row = {
        "created_at": now,
        "updated_at": now,
        "status_changed_at": now,
        "attempt": 0,
        "tried_workers": [],
        **values,
    }
    stmt: ReturningInsert[tuple[int]]
    if dialect == "postgresql":
        stmt = (
            postgresql.insert(table)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["job_id"])
            .returning(table.c.id)
        )
    elif dialect == "sqlite":
        stmt = (
            sqlite.insert(table)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["job_id"])
            .returning(table.c.id)
        )
    else:
        raise RuntimeError(f"unsupported database {dialect!r}: use PostgreSQL or SQLite")
    # RETURNING, not rowcount: with RETURNING the driver's rowcount is not reliable.
    return session.execute(stmt).first() is not None
