"""The status relay: delivers the status outbox to the user API's `PUT /_job_statuses`.

Per job, events go out strictly in order: event n+1 is sent only after event n
was acknowledged, and a failed event blocks its job's later ones until a retry
succeeds (with exponential backoff per row). Jobs are independent of each other.

A round takes the first pending event of each job, if due (so at most one per job:
per-job order needs nothing more), claims them with one guarded UPDATE, sends them
in one `PUT /_job_statuses` (`{"events": [...]}`, answered with one `applied`, `gone`
or `failed` per event) and records every outcome in one transaction. Rounds repeat
while they move a job on, so a job's backlog goes out within one call. An event is
`{job_id, status, runtime_details}`, plus the `submission_id` it is about (when the job
came with one: the user API refuses an event of another submission of the id as
`gone`), plus `"operator_requeue": true` on the `queued` event of an operator's
requeue of a failed job (and only there).

An older user API, without that route (404), gets the events one by one on
`PUT /_job_status`, and no batch for `BATCH_RETRY_S`; so does a batch refused whole
(422: an event it cannot read; 413: a batch over its MAX_REQUEST_BYTES), so that a
bad event holds back its own job only.

Live logs (labcloud) ride the same queue: a `log` row at the head of its job goes,
on its own, to `PUT /_job_log` as `{job_id, attempt, log, truncated, end}` (and the
`submission_id`), with the attempt's tail as it is when sent. If the tail moved on
while it was in flight, the row stays due and goes again (before the job's later
events) in the next call, so the user API always ends up with the latest tail. A user
API that cannot take logs drops them: they never hold back a job's status events.

Several relays (API replicas) may run at once: a relay claims events with a guarded
UPDATE of their `next_attempt_at` and sends only those it got (RETURNING), so each
attempt is made by one relay. Delivery is still at-least-once (a relay may die after
the user API applied an event and before recording it); the user API is idempotent.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import httpx
from sqlalchemy import func, select, update
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
STATUSES_PATH = "/_job_statuses"
LOG_PATH = "/_job_log"
MAX_BATCH = 500  # the most events `PUT /_job_statuses` takes at once
MAX_ROUNDS = 100  # per call: a bound, should events keep coming due
BATCH_RETRY_S = 300.0  # after a user API without the batch route, one by one this long
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


@dataclass(frozen=True)
class _Claimed:
    """A status event this relay claimed, with its attempts count at the claim."""

    event: StatusOutbox
    attempts: int


# Clients whose user API has no batch route, and until when (monotonic) to go one by one.
_one_by_one_until: weakref.WeakKeyDictionary[httpx.Client, float] = weakref.WeakKeyDictionary()


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
    batch: int = MAX_BATCH,
    now: dt.datetime | None = None,
) -> RelayReport:
    """Deliver the pending events that are due at `now` (at the start of the call), in
    rounds of at most one event per job, while the rounds deliver something."""
    due = now or utcnow()
    report = RelayReport()
    held: set[int] = set()  # jobs done with for this call: a log tail to send again
    for _ in range(MAX_ROUNDS):
        if not _round(sessions, client, min(batch, MAX_BATCH), due, now or utcnow(), held, report):
            break
    return report


def _round(
    sessions: sessionmaker,
    client: httpx.Client,
    batch: int,
    due: dt.datetime,
    now: dt.datetime,
    held: set[int],
    report: RelayReport,
) -> bool:
    """One round: the first pending event of each job, if due. True if it moved any job on."""
    with sessions() as session:
        heads = _due_heads(session, batch, due, held)
    if not heads:
        return False
    progressed = False
    statuses = [event for event in heads if event.kind != LOG_EVENT]
    if statuses:
        claimed = _claim(sessions, statuses, due, now)
        if claimed:
            outcomes = _deliver_batch(client, [c.event for c in claimed])
            _record_batch(sessions, claimed, outcomes, now)
            for item, (outcome, error) in zip(claimed, outcomes, strict=True):
                progressed |= _count(report, item.event, outcome, error)
    for event in heads:
        if event.kind != LOG_EVENT or not _claim(sessions, [event], due, now):
            continue  # a status event (sent above), or another relay has it
        outcome, error, sent_end = _deliver_log(sessions, client, event)
        done = _record(sessions, event, outcome, error, now, sent_end)
        progressed |= _count(report, event, outcome, error) and done
        if not done:
            held.add(event.job_id)  # a newer log tail: it goes again, in a later call
    return progressed


def _due_heads(
    session: Session, batch: int, due: dt.datetime, held: set[int]
) -> Sequence[StatusOutbox]:
    """The first pending event of each job whose event is due, oldest first."""
    heads = (
        select(func.min(StatusOutbox.id))
        .where(StatusOutbox.delivered_at.is_(None))
        .group_by(StatusOutbox.job_id)
    )
    query = select(StatusOutbox).where(
        StatusOutbox.id.in_(heads), StatusOutbox.next_attempt_at <= due
    )
    if held:
        query = query.where(StatusOutbox.job_id.not_in(held))
    return session.scalars(query.order_by(StatusOutbox.id).limit(batch)).all()


def _count(report: RelayReport, event: StatusOutbox, outcome: Delivery, error: str | None) -> bool:
    """Add an outcome to the report; True if it moved the event's job on."""
    setattr(report, outcome.value, getattr(report, outcome.value) + 1)
    if outcome is Delivery.failed:
        log.warning(
            "status relay: job %s event %s: %s",
            event.job_id,
            event.id,
            error,
            extra=job_fields(event.job_id, event.attempt),
        )
        return False
    return True


