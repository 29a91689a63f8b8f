"""The user API's background work against real HTTP peers on loopback."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from shared.email.console import ConsoleEmailSender
from shared.email.mailjet import MailjetEmailSender
from shared.transport.http import HttpTransport
from tests.integration.userfacing_api.conftest import API_KEY
from tests.support.http_server import serve_in_thread
from userfacing_api.db.models import Notification, OutboxMessage
from userfacing_api.pollers.notifier import notify_once
from userfacing_api.pollers.outbox_relay import relay_once

NO_INPUTS = {"files_down": {}, "env_vars": None}


class FakeWorkerAPI:
    """Records what reaches `/_jobs`; answers 503 to the first `fail` requests."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.received: list[tuple[str, int]] = []
        self.app = FastAPI()

        @self.app.post("/_jobs", status_code=201)
        async def submit(request: Request) -> Response:
            assert request.headers["x-api-key"] == API_KEY
            body = await request.json()
            return self._answer(("submit", body["job"]["meta"]["job_id"]))

        @self.app.post("/_jobs/{job_id}/cancel")
        async def cancel(job_id: int, request: Request) -> Response:
            assert request.headers["x-api-key"] == API_KEY
            return self._answer(("cancel", job_id))

    def _answer(self, what: tuple[str, int]) -> Response:
        if self.fail > 0:
            self.fail -= 1
            return Response(status_code=503)
        self.received.append(what)
        return Response(status_code=201)


def submit(client: TestClient, headers: dict, name: str) -> int:
    body = {
        "job_name": name,
        "attributes": NO_INPUTS,
        "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
    }
    response = client.post("/jobs", headers=headers, json=body)
    assert response.status_code == 201
    return response.json()["id"]


def make_due(client: TestClient) -> None:
    """Clear backoff so the next round retries at once."""
    with client.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        session.execute(update(OutboxMessage).values(next_attempt_at=OutboxMessage.created_at))
        session.commit()


def test_relay_delivers_in_order_and_retries(client: TestClient, alice: dict) -> None:
    fake = FakeWorkerAPI(fail=1)
    first = submit(client, alice, "a")
    second = submit(client, alice, "b")
    client.post(f"/jobs/{first}/cancel", headers=alice)
    sessions = client.app.state.ctx.sessions  # type: ignore[attr-defined]
    with serve_in_thread(fake.app) as url:
        transport = HttpTransport(url, API_KEY)
        relay_once(sessions, transport)
        # the first submit failed: job a's cancel must not overtake it; job b went through
        assert fake.received == [("submit", second)]
        with sessions() as session:
            failed = session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.job_id == first, OutboxMessage.kind == "submit"
                )
            ).one()
            assert failed.attempts == 1 and "503" in failed.last_error
            assert failed.next_attempt_at > failed.created_at  # backing off
        relay_once(sessions, transport)  # still backing off: nothing new
        assert fake.received == [("submit", second)]
        make_due(client)
        while relay_once(sessions, transport):
            pass
        transport.close()
    assert fake.received == [("submit", second), ("submit", first), ("cancel", first)]
    with sessions() as session:
        assert all(m.delivered_at for m in session.scalars(select(OutboxMessage)))


def test_relay_keeps_messages_while_the_worker_api_is_down(client: TestClient, alice: dict) -> None:
    submit(client, alice, "a")
    sessions = client.app.state.ctx.sessions  # type: ignore[attr-defined]
    transport = HttpTransport("http://127.0.0.1:9", API_KEY, timeout_s=1)  # nothing listens
    assert relay_once(sessions, transport) is False
    with sessions() as session:
        message = session.scalars(select(OutboxMessage)).one()
        assert message.delivered_at is None and "unreachable" in message.last_error


def terminal_job(client: TestClient, headers: dict, name: str) -> None:
    job_id = submit(client, headers, name)
    for status in ("running", "finished"):
        client.put(
            "/_job_status",
            headers={"x-api-key": API_KEY},
            json={"job_id": job_id, "status": status},
        )


