"""Messages from the user API (job transport or `POST /_jobs`): submit and cancel.

Both are idempotent on the user-side job id, because every transport delivers
at least once: a duplicate submit changes nothing, a duplicate cancel neither.
`handle_message` returns only after its transaction has committed, so a
transport may ack the message as soon as it returns.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import ReturningInsert

from shared.jobs.specs import Environment, SubmittedJob
from shared.jobs.states import JobStatus, transition
from shared.transport.base import TransportMessage
from workerfacing_api.db.models import QueuedJob, utcnow
from workerfacing_api.db.session import write_session
from workerfacing_api.services.leases import current_attempt, find_job
from workerfacing_api.services.outbox import add_event

CANCELLED_BY_USER = "cancelled by the user"
DELETED_BY_USER = "deleted by the user"


def handle_message(session_factory: sessionmaker, message: TransportMessage) -> None:
    """Consume one transport message; return once its effect is committed.

    Raises ValueError for a malformed message (the transport should not retry it).
    """
    if message.kind == "submit":
        submitted = SubmittedJob.model_validate(message.payload)
        if submitted.job.meta.job_id != message.job_id:
            raise ValueError(
                f"message for job {message.job_id} carries the spec of job "
                f"{submitted.job.meta.job_id}"
            )
        with write_session(session_factory) as session:
            submit_job(session, submitted, utcnow())
    elif message.kind == "cancel":
        with write_session(session_factory) as session:
            cancel_job(session, message.job_id, CANCELLED_BY_USER, utcnow())
    else:
        raise ValueError(f"unknown message kind {message.kind!r}")


def submit_job(session: Session, submitted: SubmittedJob, now: dt.datetime) -> bool:
    """Queue a job unless its id is already known; True if it was queued now.

    The insert relies on the UNIQUE job_id (`ON CONFLICT DO NOTHING`), so two
    deliveries racing each other still create one job. A known id may also be
    the tombstone of a cancel that arrived first: then the job stays cancelled.
    """
    hardware = submitted.job.hardware
    values: dict[str, Any] = {
        "job_id": submitted.job.meta.job_id,
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
        "status": JobStatus.queued.value,
    }
    if not _insert_if_new(session, values, now):
        return False
    add_event(session, submitted.job.meta.job_id, JobStatus.queued, None, now)
    return True


def cancel_job(
    session: Session, job_id: int, reason: str, now: dt.datetime, *, report: bool = True
) -> bool:
    """Cancel job `job_id` from any live state; True if this call cancelled it.

    The attempt in progress ends, so its holder's next status call gets 404 and
    it kills the container. A cancel for a job not seen yet leaves a cancelled
    tombstone, so that a submit arriving later (out of order) is ignored.
    `report=False` skips the outbox event (the user side no longer has the job).
    """
    job = find_job(session, job_id, lock=True)
    if job is None:
        tombstone = {
            "job_id": job_id,
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
    current = JobStatus(job.status)
    if current.is_terminal:
        return False
    job.status = transition(current, JobStatus.canceled).value
    job.terminal_reason = reason
    job.lease_expires_at = None
    job.updated_at = now
    attempt = current_attempt(session, job)
    if attempt is not None and attempt.ended_at is None:
        attempt.ended_at = now
        attempt.outcome = JobStatus.canceled.value
    if report:
        add_event(session, job_id, JobStatus.canceled, reason, now)
    return True


def _insert_if_new(session: Session, values: dict[str, Any], now: dt.datetime) -> bool:
    """INSERT … ON CONFLICT (job_id) DO NOTHING; True if a row was inserted."""
    table: Table = QueuedJob.__table__  # type: ignore[assignment]
    dialect = session.get_bind().dialect.name
    row = {"created_at": now, "updated_at": now, "attempt": 0, "tried_workers": [], **values}
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
