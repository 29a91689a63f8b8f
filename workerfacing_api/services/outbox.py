"""Writing status events to the outbox, inside the caller's transaction.

The session remembers that it wrote some, so that whoever owns the session
factory (the app) can wake the relay right after the commit; see
`workerfacing_api.context.watch_commits`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.jobs.states import JobStatus
from workerfacing_api.db.models import StatusOutbox

# Keys in `Session.info`, read and cleared by the after-commit hook.
WROTE_EVENTS = "labcloud.wrote_status_events"
QUEUED_WORK = "labcloud.queued_work"
# Kinds of outbox rows: a status change, or "the live log of an attempt changed".
STATUS_EVENT = "status"
LOG_EVENT = "log"


def add_event(
    session: Session,
    job_id: int,
    status: JobStatus,
    runtime_details: str | None,
    now: dt.datetime,
    *,
    submission_id: str | None,
    operator_requeue: bool = False,
) -> None:
    """Record that user-side job `job_id` (of submission `submission_id`) moved to
    `status`, for the relay to report.

    `operator_requeue` marks an operator's revival of a failed job (`error → queued`),
    the one move back out of a terminal state the user API must accept.
    """
    session.add(
        StatusOutbox(
            job_id=job_id,
            submission_id=submission_id,
            status=status.value,
            runtime_details=runtime_details,
            operator_requeue=operator_requeue,
            created_at=now,
            next_attempt_at=now,
        )
    )
    session.info[WROTE_EVENTS] = True
    if status is JobStatus.queued:
        # A job became claimable: long-polling workers can stop waiting.
        session.info[QUEUED_WORK] = True


def add_log_event(
    session: Session,
    job_id: int,
    attempt: int,
    status: str,
    now: dt.datetime,
    *,
    submission_id: str | None,
) -> None:
    """Record that the live log of attempt `attempt` of job `job_id` changed.

    One row per attempt, ever: the relay sends the attempt's tail as it is when
    delivering (and again if it moved on meanwhile), so a row waiting to go stands for
    any number of chunks, and a delivered one is made due again rather than joined by
    another, however long and chatty the job. The caller holds the job's row lock, as
    the relay does when it records a log delivery, so the two never both conclude that
    the other will send the change.
    """
    session.info[WROTE_EVENTS] = True  # wake the relay
    row = session.scalars(
        select(StatusOutbox).where(
            StatusOutbox.job_id == job_id,
            StatusOutbox.kind == LOG_EVENT,
            StatusOutbox.attempt == attempt,
        )
    ).first()
    if row is None:
        session.add(
            StatusOutbox(
                job_id=job_id,
                submission_id=submission_id,
                kind=LOG_EVENT,
                attempt=attempt,
                status=status,
                created_at=now,
                next_attempt_at=now,
            )
        )
    elif row.delivered_at is not None:
        row.delivered_at, row.next_attempt_at, row.status = None, now, status
        row.attempts, row.last_error = 0, None