class FakeMailjet:
    """Mailjet's Send API v3.1 shape; answers 429 to the first `limit` calls."""

    def __init__(self, limit: int = 0) -> None:
        self.limit = limit
        self.sent: list[dict] = []
        self.lock = threading.Lock()
        self.app = FastAPI()

        @self.app.post("/v3.1/send")
        async def send(request: Request) -> Response:
            assert request.headers["authorization"].startswith("Basic ")
            with self.lock:
                if self.limit > 0:
                    self.limit -= 1
                    return Response(status_code=429)
                self.sent.append(await request.json())
            return Response(
                json.dumps({"Messages": [{"Status": "success"}]}), media_type="application/json"
            )


@pytest.fixture
def fake_mailjet() -> Iterator[tuple[FakeMailjet, str]]:
    fake = FakeMailjet(limit=1)
    with serve_in_thread(fake.app) as url:
        yield fake, url


def test_mailjet_email_is_sent_once_after_a_rate_limit(
    client: TestClient, alice: dict, fake_mailjet
) -> None:  # type: ignore[no-untyped-def]
    fake, url = fake_mailjet
    terminal_job(client, alice, "mail-me")
    sender = MailjetEmailSender("key", "secret", "noreply@lab.example", api_url=url + "/")
    sessions = client.app.state.ctx.sessions  # type: ignore[attr-defined]
    notify_once(sessions, sender)  # 429: deferred
    assert fake.sent == []
    with sessions() as session:
        mail = session.scalars(select(Notification)).one()
        assert mail.state == "due" and "429" in mail.last_error
        session.execute(update(Notification).values(next_attempt_at=mail.created_at))
        session.commit()
    notify_once(sessions, sender)
    notify_once(sessions, sender)  # nothing more to send
    assert len(fake.sent) == 1
    message = fake.sent[0]["Messages"][0]
    assert message["To"] == [{"Email": "alice@example.org"}]
    assert "mail-me" in message["Subject"] and "finished" in message["Subject"]
    with sessions() as session:
        assert session.scalars(select(Notification)).one().state == "sent"


def test_concurrent_senders_send_each_email_once(
    client: TestClient, alice: dict, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(10):
        terminal_job(client, alice, f"job-{i}")
    sessions = client.app.state.ctx.sessions  # type: ignore[attr-defined]
    sender = ConsoleEmailSender()
    with caplog.at_level(logging.WARNING, logger="labcloud.email"):
        threads = [threading.Thread(target=notify_once, args=(sessions, sender)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("EMAIL ")]
    subjects = sorted(json.loads(line[6:])["subject"] for line in lines)
    assert len(subjects) == 10 and len(set(subjects)) == 10


def test_an_email_with_an_injected_header_fails_once_and_is_never_sent(
    client: TestClient, alice: dict, caplog: pytest.LogCaptureFixture
) -> None:
    """A recipient with a line break (an email claim of a token, say) is refused by the
    sender: the email is marked failed after one round, not retried forever."""
    terminal_job(client, alice, "injected")
    sessions = client.app.state.ctx.sessions  # type: ignore[attr-defined]
    with sessions() as session:
        session.execute(
            update(Notification).values(recipient="alice@example.org\r\nBcc: eve@evil.example")
        )
        session.commit()
    with caplog.at_level(logging.WARNING, logger="labcloud.email"):
        assert notify_once(sessions, ConsoleEmailSender()) is True
        assert notify_once(sessions, ConsoleEmailSender()) is False  # nothing left to do
    assert not [r for r in caplog.records if r.getMessage().startswith("EMAIL ")]
    with sessions() as session:
        mail = session.scalars(select(Notification)).one()
    assert mail.state == "failed" and mail.attempts == 1
    assert "not a plain email address" in (mail.last_error or "")