def _claim(
    sessions: sessionmaker, events: Sequence[StatusOutbox], due: dt.datetime, now: dt.datetime
) -> list[_Claimed]:
    """Claim the events still pending and due, in one UPDATE; those this relay got (another
    relay may have claimed some since they were read), in the order given."""
    with write_session(sessions) as session:
        rows = session.execute(
            update(StatusOutbox)
            .where(
                StatusOutbox.id.in_([event.id for event in events]),
                StatusOutbox.delivered_at.is_(None),
                StatusOutbox.next_attempt_at <= due,
            )
            .values(next_attempt_at=now + dt.timedelta(seconds=CLAIM_S))
            .returning(StatusOutbox.id, StatusOutbox.attempts)
            .execution_options(synchronize_session=False)
        ).all()
    attempts = {row.id: row.attempts for row in rows}
    return [_Claimed(event, attempts[event.id]) for event in events if event.id in attempts]


def _deliver_batch(
    client: httpx.Client, events: Sequence[StatusOutbox]
) -> list[tuple[Delivery, str | None]]:
    """Send `events` (one per job) in one request; one outcome per event, in order."""
    if _one_by_one_until.get(client, 0.0) > time.monotonic():
        return _one_by_one(client, events)
    try:
        response = client.put(STATUSES_PATH, json={"events": [_body(e) for e in events]})
    except httpx.HTTPError as exc:
        return [(Delivery.failed, f"user API unreachable: {exc!r}")] * len(events)
    if response.status_code == 404:
        # No such route: an older user API (or a wrong URL, which fails one by one too).
        _one_by_one_until[client] = time.monotonic() + BATCH_RETRY_S
        return _one_by_one(client, events)
    if response.status_code in (413, 422):
        # Refused whole (an event it cannot read, or a batch over the user API's
        # MAX_REQUEST_BYTES): one by one, so that a bad event holds back its own job only.
        return _one_by_one(client, events)
    outcomes = _outcomes(response, len(events)) if response.is_success else None
    if outcomes is None:
        error = f"user API answered {response.status_code}: {response.text[:300]}"
        return [(Delivery.failed, error)] * len(events)
    return outcomes


def _outcomes(response: httpx.Response, count: int) -> list[tuple[Delivery, str | None]] | None:
    """The outcomes a batch answer gives, if it gives one per event sent."""
    try:
        results = response.json()["results"]
        if not isinstance(results, list) or len(results) != count:
            return None
        answers = [(result["outcome"], result.get("detail")) for result in results]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    delivery = {"applied": Delivery.delivered, "gone": Delivery.gone}
    return [
        (
            delivery.get(outcome, Delivery.failed),
            None if outcome == "applied" else f"user API: {detail}",
        )
        for outcome, detail in answers
    ]


