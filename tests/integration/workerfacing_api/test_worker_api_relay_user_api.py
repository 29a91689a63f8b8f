"""The status relay against the real user API app (its own database, same backend as the
worker API's): batches of `PUT /_job_statuses`, one event per job per request and in
order, a failing event that backs off its own job only, a job deleted there, and the
fallback to `PUT /_job_status` for a user API without the batch route."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.jobs.states import JobStatus
from tests.integration.userfacing_api.conftest import PASSWORD
from tests.integration.userfacing_api.conftest import make_settings as user_settings
from tests.integration.userfacing_api.test_job_status import new_job
from tests.integration.workerfacing_api.conftest import API_KEY, WorkerAPI
from tests.support.databases import fresh_database
from userfacing_api.db.models import Job, StatusEvent
from userfacing_api.db.session import upgrade as upgrade_user_db
from userfacing_api.main import create_app as create_user_app
from userfacing_api.services import status as status_service
from workerfacing_api.db.models import StatusOutbox, utcnow
from workerfacing_api.pollers import relay

KEY = {"x-api-key": API_KEY}


@dataclass
class UserAPI:
    """The real user API: `client` for a scientist, `relay_client` for the relay (counting
    the paths it requests)."""

    app: FastAPI
    client: TestClient
    relay_client: TestClient
    alice: dict[str, str]
    requests: list[str] = field(default_factory=list)
    started: list[int] = field(default_factory=list)

    def job(self, job_id: int) -> dict[str, Any]:
        response = self.client.get(f"/jobs/{job_id}", headers=self.alice)
        assert response.status_code == 200, response.text
        return response.json()

    def events(self, job_id: int) -> list[str]:
        """The statuses applied to job `job_id`, in order."""
        with self.app.state.ctx.sessions() as session:
            rows = session.scalars(
                sa.select(StatusEvent.status)
                .where(StatusEvent.job_id == job_id, StatusEvent.applied.is_(True))
                .order_by(StatusEvent.id)
            )
            return list(rows)


@pytest.fixture
def user_api(db_url: str, tmp_path: Path) -> Iterator[UserAPI]:
    kind = "postgres" if db_url.startswith("postgresql") else "sqlite"
    with fresh_database(kind, tmp_path) as url:
        upgrade_user_db(url)
        app = create_user_app(user_settings(url, tmp_path), run_background=False)
        with TestClient(app) as client:
            form = {"username": "alice@example.org", "password": PASSWORD}
            client.post("/user", headers=KEY, data=form, params=[("groups", "users")])
            token = client.post("/token", data=form).json()["id_token"]
            user = UserAPI(app, client, client, {"Authorization": f"Bearer {token}"})
            user.relay_client = relay_client(app, user.requests)
            yield user
        app.state.ctx.engine.dispose()


def relay_client(app: ASGIApp, requests: list[str]) -> TestClient:
    """An HTTP client for the relay, to `app`, noting the path of every request."""
    client = TestClient(app, headers=KEY, raise_server_exceptions=False)
    client.event_hooks = {"request": [lambda r: requests.append(r.url.path)], "response": []}
    return client


def without_batch_route(app: ASGIApp) -> ASGIApp:
    """The user API as an older one, without `PUT /_job_statuses`."""

    async def older(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/_job_statuses":
            await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)
        else:
            await app(scope, receive, send)

    return older


def start(api: WorkerAPI, user: UserAPI, *statuses: str) -> int:
    """A job submitted at the user API, at the worker API too, pulled and moved on."""
    job_id = new_job(user.client, user.alice, f"job-{len(user.started)}")
    user.started.append(job_id)
    with user.app.state.ctx.sessions() as session:
        submission = session.get(Job, job_id).submission_id
    api.submit(job_id, submission_id=uuid.UUID(submission))
    if statuses:
        worker = api.headers("a")
        assert job_id in api.pull(worker)
        for status in statuses:
            assert api.put_status(job_id, status, worker).status_code == 204
    return job_id


def in_seconds(seconds: float) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)


def test_many_jobs_go_in_one_request_per_round_each_in_order(
    api: WorkerAPI, user_api: UserAPI
) -> None:
    steps = ("preprocessing", "running", "postprocessing", "finished")
    long = start(api, user_api, *steps)  # queued, pulled and 4 more: 6 events
    others = [start(api, user_api, "running") for _ in range(8)]  # 3 events each
    report = relay.run_once(api.ctx.sessions, user_api.relay_client)
    assert (report.delivered, report.failed, report.gone) == (6 + 8 * 3, 0, 0)
    assert user_api.requests == ["/_job_statuses"] * 6
    assert user_api.events(long) == ["queued", "pulled", *steps]
    assert user_api.job(long)["status"] == "finished"
    for job_id in others:
        assert user_api.events(job_id) == ["queued", "pulled", "running"]
    assert relay.run_once(api.ctx.sessions, user_api.relay_client) == relay.RelayReport()


def test_a_failing_event_backs_off_its_own_job_only(
    api: WorkerAPI, user_api: UserAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [start(api, user_api, "running") for _ in range(3)]
    real = status_service._apply

    def flaky(session, job_id, status, *args, **kwargs):  # type: ignore[no-untyped-def]
        if job_id == ids[1] and status is JobStatus.pulled:
            raise RuntimeError("disk on fire")
        return real(session, job_id, status, *args, **kwargs)

    monkeypatch.setattr(status_service, "_apply", flaky)
    report = relay.run_once(api.ctx.sessions, user_api.relay_client)
    assert (report.delivered, report.failed) == (7, 1)
    assert [user_api.events(i) for i in ids] == [
        ["queued", "pulled", "running"],
        ["queued"],
        ["queued", "pulled", "running"],
    ]
    monkeypatch.undo()
    assert relay.run_once(api.ctx.sessions, user_api.relay_client).delivered == 0  # backoff
    later = relay.run_once(api.ctx.sessions, user_api.relay_client, now=in_seconds(2))
    assert later.delivered == 2
    assert user_api.events(ids[1]) == ["queued", "pulled", "running"]


def test_a_job_deleted_at_the_user_api_is_cancelled_here(api: WorkerAPI, user_api: UserAPI) -> None:
    deleted, kept = start(api, user_api, "running"), start(api, user_api)
    assert user_api.client.delete(f"/jobs/{deleted}", headers=user_api.alice).status_code == 204
    report = relay.run_once(api.ctx.sessions, user_api.relay_client)
    assert (report.delivered, report.gone) == (1, 3)
    state = api.describe(deleted)
    assert (state["status"], state["terminal_reason"]) == ("canceled", "deleted by the user")
    assert user_api.events(kept) == ["queued"]
    assert relay.run_once(api.ctx.sessions, user_api.relay_client) == relay.RelayReport()


def test_a_user_api_without_the_batch_route_gets_events_one_by_one(
    api: WorkerAPI, user_api: UserAPI
) -> None:
    user_api.relay_client = relay_client(without_batch_route(user_api.app), user_api.requests)
    ids = [start(api, user_api, "running") for _ in range(2)]
    report = relay.run_once(api.ctx.sessions, user_api.relay_client)
    assert report.delivered == 6
    assert user_api.requests == ["/_job_statuses"] + ["/_job_status"] * 6
    assert [user_api.events(i) for i in ids] == [["queued", "pulled", "running"]] * 2


def test_a_batch_refused_whole_goes_one_by_one(api: WorkerAPI, user_api: UserAPI) -> None:
    bad = start(api, user_api)
    relay.run_once(api.ctx.sessions, user_api.relay_client)  # its `queued`
    with api.ctx.sessions() as session:  # a status this user API cannot read
        session.add(StatusOutbox(job_id=bad, status="exploded", next_attempt_at=utcnow()))
        session.commit()
    good = start(api, user_api)
    user_api.requests.clear()
    report = relay.run_once(api.ctx.sessions, user_api.relay_client)
    assert (report.delivered, report.failed) == (1, 1)  # the bad event holds back its job only
    assert user_api.requests == ["/_job_statuses", "/_job_status", "/_job_status"]
    assert user_api.events(good) == ["queued"]
