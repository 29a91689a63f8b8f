"""Live logs (labcloud): the latest output of a running job, and following it.

The worker API relays each attempt's bounded tail (`PUT /_job_log`); the latest one
is kept per job, a retry's tail replacing the previous attempt's. Tails only move
forward: a relayed tail older than the kept one (same attempt, ending earlier; or
an earlier attempt) changes nothing, so duplicates and late deliveries are harmless.

Following a job (`GET /jobs/{id}/logs/stream`) is a loop of short reads: each
opens a session, reads the job's status and tail, closes it, and turns what
changed into events (`log`, `status`, and `end` once the job has ended). Nothing
is held open between reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared.jobs.states import JobStatus
from userfacing_api.db.models import Job, JobLog, utcnow
from userfacing_api.schemas import JobLogPublic, JobLogUpdate
from userfacing_api.services.jobs import get_job
from userfacing_api.services.status import find_reported_job

#: Seconds between two reads of a followed job.
STREAM_POLL_S = 1.0


def apply_log_update(session: Session, update: JobLogUpdate) -> bool:
    """Keep `update` as the job's latest tail unless the kept one is as new; True if kept.
    NotFound for an unknown job or another submission of its id (the worker side then
    stops it)."""
    find_reported_job(session, update.job_id, update.submission_id)
    row = session.get(JobLog, update.job_id)
    if row is not None and (row.attempt, row.end_offset) >= (update.attempt, update.end):
        session.rollback()
        return False
    if row is None:
        row = JobLog(job_id=update.job_id)
        session.add(row)
    row.attempt, row.text, row.end_offset = update.attempt, update.log, update.end
    row.truncated, row.updated_at = update.truncated, utcnow()
    session.commit()
    return True


def get_log(session: Session, user_id: str, job_id: int) -> JobLogPublic:
    """The latest output of the user's job `job_id`; NotFound if it is not theirs."""
    job = get_job(session, user_id, job_id)
    row = session.get(JobLog, job_id)
    return JobLogPublic(
        job_id=job.id,
        status=JobStatus(job.status),
        log=row.text if row is not None else "",
        truncated=row.truncated if row is not None else False,
    )


@dataclass(frozen=True)
class Snapshot:
    """A followed job as one read saw it."""

    status: JobStatus
    attempt: int | None = None  # None: no output yet
    text: str = ""
    end: int = 0


@dataclass(frozen=True)
class StreamEvent:
    """One Server-Sent Event: its type, its JSON data, and an id to resume from."""

    event: str  # log | status | end
    data: dict[str, Any]
    id: str | None = None


def read_snapshot(session: Session, job_id: int) -> Snapshot | None:
    """The job's status and tail now; None once the job is gone (deleted)."""
    status = session.scalar(select(Job.status).where(Job.id == job_id))
    if status is None:
        return None
    row = session.get(JobLog, job_id)
    if row is None:
        return Snapshot(JobStatus(status))
    return Snapshot(JobStatus(status), row.attempt, row.text, row.end_offset)


class Follower:
    """Turns successive snapshots of one job into the events a follower has not seen.

    `resume` is the id of the last `log` event a client saw (`Last-Event-ID` when an
    EventSource reconnects): the first event then carries only what came after it.
    """

    def __init__(self, resume: str | None = None) -> None:
        self._attempt, self._end = _parse_id(resume)
        self._status: JobStatus | None = None
        self._first = True

    def events(self, snap: Snapshot) -> list[StreamEvent]:
        """What changed since the previous snapshot: the first call always gives a `log`
        event; `end` (last) once the job has ended."""
        out: list[StreamEvent] = []
        text = self._new_text(snap)
        if text or self._first:
            event_id = f"{snap.attempt}-{snap.end}" if snap.attempt is not None else None
            out.append(StreamEvent("log", {"text": text}, event_id))
        self._first = False
        if snap.status.is_terminal:
            out.append(StreamEvent("end", {"status": snap.status.value}))
        elif snap.status is not self._status:
            out.append(StreamEvent("status", {"status": snap.status.value}))
        self._status = snap.status
        return out

    def _new_text(self, snap: Snapshot) -> str:
        if snap.attempt is None:
            return ""
        if snap.attempt != self._attempt:  # the first tail, or a retry's
            new = snap.text
        else:
            grown = snap.end - (self._end or 0)
            new = "" if grown <= 0 else snap.text[-grown:]
        self._attempt, self._end = snap.attempt, snap.end
        return new


def _parse_id(event_id: str | None) -> tuple[int | None, int | None]:
    attempt, _, end = (event_id or "").partition("-")
    if attempt.isdigit() and end.isdigit():
        return int(attempt), int(end)
    return None, None


def _snapshot(sessions: sessionmaker, job_id: int) -> Snapshot | None:
    with sessions() as session:
        return read_snapshot(session, job_id)


async def follow(
    sessions: sessionmaker,
    job_id: int,
    *,
    resume: str | None = None,
    poll_s: float | None = None,
) -> AsyncIterator[StreamEvent]:
    """The events of job `job_id` until it ends (`end` last) or is deleted (no `end`).

    Each read (every `poll_s`, default STREAM_POLL_S) runs in a thread with a session of
    its own, closed before the wait.
    """
    poll_s = STREAM_POLL_S if poll_s is None else poll_s
    follower = Follower(resume)
    while True:
        snap = await asyncio.to_thread(_snapshot, sessions, job_id)
        if snap is None:
            return
        for event in follower.events(snap):
            yield event
        if snap.status.is_terminal:
            return
        await asyncio.sleep(poll_s)
