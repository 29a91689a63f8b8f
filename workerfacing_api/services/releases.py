"""Hand-backs: the holder of a job gives it back (`POST /jobs/{id}/release`).

A worker that stops hands its running jobs back so they are queued again at once,
not after a lease timeout. That is not a failed attempt: it does not count against
`MAX_RETRIES`, nor as the worker having tried the job (the claim's order prefers
workers that have not). A run that was lost instead (a cloud service dropped it) is
handed back as `failed`, and counts as an expired lease would. Functions that write
must run inside `write_session`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shared.jobs.states import JobStatus, requeue, transition
from workerfacing_api.db.models import Attempt, QueuedJob
from workerfacing_api.services.leases import (
    LOST_REASON,
    MAX_REASON,
    current_attempt,
    held_job,
    move,
)
from workerfacing_api.services.outbox import add_event

# Outcomes of an attempt its holder gave back: handed back (it does not count against
# the retries), or lost (its run was lost: it counts).
RELEASED, LOST = "released", "lost"


def release(
    session: Session,
    job_id: int,
    worker_id: str,
    now: dt.datetime,
    attempt: int | None = None,
    *,
    failed: bool = False,
    max_retries: int = 0,
) -> None:
    """The holder gives the job back: it is queued again at once, not after a lease timeout.

    A hand-back (the worker is stopping) is not a failed attempt: the retry budget is
    left alone (`attempt_base` moves up with `attempt`, which the claim moved, so the
    stale run stays fenced off) and the worker does not count as having tried the job,
    unless an attempt of its own had counted before. With `failed` the run was lost
    (a cloud service dropped it): the attempt counts, as an expired lease does, and a
    job out of its `1 + max_retries` attempts ends in `error`.
    """
    job = held_job(session, job_id, worker_id, attempt=attempt, lock=True)
    lease = current_attempt(session, job)
    if lease is not None:
        lease.ended_at = now
        lease.outcome = LOST if failed else RELEASED
    job.lease_expires_at = None
    tries, max_attempts = job.attempt - job.attempt_base, 1 + max_retries
    if failed and tries >= max_attempts:
        new = transition(JobStatus(job.status), JobStatus.error)
        details = f"{LOST_REASON} (run lost on worker {worker_id})"
        job.terminal_reason = details[-MAX_REASON:]
    else:
        new = requeue(job.status)
        job.worker_id = None
        if failed:
            details = (
                f"run lost on worker {worker_id}, requeued (attempt {tries + 1} of {max_attempts})"
            )
        else:
            job.attempt_base += 1
            if not _counted_before(session, job, worker_id):
                job.tried_workers = [w for w in job.tried_workers if w != worker_id]
            details = f"released by worker {worker_id}, requeued"
    move(job, new, now)
    add_event(session, job.job_id, new, details, now, submission_id=job.submission_id)


def _counted_before(session: Session, job: QueuedJob, worker_id: str) -> bool:
    """Whether `worker_id` had an earlier attempt at `job` that was not a hand-back."""
    earlier = session.scalars(
        select(Attempt.id)
        .where(
            Attempt.queued_job_id == job.id,
            Attempt.worker_id == worker_id,
            Attempt.number < job.attempt,
            or_(Attempt.outcome.is_(None), Attempt.outcome != RELEASED),
        )
        .limit(1)
    ).first()
    return earlier is not None
