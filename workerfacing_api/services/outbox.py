"""Writing status events to the outbox, inside the caller's transaction.

The session remembers that it wrote some, so that whoever owns the session
factory (the app) can wake the relay right after the commit; see
`workerfacing_api.context.watch_commits`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from shared.jobs.states import JobStatus
from workerfacing_api.db.models import StatusOutbox

# Keys in `Session.info`, read and cleared by the after-commit hook.
WROTE_EVENTS = "labcloud.wrote_status_events"
QUEUED_WORK = "labcloud.queued_work"


def add_event(
    session: Session,
    job_id: int,
    status: JobStatus,
    runtime_details: str | None,
    now: dt.datetime,
    *,
    operator_requeue: bool = False,
) -> None:
    """Record that user-side job `job_id` moved to `status`, for the relay to report.

    `operator_requeue` marks an operator's revival of a failed job (`error → queued`),
    the one move back out of a terminal state the user API must accept.
    """
    session.add(
        StatusOutbox(
            job_id=job_id,
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
