import random

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.integration.userfacing_api.conftest import API_KEY
from userfacing_api.db.models import Notification, OutboxMessage, StatusEvent

KEY = {"x-api-key": API_KEY}
NO_INPUTS = {"files_down": {}, "env_vars": None}


def new_job(client: TestClient, headers: dict, name: str = "j") -> int:
    body = {
        "job_name": name,
        "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
        "attributes": NO_INPUTS,
    }
    response = client.post("/jobs", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def report(client: TestClient, job_id: int, status: str, details: str | None = None):  # type: ignore[no-untyped-def]
    return client.put(
        "/_job_status",
        headers=KEY,
        json={"job_id": job_id, "status": status, "runtime_details": details},
    )


def notifications(client: TestClient) -> list[Notification]:
    with client.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(Notification)))


def test_full_lifecycle(client: TestClient, alice: dict) -> None:
    job_id = new_job(client, alice)
    for status in ("pulled", "preprocessing", "running", "postprocessing"):
        response = report(client, job_id, status)
        assert response.status_code == 204 and response.headers["x-labcloud-applied"] == "true"
    job = client.get(f"/jobs/{job_id}", headers=alice).json()
    assert job["status"] == "postprocessing" and job["date_started"] and not job["date_finished"]
    assert report(client, job_id, "finished", "exit code 0").status_code == 204
    job = client.get(f"/jobs/{job_id}", headers=alice).json()
    assert job["status"] == "finished" and job["date_finished"]
    assert job["runtime_details"] == "exit code 0"
    [mail] = notifications(client)
    assert mail.recipient == "alice@example.org" and mail.state == "due"
    assert "finished" in mail.subject and "exit code 0" in mail.body


def test_backward_duplicate_and_post_terminal_reports_change_nothing(
    client: TestClient, alice: dict
) -> None:
    job_id = new_job(client, alice)
    report(client, job_id, "running", "started")
    started = client.get(f"/jobs/{job_id}", headers=alice).json()["date_started"]
    for status in ("pulled", "running"):
        response = report(client, job_id, status)
        assert response.status_code == 204 and response.headers["x-labcloud-applied"] == "false"
    assert client.get(f"/jobs/{job_id}", headers=alice).json()["status"] == "running"
    report(client, job_id, "error", "exit code 2")
    finished = client.get(f"/jobs/{job_id}", headers=alice).json()
    assert report(client, job_id, "finished").headers["x-labcloud-applied"] == "false"
    after = client.get(f"/jobs/{job_id}", headers=alice).json()
    assert after["status"] == "error" and after["date_finished"] == finished["date_finished"]
    assert after["date_started"] == started
    assert after["runtime_details"] == "started\nexit code 2"
    assert len(notifications(client)) == 1  # exactly one email per job
    with client.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        events = list(session.scalars(select(StatusEvent).order_by(StatusEvent.id)))
    assert [(e.status, e.applied) for e in events] == [
        ("running", True),
        ("pulled", False),
        ("running", False),
        ("error", True),
        ("finished", False),
    ]


def test_opted_out_user_gets_no_email(client: TestClient, alice: dict) -> None:
    client.put("/user/preferences", headers=alice, json={"notify_email": False})
    job_id = new_job(client, alice)
    report(client, job_id, "canceled")
    assert notifications(client) == []


def test_unknown_job_is_404_and_bad_key_401(client: TestClient) -> None:
    assert report(client, 424242, "running").status_code == 404
    body = {"job_id": 1, "status": "running"}
    assert client.put("/_job_status", json=body).status_code == 401
    assert (
        client.put("/_job_status", json=body, headers={"x-api-key": API_KEY[:-1] + "x"}).status_code
        == 401
    )


def test_invalid_status_value_is_422(client: TestClient, alice: dict) -> None:
    job_id = new_job(client, alice)
    response = report(client, job_id, "exploded")
    assert response.status_code == 422
    assert client.get(f"/jobs/{job_id}", headers=alice).json()["status"] == "queued"


def test_queued_confirms_then_requeues(client: TestClient, alice: dict) -> None:
    job_id = new_job(client, alice)
    with client.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        [submit] = session.scalars(select(OutboxMessage)).all()
        assert submit.delivered_at is None
    # the worker API's "queued" confirms the submission
    assert report(client, job_id, "queued").headers["x-labcloud-applied"] == "true"
    with client.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        assert session.scalars(select(OutboxMessage)).one().delivered_at is not None
    report(client, job_id, "running")
    # a lease that expired: the job is queued again for another worker
    response = report(client, job_id, "queued", "lease expired on worker w1, requeued")
    assert response.headers["x-labcloud-applied"] == "true"
    job = client.get(f"/jobs/{job_id}", headers=alice).json()
    assert job["status"] == "queued" and job["date_started"] is not None
    assert "lease expired" in job["runtime_details"]
    report(client, job_id, "error")
    assert report(client, job_id, "queued").headers["x-labcloud-applied"] == "false"


def test_a_repeated_final_status_adds_its_details(client: TestClient, alice: dict) -> None:
    job_id = new_job(client, alice)
    report(client, job_id, "running")
    report(client, job_id, "error", "exit code 3")
    response = report(client, job_id, "error", "Traceback: boom")
    assert response.headers["x-labcloud-applied"] == "false"
    job = client.get(f"/jobs/{job_id}", headers=alice).json()
    assert job["status"] == "error"
    assert job["runtime_details"] == "exit code 3\nTraceback: boom"
    assert len(notifications(client)) == 1


def test_date_started_only_once_a_worker_has_the_job(client: TestClient, alice: dict) -> None:
    job_id = new_job(client, alice)
    report(client, job_id, "canceled")
    job = client.get(f"/jobs/{job_id}", headers=alice).json()
    assert job["date_started"] is None and job["date_finished"] is not None


@pytest.mark.parametrize("seed", range(12))
def test_duplicated_and_shuffled_events_end_in_the_right_state(client: TestClient, alice: dict,
                                                               seed: int) -> None:
    """At-least-once delivery, in any order: the job still ends `finished`, with one email."""
    job_id = new_job(client, alice, f"shuffled-{seed}")
    events = ["queued", "pulled", "preprocessing", "running", "postprocessing", "finished"] * 2
    random.Random(seed).shuffle(events)
    for status in events:
        assert report(client, job_id, status).status_code == 204
    job = client.get(f"/jobs/{job_id}", headers=alice).json()
    assert job["status"] == "finished" and job["date_finished"]
    assert len(notifications(client)) == 1
