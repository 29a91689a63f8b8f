"""Status reports from the worker API, applied through the shared state machine.

Reports arrive at least once and possibly out of order; applying them is
idempotent and monotonic: a duplicate, late or backward report is recorded as an
event and changes nothing else. They come one by one (`apply_status_update`) or in
batches (`apply_status_updates`: one transaction, one savepoint per report).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared import db
from shared.api.errors import NotFound
from shared.jobs.identity import same_submission
from shared.jobs.states import IllegalTransition, JobStatus, requeue, revive, transition
from shared.log_context import job_fields
from userfacing_api.db.models import (
    Job,
    Notification,
    OutboxMessage,
    StatusEvent,
    UserPreference,
    utcnow,
)
from userfacing_api.schemas import JobStatusUpdate, StatusChange
from userfacing_api.services.jobs import get_job
from userfacing_api.services.notifications import compose_job_email

log = logging.getLogger(__name__)
MAX_DETAILS = 64_000  # runtime_details grows with each report; keep its tail
# Statuses that mean a worker has the job: the first of them sets date_started.
STARTED = frozenset(
    {
        JobStatus.pulled,
        JobStatus.preprocessing,
        JobStatus.running,
        JobStatus.postprocessing,
        JobStatus.finished,
    }
)


@dataclass(frozen=True)
class StatusOutcome:
    applied: bool
    status: JobStatus
    reason: str | None = None


@dataclass(frozen=True)
class BatchItemOutcome:
    """What became of one report of a batch: `applied` (taken: applied, or recorded and
    refused, see `outcome`), `gone` (no such job) or `failed` (not taken, send it again)."""

    result: Literal["applied", "gone", "failed"]
    detail: str | None = None
    outcome: StatusOutcome | None = None


def apply_status_update(
    session: Session,
    job_id: int,
    status: JobStatus,
    runtime_details: str | None,
    *,
    operator_requeue: bool = False,
    submission_id: str | uuid.UUID | None = None,
) -> StatusOutcome:
    """Move a job to `status` if the state machine allows it; NotFound for an unknown job,
    and for a report about another submission of its id (`submission_id`, when given)."""
    outcome = _apply(
        session,
        job_id,
        status,
        runtime_details,
        operator_requeue=operator_requeue,
        submission_id=submission_id,
    )
    session.commit()
    return outcome


def apply_status_updates(
    session: Session, updates: Sequence[JobStatusUpdate]
) -> list[BatchItemOutcome]:
    """Apply a batch of reports, in order, each as `apply_status_update` would, in one
    transaction with a savepoint per report: a report that fails is rolled back alone and
    neither undoes nor blocks the others. One outcome per report, in the same order."""
    db.begin_write(session)  # a savepoint reads a job, then writes it
    results: list[BatchItemOutcome] = []
    for item in updates:
        try:
            with session.begin_nested():
                outcome = _apply(
                    session,
                    item.job_id,
                    item.status,
                    item.runtime_details,
                    operator_requeue=item.operator_requeue,
                    submission_id=item.submission_id,
                )
        except NotFound as exc:
            results.append(BatchItemOutcome("gone", str(exc)))
        except Exception as exc:  # one report's failure must not take the batch down
            log.warning(
                "job %s: status report failed: %r",
                item.job_id,
                exc,
                exc_info=True,
                extra=job_fields(item.job_id),
            )
            results.append(BatchItemOutcome("failed", f"{type(exc).__name__}: {exc}"[:300]))
        else:
            results.append(BatchItemOutcome("applied", outcome.reason, outcome))
    session.commit()
    return results


def _apply(
    session: Session,
    job_id: int,
    status: JobStatus,
    runtime_details: str | None,
    *,
    operator_requeue: bool = False,
    submission_id: str | uuid.UUID | None = None,
) -> StatusOutcome:
    """`apply_status_update` without the commit (the caller's)."""
    job = find_reported_job(session, job_id, submission_id)
    current = JobStatus(job.status)
    if status is JobStatus.queued and current is JobStatus.queued:
        return _confirm_queued(session, job_id, runtime_details)
    if status is current and current.is_terminal and runtime_details:
        return _add_late_details(session, job, runtime_details)
    try:
        if status is not JobStatus.queued:
            new = transition(current, status)
        elif operator_requeue:
            new = revive(current)  # an operator gave a failed job another chance
        else:
            new = requeue(current)  # the worker API's sweeper gives a lost job another try
    except IllegalTransition as exc:
        session.add(
            StatusEvent(
                job_id=job_id,
                status=status.value,
                runtime_details=runtime_details,
                applied=False,
                note=exc.reason,
            )
        )
        log.info("job %s: ignored status report: %s", job_id, exc, extra=job_fields(job_id))
        return StatusOutcome(False, current, str(exc))

    now = utcnow()
    job.status = new.value
    job.status_changed_at = now
    if job.date_started is None and new in STARTED:
        job.date_started = now
    _append_details(job, runtime_details)
    session.add(
        StatusEvent(job_id=job_id, status=new.value, runtime_details=runtime_details, applied=True)
    )
    if new is JobStatus.queued and current.is_terminal:
        job.date_finished = None  # revived: it has not ended after all
    if new.is_terminal:
        job.date_finished = job.date_finished or now
        _record_notification_due(session, job)
        # The worker API has seen this submission (it may have ended it without ever
        # confirming `queued`: a refused id collision): nothing more to deliver.
        _submit_delivered(session, job_id)
    return StatusOutcome(True, new)


def find_reported_job(session: Session, job_id: int, submission_id: str | uuid.UUID | None) -> Job:
    """The job a report from the worker API is about, row-locked; NotFound when there is
    none, or when the report is about another submission of the same id (an earlier job
    the worker API still knows, from before this database was reset): its reports must
    never write into this job."""
    job = session.scalars(select(Job).where(Job.id == job_id).with_for_update()).first()
    if job is None:
        raise NotFound("job not found")
    if not same_submission(job.submission_id, submission_id):
        log.warning(
            "job %s: refused a report about submission %s (the job's is %s)",
            job_id,
            submission_id,
            job.submission_id,
            extra=job_fields(job_id),
        )
        raise NotFound(f"job not found: job {job_id} is another submission")
    return job


def status_history(session: Session, user_id: str, job_id: int) -> list[StatusChange]:
    """The status changes of the user's job `job_id`, oldest first (NotFound if it is not
    theirs): `queued` at submission, then every applied report that changed the status
    (a repeated confirmation of the same status is not a change)."""
    job = get_job(session, user_id, job_id)
    history = [StatusChange(status=JobStatus.queued, time=job.date_created)]
    events = session.scalars(
        select(StatusEvent)
        .where(StatusEvent.job_id == job_id, StatusEvent.applied.is_(True))
        .order_by(StatusEvent.id)
    )
    for event in events:
        if event.status != history[-1].status.value:
            history.append(
                StatusChange(
                    status=JobStatus(event.status),
                    time=event.received_at,
                    runtime_details=event.runtime_details,
                )
            )
    return history


def _append_details(job: Job, details: str | None) -> None:
    if details:
        text = f"{job.runtime_details}\n{details}" if job.runtime_details else details
        job.runtime_details = text[-MAX_DETAILS:]


def _add_late_details(session: Session, job: Job, details: str) -> StatusOutcome:
    """A worker repeating the final status with more details (DECODE's worker sends
    `error` again with the log tail after uploading): keep the details, nothing else."""
    _append_details(job, details)
    session.add(
        StatusEvent(
            job_id=job.id,
            status=job.status,
            runtime_details=details,
            applied=False,
            note="details added to an ended job",
        )
    )
    return StatusOutcome(False, JobStatus(job.status), "details added to an ended job")


def _submit_delivered(session: Session, job_id: int) -> None:
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.job_id == job_id,
            OutboxMessage.kind == "submit",
            OutboxMessage.delivered_at.is_(None),
        )
        .values(delivered_at=utcnow())
    )


def _confirm_queued(session: Session, job_id: int, details: str | None) -> StatusOutcome:
    """The worker API has the job: its submit message needs no further delivery."""
    _submit_delivered(session, job_id)
    session.add(
        StatusEvent(
            job_id=job_id,
            status=JobStatus.queued.value,
            runtime_details=details,
            applied=True,
            note="queued at the worker API",
        )
    )
    return StatusOutcome(True, JobStatus.queued)


def _record_notification_due(session: Session, job: Job) -> None:
    """One email per job, on its first terminal status, unless the user opted out."""
    if not job.user_email:
        return
    pref = session.get(UserPreference, job.user_id)
    if pref is not None and not pref.notify_email:
        return
    if session.scalar(select(Notification.id).where(Notification.job_id == job.id)):
        return
    subject, body = compose_job_email(job)
    session.add(Notification(job_id=job.id, recipient=job.user_email, subject=subject, body=body))
