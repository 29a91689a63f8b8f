"""Live logs (labcloud): the latest output of each attempt, as its worker sends it.

While a job runs, labcloud's worker sends the new part of the run's output with its
heartbeats (`POST /jobs/{id}/log`, `{offset, text}`). The chunk is fenced like a
status report (only the current attempt's holder), merged into a bounded tail of
that attempt, idempotently on the offset (a chunk sent again is not appended
twice), and the change is relayed to the user API through the status outbox.
DECODE's worker never sends any; nothing else depends on them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from workerfacing_api.db.models import Attempt, AttemptLog, QueuedJob
from workerfacing_api.services.leases import current_attempt, held_job
from workerfacing_api.services.outbox import add_log_event

#: Characters of output kept per attempt (and the most one chunk may carry).
MAX_TAIL_CHARS = 64 * 1024


@dataclass(frozen=True)
class Tail:
    """The kept end of an attempt's output: `text` ends at character `end` of the run's
    output; `truncated` when older output was dropped."""

    text: str = ""
    end: int = 0
    truncated: bool = False


def merge(tail: Tail, offset: int, text: str, limit: int = MAX_TAIL_CHARS) -> Tail | None:
    """`tail` with the chunk `text` (starting at character `offset`) added; None when the
    chunk brings nothing new (sent before, or empty).

    A chunk overlapping the tail adds only its new part; a chunk starting past the tail's
    end (the worker skipped output it had no room to send) replaces the tail, which no
    longer starts at the run's beginning. The result keeps the last `limit` characters.
    """
    chunk_end = offset + len(text)
    if not text or chunk_end <= tail.end:
        return None
    if offset > tail.end:
        joined, truncated = text, True
    else:
        joined, truncated = tail.text + text[tail.end - offset :], tail.truncated
    if len(joined) > limit:
        joined, truncated = joined[-limit:], True
    return Tail(joined, chunk_end, truncated)


def append_chunk(
    session: Session,
    job_id: int,
    worker_id: str,
    offset: int,
    text: str,
    now: dt.datetime,
    *,
    attempt: int | None = None,
) -> bool:
    """Merge a chunk from the holder of job `job_id` into its attempt's tail; True if the
    tail changed (and the change was queued for the user API).

    Fenced like a status report: NotFound unless the caller holds the job in `attempt`
    (the current one when not stated). Runs inside `write_session`.
    """
    job = held_job(session, job_id, worker_id, attempt=attempt, lock=True, after_error=True)
    lease = current_attempt(session, job)
    if lease is None:  # a lease always has its attempt; nothing to attach the log to
        return False
    row = session.get(AttemptLog, lease.id)
    old = Tail(row.tail, row.end_offset, row.truncated) if row is not None else Tail()
    new = merge(old, offset, text)
    if new is None:
        return False
    if row is None:
        row = AttemptLog(attempt_id=lease.id)
        session.add(row)
    row.tail, row.end_offset, row.truncated, row.updated_at = (
        new.text,
        new.end,
        new.truncated,
        now,
    )
    add_log_event(
        session, job.job_id, lease.number, job.status, now, submission_id=job.submission_id
    )
    return True


def read_tail(session: Session, job_id: int, attempt: int) -> Tail | None:
    """The tail of attempt `attempt` of user-side job `job_id`; None if it has none."""
    row = session.execute(
        select(AttemptLog.tail, AttemptLog.end_offset, AttemptLog.truncated)
        .join(Attempt, Attempt.id == AttemptLog.attempt_id)
        .join(QueuedJob, QueuedJob.id == Attempt.queued_job_id)
        .where(QueuedJob.job_id == job_id, Attempt.number == attempt)
    ).first()
    return Tail(row.tail, row.end_offset, row.truncated) if row is not None else None