def _one_by_one(
    client: httpx.Client, events: Sequence[StatusOutbox]
) -> list[tuple[Delivery, str | None]]:
    """Send `events` one by one to `PUT /_job_status`, while their claims are young: the
    ones left when half the claim time has passed fail unsent (they go again later)."""
    deadline = time.monotonic() + CLAIM_S / 2
    return [
        _deliver(client, event)
        if time.monotonic() < deadline
        else (Delivery.failed, "not sent: out of time for this round")
        for event in events
    ]


def _body(event: StatusOutbox) -> dict[str, object]:
    """A status event as the user API takes it."""
    body: dict[str, object] = {
        "job_id": event.job_id,
        "status": event.status,
        "runtime_details": event.runtime_details,
    }
    if event.submission_id is not None:
        body["submission_id"] = event.submission_id
    if event.operator_requeue:
        # Only on an operator's revival of a failed job: the user API lets the job
        # leave `error` for this event alone (older user APIs ignore the field).
        body["operator_requeue"] = True
    return body


def _deliver(client: httpx.Client, event: StatusOutbox) -> tuple[Delivery, str | None]:
    """Send one status event to `PUT /_job_status`."""
    try:
        response = client.put(STATUS_PATH, json=_body(event))
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
    body: dict[str, object] = {
        "job_id": event.job_id,
        "attempt": event.attempt,
        "log": tail.text,
        "truncated": tail.truncated,
        "end": tail.end,
    }
    if event.submission_id is not None:
        body["submission_id"] = event.submission_id
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
    with write_session(sessions) as session:
        if sent_end is not None and _log_moved_on(session, event, sent_end):
            session.execute(
                update(StatusOutbox)
                .where(StatusOutbox.id == event.id)
                .values(attempts=attempts, next_attempt_at=now, last_error=None)
                .execution_options(synchronize_session=False)
            )
            return False
        _store(session, event, attempts, outcome, error, now)
    return True


def _record_batch(
    sessions: sessionmaker,
    claimed: Sequence[_Claimed],
    outcomes: Sequence[tuple[Delivery, str | None]],
    now: dt.datetime,
) -> None:
    """Store the outcomes of a batch in one transaction: the delivered events in one
    UPDATE, the others (backoff, or a job deleted at the user API) one by one."""
    delivered: list[int] = []
    others: list[tuple[_Claimed, Delivery, str | None]] = []
    for item, (outcome, error) in zip(claimed, outcomes, strict=True):
        if outcome is Delivery.delivered and error is None:
            delivered.append(item.event.id)
        else:
            others.append((item, outcome, error))
    others.sort(key=lambda other: other[0].event.job_id)  # job locks in one order
    with write_session(sessions) as session:
        if delivered:
            session.execute(
                update(StatusOutbox)
                .where(StatusOutbox.id.in_(delivered))
                .values(attempts=StatusOutbox.attempts + 1, delivered_at=now, last_error=None)
                .execution_options(synchronize_session=False)
            )
        for item, outcome, error in others:
            _store(session, item.event, item.attempts + 1, outcome, error, now)


def _store(
    session: Session,
    event: StatusOutbox,
    attempts: int,
    outcome: Delivery,
    error: str | None,
    now: dt.datetime,
) -> None:
    """Store the outcome of attempt number `attempts` to deliver `event`."""
    if outcome is Delivery.failed:
        values: dict[str, object] = {
            "attempts": attempts,
            "last_error": (error or "")[:2000],
            "next_attempt_at": now + dt.timedelta(seconds=backoff_seconds(attempts)),
        }
    else:
        values = {"attempts": attempts, "delivered_at": now, "last_error": error}
    session.execute(
        update(StatusOutbox)
        .where(StatusOutbox.id == event.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if outcome is Delivery.gone:
        # The user deleted the job (or has no such submission): stop it here too, if it
        # still runs and is the submission the event was about.
        cancel_job(
            session,
            event.job_id,
            DELETED_BY_USER,
            now,
            report=False,
            submission_id=event.submission_id,
        )


def _log_moved_on(session: Session, event: StatusOutbox, sent_end: int) -> bool:
    """Whether the attempt's tail grew past what was sent. Under the job's row lock, which
    a new chunk also takes: either the chunk saw this event pending (and counts on it),
    or it comes after this event is marked delivered (and adds a new one)."""
    find_job(session, event.job_id, lock=True)
    tail = live_logs.read_tail(session, event.job_id, event.attempt or 0)
    return tail is not None and tail.end != sent_end
