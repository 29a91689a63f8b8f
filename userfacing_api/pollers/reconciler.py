"""Reconcile jobs whose status has stood still for too long with the worker API.

Status normally arrives by the worker API's relay. If that path lost something
(a bug, a restore from backup, a message dropped by hand), a job could look live
here forever. This round asks the worker API, which answers from its database,
about each live job that has not moved for `stale_after` seconds, and applies
what it says through the state machine. A job the worker API does not know is
sent again (ingestion is idempotent). A job the worker API knows from another
submission (an id collision, after a database reset) ends in `error` saying so.
"""

from __future__ import annotations

import datetime as dt
import logging

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import sessionmaker

from shared.api.errors import NotFound
from shared.auth.api_key import HEADER
from shared.jobs.identity import collision_reason, same_submission
from shared.jobs.states import TERMINAL, JobStatus
from shared.log_context import job_fields
from userfacing_api.db.models import Job, OutboxMessage, utcnow
from userfacing_api.services.status import apply_status_update

log = logging.getLogger(__name__)
BATCH = 50


def make_client(worker_api_url: str, api_key: str) -> httpx.Client:
    return httpx.Client(base_url=worker_api_url.rstrip("/"), headers={HEADER: api_key}, timeout=10)


def reconcile_once(sessions: sessionmaker, client: httpx.Client, stale_after_s: float) -> bool:
    """One round over at most BATCH stale jobs; True when it changed something."""
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=stale_after_s)
    with sessions() as session:
        stale = list(
            session.scalars(
                select(Job.id)
                .where(
                    Job.status.not_in([s.value for s in TERMINAL]),
                    Job.status_changed_at < cutoff,
                    or_(Job.checked_at.is_(None), Job.checked_at < cutoff),
                )
                .order_by(Job.status_changed_at)
                .limit(BATCH)
            )
        )
    changed = False
    for job_id in stale:
        try:
            response = client.get(f"/_jobs/{job_id}")
        except httpx.HTTPError as exc:
            log.warning("reconciler: worker API unreachable (%s); trying later", exc)
            return changed
        with sessions() as session:
            session.execute(update(Job).where(Job.id == job_id).values(checked_at=now))
            session.commit()
            if response.status_code == 404:
                changed |= _send_again(session, job_id)
            elif response.status_code == 200:
                changed |= _adopt(session, job_id, response.json())
            else:
                log.warning(
                    "reconciler: job %s: worker API answered %s",
                    job_id,
                    response.status_code,
                    extra=job_fields(job_id),
                )
    return changed


def _send_again(session, job_id: int) -> bool:  # type: ignore[no-untyped-def]
    """The worker API never got the job: deliver its submission again."""
    reopened = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.job_id == job_id,
            OutboxMessage.kind == "submit",
            OutboxMessage.delivered_at.is_not(None),
        )
        .values(
            delivered_at=None,
            next_attempt_at=utcnow(),
            last_error="reconciler: unknown to the worker API, sending again",
        )
    ).rowcount
    session.commit()
    if reopened:
        log.warning(
            "reconciler: job %s was unknown to the worker API; sending it again",
            job_id,
            extra=job_fields(job_id),
        )
    return bool(reopened)


def _adopt(session, job_id: int, remote: dict) -> bool:  # type: ignore[no-untyped-def]
    """Apply the worker API's status if it differs from ours (and is about this job)."""
    row = session.execute(select(Job.status, Job.submission_id).where(Job.id == job_id)).first()
    if row is None:
        return False
    local, submission_id = row
    remote_submission = remote.get("submission_id")
    status = JobStatus(remote["status"])
    if not same_submission(submission_id, remote_submission):
        # The worker API's job of this id is an earlier one: this job was refused there.
        status = JobStatus.error
        details = collision_reason(job_id, remote_submission, submission_id)
    else:
        details = remote.get("terminal_reason") or f"status {status.value} at the worker API"
    if status.value == local:
        return False
    try:
        outcome = apply_status_update(
            session,
            job_id,
            status,
            f"reconciled with the worker API: {details}",
            submission_id=submission_id,
        )
    except NotFound:
        return False
    if outcome.applied:
        log.warning(
            "reconciler: job %s moved from %s to %s",
            job_id,
            local,
            status.value,
            extra=job_fields(job_id),
        )
    return outcome.applied
