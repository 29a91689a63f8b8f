"""The user API asks the worker API about jobs whose status has stood still too long."""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.integration.userfacing_api.conftest import API_KEY
from tests.support.http_server import serve_in_thread
from userfacing_api.db.models import Job, OutboxMessage, utcnow
from userfacing_api.pollers.reconciler import make_client, reconcile_once

NO_INPUTS = {"files_down": {}, "env_vars": None}


def submit(client: TestClient, headers: dict, name: str) -> int:
    body = {"job_name": name, "attributes": NO_INPUTS,
            "application": {"application": "demo", "version": "v1", "entrypoint": "run"}}
    return client.post("/jobs", headers=headers, json=body).json()["id"]


def age_all(client: TestClient, seconds: float) -> None:
    with client.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        session.execute(update(Job).values(
            status_changed_at=utcnow() - dt.timedelta(seconds=seconds)))
        session.execute(update(OutboxMessage).values(delivered_at=utcnow()))
        session.commit()


def fake_worker_api(states: dict[int, dict]) -> FastAPI:
    app = FastAPI()

    @app.get("/_jobs/{job_id}")
    def describe(job_id: int, x_api_key: str = "") -> Response:  # noqa: ARG001
        if job_id not in states:
            return Response(status_code=404)
        return JSONResponse(states[job_id])

    return app


def test_stale_jobs_adopt_the_worker_apis_status_or_are_sent_again(
    client: TestClient, alice: dict
) -> None:
    lost_status = submit(client, alice, "lost-status")
    unknown = submit(client, alice, "unknown")
    fresh = submit(client, alice, "fresh")
    client.put("/_job_status", headers={"x-api-key": API_KEY},
               json={"job_id": lost_status, "status": "running"})
    age_all(client, 3600)
    with client.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        session.execute(update(Job).where(Job.id == fresh).values(status_changed_at=utcnow()))
        session.commit()
    states = {lost_status: {"job_id": lost_status, "status": "error",
                            "terminal_reason": "lost: max retries reached"},
              fresh: {"job_id": fresh, "status": "finished", "terminal_reason": None}}
    sessions = client.app.state.ctx.sessions  # type: ignore[attr-defined]
    with serve_in_thread(fake_worker_api(states)) as url:
        worker_api = make_client(url, API_KEY)
        assert reconcile_once(sessions, worker_api, stale_after_s=600) is True
        # checked just now: the next round leaves them alone
        assert reconcile_once(sessions, worker_api, stale_after_s=600) is False
        worker_api.close()
    job = client.get(f"/jobs/{lost_status}", headers=alice).json()
    assert job["status"] == "error"
    assert "reconciled with the worker API: lost: max retries reached" in job["runtime_details"]
    assert client.get(f"/jobs/{fresh}", headers=alice).json()["status"] == "queued"  # not stale
    with sessions() as session:
        resend = session.scalars(select(OutboxMessage).where(
            OutboxMessage.job_id == unknown)).one()
        assert resend.delivered_at is None and "unknown" in resend.last_error


def test_an_unreachable_worker_api_changes_nothing(client: TestClient, alice: dict) -> None:
    job_id = submit(client, alice, "j")
    age_all(client, 3600)
    sessions = client.app.state.ctx.sessions  # type: ignore[attr-defined]
    worker_api = make_client("http://127.0.0.1:9", API_KEY)
    assert reconcile_once(sessions, worker_api, stale_after_s=600) is False
    assert client.get(f"/jobs/{job_id}", headers=alice).json()["status"] == "queued"


def test_operator_requeue_revives_a_failed_job(client: TestClient, alice: dict) -> None:
    job_id = submit(client, alice, "dead-letter")
    key = {"x-api-key": API_KEY}
    client.put("/_job_status", headers=key, json={"job_id": job_id, "status": "running"})
    client.put("/_job_status", headers=key, json={"job_id": job_id, "status": "error",
                                                  "runtime_details": "lost"})
    # a plain "queued" does not bring an ended job back…
    client.put("/_job_status", headers=key, json={"job_id": job_id, "status": "queued"})
    assert client.get(f"/jobs/{job_id}", headers=alice).json()["status"] == "error"
    # …an operator's requeue does
    response = client.put("/_job_status", headers=key, json={
        "job_id": job_id, "status": "queued", "runtime_details": "requeued by an operator",
        "operator_requeue": True})
    assert response.headers["x-labcloud-applied"] == "true"
    job = client.get(f"/jobs/{job_id}", headers=alice).json()
    assert job["status"] == "queued" and job["date_finished"] is None
    for status in ("running", "finished"):
        client.put("/_job_status", headers=key, json={"job_id": job_id, "status": status})
    assert client.get(f"/jobs/{job_id}", headers=alice).json()["status"] == "finished"
