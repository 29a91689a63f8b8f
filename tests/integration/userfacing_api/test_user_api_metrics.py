"""`GET /metrics` of the user API: jobs by status, the job outbox, emails due and failed
(from the user database), email send counters and HTTP request metrics."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from fastapi.testclient import TestClient

from shared.email.base import EmailError, RetryLater
from tests.integration.userfacing_api.conftest import API_KEY
from tests.integration.userfacing_api.test_job_status import new_job, report
from tests.support.metrics import Scrape, parse
from userfacing_api.context import AppContext
from userfacing_api.db.models import OutboxMessage, utcnow
from userfacing_api.pollers.notifier import notify_once


def scrape(client: TestClient) -> Scrape:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return parse(response.text)


def context(client: TestClient) -> AppContext:
    return client.app.state.ctx  # type: ignore[attr-defined]


class FailingSender:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def send(self, to: str, subject: str, body: str) -> None:
        raise self.exc


def test_jobs_by_status_and_the_job_outbox(client: TestClient, alice: dict) -> None:
    m = scrape(client)
    assert m.value("labcloud_database_up") == 1
    assert set(m.labels("labcloud_jobs", "status").values()) == {0}
    assert set(m.labels("labcloud_jobs", "status")) == {
        "queued",
        "pulled",
        "preprocessing",
        "running",
        "postprocessing",
        "finished",
        "error",
        "canceled",
    }
    assert m.value("labcloud_job_outbox_backlog") == 0
    assert m.value("labcloud_job_outbox_oldest_age_seconds") == 0

    first, second, third = (new_job(client, alice, name) for name in ("a", "b", "c"))
    report(client, second, "running")
    report(client, third, "error", "exit code 1")  # so the worker API has seen it
    with context(client).sessions() as session:  # the relay is off: two still wait
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.job_id == first)
            .values(created_at=utcnow() - dt.timedelta(seconds=120))
        )
        session.commit()
    m = scrape(client)
    assert m.labels("labcloud_jobs", "status") == {
        "queued": 1,
        "pulled": 0,
        "preprocessing": 0,
        "running": 1,
        "postprocessing": 0,
        "finished": 0,
        "error": 1,
        "canceled": 0,
    }
    assert m.value("labcloud_job_outbox_backlog") == 2
    assert 120 <= m.value("labcloud_job_outbox_oldest_age_seconds") < 180

    with context(client).sessions() as session:
        session.execute(sa.update(OutboxMessage).values(delivered_at=utcnow()))
        session.commit()
    m = scrape(client)
    assert m.value("labcloud_job_outbox_backlog") == 0
    assert m.value("labcloud_job_outbox_oldest_age_seconds") == 0


def test_emails_due_sent_and_failed(client: TestClient, alice: dict) -> None:
    ctx = context(client)
    for name in ("one", "two", "three"):
        report(client, new_job(client, alice, name), "finished")
    m = scrape(client)
    assert m.labels("labcloud_emails", "state") == {"due": 3, "sending": 0, "failed": 0}
    assert m.value("labcloud_emails_sent_total") == 0

    # The app's own sender counts its sends; a wrapped one counts its failures.
    assert ctx.email_sender is not None
    assert notify_once(ctx.sessions, ctx.email_sender, 120)
    m = scrape(client)
    assert m.value("labcloud_emails_sent_total") == 3
    assert m.labels("labcloud_emails", "state") == {"due": 0, "sending": 0, "failed": 0}

    for name in ("four", "five"):
        report(client, new_job(client, alice, name), "error")
    deferring = ctx.metrics.count_emails(FailingSender(RetryLater("429", after_s=60)))
    assert deferring is not None
    notify_once(ctx.sessions, deferring)  # both deferred
    refusing = ctx.metrics.count_emails(FailingSender(EmailError("bad address")))
    assert refusing is not None
    with ctx.sessions() as session:  # make them due again at once
        session.execute(sa.text("UPDATE notifications SET next_attempt_at = :t"), {"t": utcnow()})
        session.commit()
    notify_once(ctx.sessions, refusing)  # both given up
    m = scrape(client)
    assert m.value("labcloud_email_failures_total", reason="retry_later") == 2
    assert m.value("labcloud_email_failures_total", reason="error") == 2
    assert m.labels("labcloud_emails", "state") == {"due": 0, "sending": 0, "failed": 2}


def test_http_requests_by_route_template(client: TestClient, alice: dict) -> None:
    job_id = new_job(client, alice, "x")
    client.get(f"/jobs/{job_id}", headers=alice)
    client.get(f"/jobs/{job_id + 1000}", headers=alice)
    client.put("/_job_status", headers={"x-api-key": API_KEY}, json={"job_id": 1, "x": 1})
    m = scrape(client)
    assert m.value("labcloud_http_requests_total", method="POST", route="/jobs", status="201") == 1
    one = {"method": "GET", "route": "/jobs/{job_id}"}
    assert m.value("labcloud_http_requests_total", **one, status="200") == 1
    assert m.value("labcloud_http_requests_total", **one, status="404") == 1
    assert m.value("labcloud_http_request_duration_seconds_count", **one, status="200") == 1
    bad = {"method": "PUT", "route": "/_job_status", "status": "422"}
    assert m.value("labcloud_http_requests_total", **bad) == 1
