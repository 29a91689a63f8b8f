"""Deliver the job outbox to the worker API, in order per job, until accepted.

A message stays in the outbox until the transport reports that the worker API
accepted it (committed it to its queue); a failed delivery is retried with
exponential backoff. A job's later message (a cancel) never overtakes an
earlier one (its submit). Duplicates are harmless: the worker API ingests
idempotently on the job id.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import sessionmaker

from shared.log_context import job_fields
from shared.transport.base import JobTransport, TransportError, TransportMessage
from userfacing_api.db.models import Job, OutboxMessage, utcnow

log = logging.getLogger(__name__)
BATCH = 200
MAX_BACKOFF_S = 60.0


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(MAX_BACKOFF_S, 0.5 * 2 ** min(attempts, 10)))


def relay_once(sessions: sessionmaker, transport: JobTransport) -> bool:
    """One round; True when something was delivered (there may be more)."""
    now = utcnow()
    with sessions() as session:
        pending = list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.delivered_at.is_(None))
                .order_by(OutboxMessage.id)
                .limit(BATCH)
            )
        )
    seen_jobs: set[int] = set()
    delivered: list[int] = []
    for message in pending:
        first_of_job = message.job_id not in seen_jobs
        seen_jobs.add(message.job_id)
        if not first_of_job or message.next_attempt_at > now:
            continue
        try:
            transport.send(TransportMessage(message.kind, message.job_id, message.payload))  # type: ignore[arg-type]
        except TransportError as exc:
            log.warning(
                "outbox message %s (job %s, %s) not delivered: %s",
                message.id,
                message.job_id,
                message.kind,
                exc,
                extra=job_fields(message.job_id),
            )
            with sessions() as session:
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == message.id)
                    .values(
                        attempts=OutboxMessage.attempts + 1,
                        next_attempt_at=utcnow() + backoff(message.attempts),
                        last_error=str(exc)[:2000],
                    )
                )
                session.commit()
            continue
        delivered.append(message.id)
    if delivered:
        # One UPDATE for the round: should the process die before it, the messages go
        # again, which the worker API's idempotent ingestion absorbs.
        with sessions() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(delivered), OutboxMessage.delivered_at.is_(None))
                .values(delivered_at=utcnow(), attempts=OutboxMessage.attempts + 1)
            )
            # A deleted job's cancel waited only to be delivered: nothing of the job is kept.
            session.execute(
                delete(OutboxMessage).where(
                    OutboxMessage.id.in_(delivered), ~exists().where(Job.id == OutboxMessage.job_id)
                )
            )
            session.commit()
    return bool(delivered)
