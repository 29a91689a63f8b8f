"""The status relay: delivers the status outbox to the user API's `PUT /_job_status`.

Per job, events go out strictly in order: event n+1 is sent only after event n
was acknowledged, and a failed event blocks its job's later ones until a retry
succeeds (with exponential backoff per row). Jobs are independent of each other.

The body is `{job_id, status, runtime_details}`, plus `"operator_requeue": true` on
the `queued` event of an operator's requeue of a failed job (and only there).

Live logs (labcloud) ride the same queue: a `log` row goes to `PUT /_job_log` as
`{job_id, attempt, log, truncated, end}`, with the attempt's tail as it is when
sent. If the tail moved on while it was in flight, the row stays due and goes
again (before the job's later events), so the user API always ends up with the
latest tail. A user API that cannot take logs drops them: they never hold back a
job's status events.

Several relays (API replicas) may run at once: before sending an event a relay
claims it with a guarded UPDATE of its `next_attempt_at`, so each attempt is
made by one relay. Delivery is still at-least-once (a relay may die after the
user API applied an event and before recording it); the user API is idempotent.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import httpx
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from shared.auth.api_key import HEADER
from shared.log_context import job_fields
from workerfacing_api.db.models import StatusOutbox, utcnow
from workerfacing_api.db.session import write_session
from workerfacing_api.services import live_logs
from workerfacing_api.services.inbox import DELETED_BY_USER, cancel_job
from workerfacing_api.services.leases import find_job
from workerfacing_api.services.outbox import LOG_EVENT

log = logging.getLogger(__name__)

STATUS_PATH = "/_job_status"
LOG_PATH = "/_job_log"
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 300.0
CLAIM_S = 60.0  # longer than any delivery attempt (HTTP timeout below)
HTTP_TIMEOUT_S = 10.0
# FastAPI's answer for a path it does not serve: a wrong USERFACING_API_URL must
# not read as "every job was deleted" (which would cancel them all).
_NO_SUCH_ROUTE = "Not Found"


class Delivery(StrEnum):
    delivered = "delivered"
    gone = "gone"  # 404 for the job: deleted at the user API
    failed = "failed"


@dataclass
class RelayReport:
    delivered: int = 0
    gone: int = 0
    failed: int = 0


def backoff_seconds(attempts: int) -> float:
    """Delay before retry number `attempts` (1, 2, 4, … seconds, at most 5 minutes)."""
    return min(BACKOFF_BASE_S * 2 ** max(attempts - 1, 0), BACKOFF_MAX_S)


def make_client(base_url: str, api_key: str) -> httpx.Client:
    """The HTTP client the relay uses to reach the user API."""
    return httpx.Client(
        base_url=base_url.rstrip("/"), headers={HEADER: api_key}, timeout=HTTP_TIMEOUT_S
    )


def run_once(
    sessions: sessionmaker,
    client: httpx.Client,
    *,
    batch: int = 500,
    now: dt.datetime | None = None,
) -> RelayReport:
    """One round: try to deliver the pending events that are due at `now`."""
    now = now or utcnow()
    report = RelayReport()
    with sessions() as session:
        pending = session.scalars(
            select(StatusOutbox)
            .where(StatusOutbox.delivered_at.is_(None))
            .order_by(StatusOutbox.id)
            .limit(batch)
        ).all()
    by_job: dict[int, list[StatusOutbox]] = {}
    for event in pending:  # ordered by id, so each job's list is in order too
        by_job.setdefault(event.job_id, []).append(event)
    for events in by_job.values():
        for event in events:
            if event.next_attempt_at > now or not _claim(sessions, event, now):
                break  # backing off, or another relay has it: later events wait
            sent_end: int | None = None
            if event.kind == LOG_EVENT:
                outcome, error, sent_end = _deliver_log(sessions, client, event)
            else:
                outcome, error = _deliver(client, event)
            done = _record(sessions, event, outcome, error, now, sent_end)
            setattr(report, outcome.value, getattr(report, outcome.value) + 1)
            if outcome is Delivery.failed:
                log.warning(
                    "status relay: job %s event %s: %s",
                    event.job_id,
                    event.id,
                    error,
                    extra=job_fields(event.job_id, event.attempt),
                )
                break
            if not done:
                break  # a newer log tail: it goes again, before this job's later events
    return report


def _claim(sessions: sessionmaker, event: StatusOutbox, now: dt.datetime) -> bool:
    with write_session(sessions) as session:
        result = session.execute(
            update(StatusOutbox)
            .where(
                StatusOutbox.id == event.id,
                StatusOutbox.delivered_at.is_(None),
                StatusOutbox.next_attempt_at == event.next_attempt_at,
            )
            .values(next_attempt_at=now + dt.timedelta(seconds=CLAIM_S))
            .execution_options(synchronize_session=False)
        )
    return cast(CursorResult[Any], result).rowcount == 1


def _deliver(client: httpx.Client, event: StatusOutbox) -> tuple[Delivery, str | None]:
    body: dict[str, object] = {
        "job_id": event.job_id,
        "status": event.status,
        "runtime_details": event.runtime_details,
    }
    if event.operator_requeue:
        # Only on an operator's revival of a failed job: the user API lets the job
        # leave `error` for this event alone (older user APIs ignore the field).
        body["operator_requeue"] = True
    try:
        response = client.put(STATUS_PATH, json=body)
    except httpx.HTTPError as exc:
        return Delivery.failed, f"user API unreachable: {exc!r}"
    if response.is_success:
        return Delivery.delivered, None
    if response.status_code == 404 and _detail(response) not in (None, _NO_SUCH_ROUTE):
        return Delivery.gone, f"user API: {_detail(response)}"
    return Delivery.failed, f"user API answered {response.status_code}: {response.text[:300]}"


def _deliver_log(
    sessions: sessionmaker, client: httpx.Client, event: StatusOutbox
) -> tuple[Delivery, str | None, int | None]:
    """Send the current tail of the event's attempt; also the offset where it ends, when
    the user API took it."""
    with sessions() as session:
        tail = live_logs.read_tail(session, event.job_id, event.attempt or 0)
    if tail is None:
        return Delivery.delivered, "no log to send", None
    body = {
        "job_id": event.job_id,
        "attempt": event.attempt,
        "log": tail.text,
        "truncated": tail.truncated,
        "end": tail.end,
    }
    try:
        response = client.put(LOG_PATH, json=body)
    except httpx.HTTPError as exc:
        return Delivery.failed, f"user API unreachable: {exc!r}", None
    if response.is_success:
        return Delivery.delivered, None, tail.end
    if response.status_code == 404 and _detail(response) not in (None, _NO_SUCH_ROUTE):
        return Delivery.gone, f"user API: {_detail(response)}", None
    if response.status_code == 429 or response.status_code >= 500:
        return Delivery.failed, f"user API answered {response.status_code}", None
    # A user API without live logs (an older one), or refusing this tail: logs are
    # best effort and must not hold back the job's status events.
    error = f"log dropped: user API answered {response.status_code}: {response.text[:300]}"
    return Delivery.delivered, error, None


def _detail(response: httpx.Response) -> str | None:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return None
    return detail if isinstance(detail, str) else None


def _record(
    sessions: sessionmaker,
    event: StatusOutbox,
    outcome: Delivery,
    error: str | None,
    now: dt.datetime,
    sent_end: int | None = None,
) -> bool:
    """Store the outcome of a delivery; False when the event must go again now (a log
    tail that moved on while it was sent)."""
    attempts = event.attempts + 1
    done = True
    with write_session(sessions) as session:
        if outcome is Delivery.failed:
            values: dict[str, object] = {
                "attempts": attempts,
                "last_error": (error or "")[:2000],
                "next_attempt_at": now + dt.timedelta(seconds=backoff_seconds(attempts)),
            }
        elif sent_end is not None and _log_moved_on(session, event, sent_end):
            values = {"attempts": attempts, "next_attempt_at": now, "last_error": None}
            done = False
        else:
            values = {"attempts": attempts, "delivered_at": now, "last_error": error}
        session.execute(
            update(StatusOutbox)
            .where(StatusOutbox.id == event.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if outcome is Delivery.gone:
            # The user deleted the job: stop it here too, if it still runs.
            cancel_job(session, event.job_id, DELETED_BY_USER, now, report=False)
    return done


def _log_moved_on(session: Session, event: StatusOutbox, sent_end: int) -> bool:
    """Whether the attempt's tail grew past what was sent. Under the job's row lock, which
    a new chunk also takes: either the chunk saw this event pending (and counts on it),
    or it comes after this event is marked delivered (and adds a new one)."""
    find_job(session, event.job_id, lock=True)
    tail = live_logs.read_tail(session, event.job_id, event.attempt or 0)
    return tail is not None and tail.end != sent_end
