"""`PUT /_job_statuses`: a batch of status reports from the worker API's relay, each
applied as `PUT /_job_status` applies one, in one transaction, one result per report."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shared.jobs.states import JobStatus
from tests.integration.userfacing_api.conftest import API_KEY
from tests.integration.userfacing_api.test_job_status import new_job, notifications
from userfacing_api.db.models import StatusEvent
from userfacing_api.services import status as status_service

KEY = {"x-api-key": API_KEY}


def batch(client: TestClient, *events: dict[str, Any], headers: dict | None = None):  # type: ignore[no-untyped-def]
    return client.put(
        "/_job_statuses", headers=KEY if headers is None else headers, json={"events": list(events)}
    )


def ev(job_id: int, status: str, details: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"job_id": job_id, "status": status, "runtime_details": details, **extra}


def job(client: TestClient, alice: dict, job_id: int) -> dict[str, Any]:
    return client.get(f"/jobs/{job_id}", headers=alice).json()


def events_of(client: TestClient, job_id: int) -> list[tuple[str, bool]]:
    with client.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        rows = session.scalars(
            select(StatusEvent).where(StatusEvent.job_id == job_id).order_by(StatusEvent.id)
        )
        return [(e.status, e.applied) for e in rows]


def test_a_batch_is_applied_in_order_with_one_result_per_event(
    client: TestClient, alice: dict
) -> None:
    first, second = new_job(client, alice, "a"), new_job(client, alice, "b")
    response = batch(
        client,
        ev(first, "queued"),
        ev(second, "pulled"),
        ev(first, "running", "started"),
        ev(424242, "running"),  # no such job
        ev(first, "pulled"),  # backward: recorded, changes nothing
        ev(first, "finished", "exit code 0"),
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == [
        "applied",
        "applied",
        "applied",
        "gone",
        "applied",
        "applied",
    ]
    assert results[3]["detail"] == "job not found"
    assert results[0]["detail"] is None and results[4]["detail"]  # the refusal's reason
    done = job(client, alice, first)
    assert (done["status"], done["runtime_details"]) == ("finished", "started\nexit code 0")
    assert done["date_started"] and done["date_finished"]
    assert job(client, alice, second)["status"] == "pulled"
    assert events_of(client, first) == [
        ("queued", True),
        ("running", True),
        ("pulled", False),
        ("finished", True),
    ]
    assert len(notifications(client)) == 1  # one email, as for one report at a time


def test_an_operator_requeue_in_a_batch_revives_the_job(client: TestClient, alice: dict) -> None:
    job_id = new_job(client, alice)
    batch(client, ev(job_id, "running"), ev(job_id, "error", "exit code 1"))
    plain = batch(client, ev(job_id, "queued")).json()["results"][0]
    assert plain["outcome"] == "applied" and job(client, alice, job_id)["status"] == "error"
    batch(client, ev(job_id, "queued", "requeued by an operator", operator_requeue=True))
    assert job(client, alice, job_id)["status"] == "queued"


def test_one_failing_event_neither_undoes_nor_blocks_the_others(
    client: TestClient, alice: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [new_job(client, alice, name) for name in "abc"]
    real = status_service._apply

    def flaky(session, job_id, status, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = real(session, job_id, status, *args, **kwargs)  # writes, then fails
        if job_id == ids[1] and status is JobStatus.running:
            raise RuntimeError("disk on fire")
        return result

    monkeypatch.setattr(status_service, "_apply", flaky)
    response = batch(
        client,
        ev(ids[0], "running"),
        ev(ids[1], "pulled"),
        ev(ids[1], "running"),
        ev(ids[2], "running"),
    )
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == ["applied", "applied", "failed", "applied"]
    assert "disk on fire" in results[2]["detail"]
    statuses = [job(client, alice, i)["status"] for i in ids]
    assert statuses == ["running", "pulled", "running"]  # only the failed event undone
    assert events_of(client, ids[1]) == [("pulled", True)]


def test_bad_batches_are_refused_whole(client: TestClient, alice: dict) -> None:
    job_id = new_job(client, alice)
    assert batch(client, ev(job_id, "running"), ev(job_id, "exploded")).status_code == 422
    assert client.put("/_job_statuses", headers=KEY, json={"events": []}).status_code == 422
    too_many = [ev(job_id, "running")] * 501
    assert client.put("/_job_statuses", headers=KEY, json={"events": too_many}).status_code == 422
    assert batch(client, ev(job_id, "running"), headers={}).status_code == 401
    wrong = {"x-api-key": API_KEY[:-1] + "x"}
    assert batch(client, ev(job_id, "running"), headers=wrong).status_code == 401
    assert job(client, alice, job_id)["status"] == "queued"  # nothing changed
    assert events_of(client, job_id) == []


def test_the_single_report_endpoint_still_works(client: TestClient, alice: dict) -> None:
    job_id = new_job(client, alice)
    response = client.put("/_job_status", headers=KEY, json=ev(job_id, "running"))
    assert response.status_code == 204 and response.headers["x-labcloud-applied"] == "true"
    assert client.put("/_job_status", headers=KEY, json=ev(424242, "running")).status_code == 404
