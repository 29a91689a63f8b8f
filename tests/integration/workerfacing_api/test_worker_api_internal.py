"""Internal endpoints (x-api-key), the inbox's idempotency and the public basics."""

from __future__ import annotations

import threading

import pytest

from shared.transport.base import TransportMessage
from tests.integration.workerfacing_api.conftest import API_KEY, WorkerAPI, job_payload

INTERNAL_CALLS = [
    ("POST", "/_jobs"),
    ("POST", "/_jobs/1/cancel"),
    ("GET", "/_jobs/1"),
    ("GET", "/_jobs?status=error"),
    ("POST", "/_jobs/1/requeue"),
]


@pytest.mark.parametrize(("method", "path"), INTERNAL_CALLS)
@pytest.mark.parametrize("key", [None, "", "wrong-key-0123456789", API_KEY + "x", API_KEY[:-1]])
def test_internal_endpoints_need_the_api_key(
    api: WorkerAPI, method: str, path: str, key: str | None
) -> None:
    headers = {} if key is None else {"x-api-key": key}
    response = api.client.request(method, path, headers=headers, json=job_payload(1))
    assert response.status_code == 401
    assert api.outbox() == []


def test_submit_echoes_the_job(api: WorkerAPI) -> None:
    payload = job_payload(5, priority=2, group="g")
    response = api.client.post("/_jobs", json=payload, headers={"x-api-key": API_KEY})
    assert response.status_code == 201
    assert response.json() == payload
    state = api.describe(5)
    assert state == {
        "job_id": 5,
        "submission_id": payload["submission_id"],
        "status": "queued",
        "attempt": 0,
        "worker_id": None,
        "terminal_reason": None,
    }


def test_submitting_twice_makes_one_job(api: WorkerAPI) -> None:
    api.submit(1, priority=1)
    api.submit(1, priority=4)  # a redelivery; even a changed one changes nothing
    assert api.outbox() == [(1, "queued", None)]
    row = api.row(1)
    assert (row.priority, row.spec["priority"]) == (1, 1)
    assert len(api.pull(api.headers(), limit=10)) == 1


def test_a_spec_delivered_three_times_makes_one_job_and_one_event(api: WorkerAPI) -> None:
    payload = job_payload(8)
    api.client.post("/_jobs", json=payload, headers={"x-api-key": API_KEY})
    api.ctx.handle_message(TransportMessage("submit", 8, payload))
    response = api.client.post("/_jobs", json=payload, headers={"x-api-key": API_KEY})
    assert response.status_code == 201
    assert response.json() == payload
    assert api.outbox() == [(8, "queued", None)]
    assert api.client.get("/_jobs", headers={"x-api-key": API_KEY}).json()[0]["job_id"] == 8
    assert len(api.client.get("/_jobs", headers={"x-api-key": API_KEY}).json()) == 1
    assert list(api.pull(api.headers(), limit=10)) == [8]


def test_three_racing_deliveries_make_one_job_and_one_event(api: WorkerAPI) -> None:
    payload = job_payload(9)
    start = threading.Barrier(3)
    answers: list[int] = []

    def over_http() -> None:
        start.wait()
        response = api.client.post("/_jobs", json=payload, headers={"x-api-key": API_KEY})
        answers.append(response.status_code)

    def from_the_transport() -> None:
        start.wait()
        api.ctx.handle_message(TransportMessage("submit", 9, payload))
        answers.append(201)

    threads = [threading.Thread(target=f) for f in (over_http, from_the_transport, over_http)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [201, 201, 201]
    assert api.outbox() == [(9, "queued", None)]
    assert len(api.client.get("/_jobs", headers={"x-api-key": API_KEY}).json()) == 1


def test_a_redelivered_submit_does_not_reset_a_running_job(api: WorkerAPI) -> None:
    api.submit(1)
    worker = api.headers()
    api.pull(worker)
    api.put_status(1, "running", worker)
    api.submit(1)
    assert api.row(1).status == "running"


def test_cancel_before_submit_leaves_a_tombstone(api: WorkerAPI) -> None:
    assert api.cancel(77).status_code == 204
    api.submit(77)  # the submit arrives late
    assert api.pull(api.headers()) == {}
    state = api.describe(77)
    assert state["status"] == "canceled"
    assert state["terminal_reason"].startswith("cancelled by the user")
    assert api.outbox(77) == []


def test_describe_unknown_job_is_404(api: WorkerAPI) -> None:
    assert api.client.get("/_jobs/12345", headers={"x-api-key": API_KEY}).status_code == 404


def test_handle_message_is_the_same_consumer(api: WorkerAPI) -> None:
    api.ctx.handle_message(TransportMessage("submit", 3, job_payload(3)))
    api.ctx.handle_message(TransportMessage("submit", 3, job_payload(3)))
    assert api.outbox() == [(3, "queued", None)]
    api.ctx.handle_message(TransportMessage("cancel", 3))
    assert api.describe(3)["status"] == "canceled"


def test_handle_message_refuses_a_mismatched_spec(api: WorkerAPI) -> None:
    with pytest.raises(ValueError, match="carries the spec of job 4"):
        api.ctx.handle_message(TransportMessage("submit", 3, job_payload(4)))
    assert api.outbox() == []


def test_root_and_access_info(api: WorkerAPI) -> None:
    assert "message" in api.client.get("/").json()
    info = api.client.get("/access_info").json()
    assert set(info["cognito"]) == {"user_pool_id", "client_id", "region"}
    assert info["local"]["token_url"] == "http://127.0.0.1:8000/token"


def test_the_internal_key_makes_a_cloud_worker(api: WorkerAPI) -> None:
    """The worker API's own cloud pollers call with the internal key instead of a token:
    they lease `cloud` jobs (never `local` ones) and report like any worker."""
    api.submit(1, environment="local")
    api.submit(2, environment="cloud")
    poller = {"x-api-key": API_KEY, "X-Worker-Id": "host-batch"}
    leased = api.client.get(
        "/jobs", params={"memory": 1000, "cpu_cores": 4, "limit": 5}, headers=poller
    )
    assert leased.status_code == 200, leased.text
    assert list(leased.json()) == ["2"]
    ok = api.client.put("/jobs/2/status", params={"status": "running"}, headers=poller)
    assert ok.status_code == 204
    assert api.describe(2)["status"] == "running"


@pytest.mark.parametrize("key", ["", "wrong-key-0123456789", API_KEY[:-1]])
def test_a_wrong_internal_key_is_no_worker_at_all(api: WorkerAPI, key: str) -> None:
    api.submit(1, environment="cloud")
    response = api.client.get(
        "/jobs", params={"memory": 1000, "cpu_cores": 4}, headers={"x-api-key": key}
    )
    assert response.status_code == 401
    assert api.describe(1)["status"] == "queued"
