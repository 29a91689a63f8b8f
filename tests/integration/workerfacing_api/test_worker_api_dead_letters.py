"""Every `error` says why, and operators can list the dead letters and requeue them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from shared.transport.base import TransportMessage
from tests.integration.workerfacing_api.conftest import (
    API_KEY,
    MakeAPI,
    WorkerAPI,
    job_payload,
    submission_of,
)
from workerfacing_api.db.models import StatusOutbox, utcnow

KEY = {"x-api-key": API_KEY}


def later(seconds: float) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)


def fail(
    api: WorkerAPI, job_id: int, details: str | None = "exit_code: 3", worker: str = "a"
) -> dict[str, str]:
    """Job `job_id` submitted, run by `worker` and reported as failed."""
    api.submit(job_id)
    headers = api.headers(worker)
    assert job_id in api.pull(headers)
    assert api.put_status(job_id, "error", headers, details=details).status_code == 204
    return headers


def dead_letters(api: WorkerAPI, **params: Any) -> list[dict[str, Any]]:
    response = api.client.get("/_jobs", params={"status": "error", **params}, headers=KEY)
    assert response.status_code == 200, response.text
    return response.json()


def requeue_events(api: WorkerAPI, job_id: int) -> list[bool]:
    with api.ctx.sessions() as session:
        return list(
            session.scalars(
                sa.select(StatusOutbox.operator_requeue)
                .where(StatusOutbox.job_id == job_id)
                .order_by(StatusOutbox.id)
            )
        )


# --- the reasons ----------------------------------------------------------------


def test_a_worker_reported_error_keeps_the_workers_details(api: WorkerAPI) -> None:
    fail(api, 1, details="exit_code: 3\nTraceback ...")
    assert api.describe(1)["terminal_reason"] == "exit_code: 3\nTraceback ..."
    assert api.outbox(1)[-1] == (1, "error", "exit_code: 3\nTraceback ...")


def test_a_worker_reported_error_without_details_names_the_worker(api: WorkerAPI) -> None:
    fail(api, 1, details=None, worker="w7")
    assert api.describe(1)["terminal_reason"] == "error reported by worker w7"
    assert api.outbox(1)[-1] == (1, "error", "error reported by worker w7")


def test_invalid_spec_with_a_job_id_is_recorded_as_a_failed_job(api: WorkerAPI) -> None:
    payload = job_payload(9, hardware={"cpu_cores": 2})
    payload["job"]["hardware"]["cpu_cores"] = 0
    reason = "invalid spec: job.hardware.cpu_cores: Input should be greater than or equal to 1"
    for _ in range(3):  # redelivered: one job, one event, no error for the transport
        api.ctx.handle_message(TransportMessage("submit", 9, payload))
    state = api.describe(9)
    assert (state["status"], state["attempt"], state["terminal_reason"]) == ("error", 0, reason)
    assert api.outbox(9) == [(9, "error", reason)]
    assert api.pull(api.headers()) == {}
    assert [j["job_id"] for j in dead_letters(api)] == [9]
    # It would only fail again: not requeueable.
    response = api.requeue(9)
    assert response.status_code == 409
    assert reason in response.json()["detail"]


def test_invalid_spec_over_http_is_recorded_and_answered_202(api: WorkerAPI) -> None:
    payload = job_payload(10)
    del payload["paths_upload"]
    for _ in range(2):
        response = api.client.post("/_jobs", json=payload, headers=KEY)
        assert response.status_code == 202, response.text
        assert response.json() == {
            "job_id": 10,
            "status": "error",
            "detail": "invalid spec: paths_upload: Field required",
        }
    assert api.outbox(10) == [(10, "error", "invalid spec: paths_upload: Field required")]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"job": {"meta": {}}}, id="no-job-id"),
        pytest.param({"job": {"meta": {"job_id": "11"}}}, id="job-id-not-a-number"),
        pytest.param({"job": {"meta": {"job_id": True}}}, id="job-id-a-bool"),
        pytest.param({"job": {"meta": {"job_id": -1}}}, id="job-id-negative"),
        pytest.param({"job": {"meta": {"job_id": 2**40}}}, id="job-id-too-big"),
        pytest.param({"job": "nope"}, id="no-meta"),
    ],
)
def test_invalid_spec_without_a_usable_job_id_is_refused(
    api: WorkerAPI, payload: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="invalid spec: .*no usable job.meta.job_id"):
        api.ctx.handle_message(TransportMessage("submit", 11, payload))
    response = api.client.post("/_jobs", json=payload, headers=KEY)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"
    assert api.outbox() == []
    assert api.client.get("/_jobs", headers=KEY).json() == []


def test_invalid_spec_of_another_job_is_refused(api: WorkerAPI) -> None:
    payload = job_payload(12)
    del payload["paths_upload"]
    with pytest.raises(ValueError, match="carries the spec of job 12"):
        api.ctx.handle_message(TransportMessage("submit", 13, payload))
    assert api.outbox() == []


def test_an_invalid_spec_after_a_cancel_leaves_the_job_cancelled(api: WorkerAPI) -> None:
    api.cancel(14)
    payload = job_payload(14)
    del payload["paths_upload"]
    api.ctx.handle_message(TransportMessage("submit", 14, payload))
    assert api.describe(14)["status"] == "canceled"
    assert api.outbox(14) == []


# --- listing --------------------------------------------------------------------


def test_the_dead_letters_newest_first(api: WorkerAPI) -> None:
    fail(api, 1, worker="a")
    fail(api, 2, details=None, worker="b")
    api.submit(3)  # live: not a dead letter
    letters = dead_letters(api)
    assert [(j["job_id"], j["worker_id"], j["attempt"]) for j in letters] == [
        (2, "b", 1),
        (1, "a", 1),
    ]
    assert letters[0]["status"] == "error"
    assert letters[0]["terminal_reason"] == "error reported by worker b"
    assert set(letters[0]) == {
        "job_id",
        "submission_id",
        "status",
        "attempt",
        "worker_id",
        "terminal_reason",
        "updated_at",
    }
    assert letters[0]["updated_at"] >= letters[1]["updated_at"]
    assert [j["job_id"] for j in dead_letters(api, limit=1)] == [2]
    assert [j["job_id"] for j in dead_letters(api, limit=1, offset=1)] == [1]
    assert dead_letters(api, offset=2) == []
    queued = api.client.get("/_jobs", params={"status": "queued"}, headers=KEY).json()
    assert [j["job_id"] for j in queued] == [3]
    everything = api.client.get("/_jobs", headers=KEY).json()
    assert sorted(j["job_id"] for j in everything) == [1, 2, 3]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 1001}, {"offset": -1}, {"status": "lost"}],
)
def test_listing_refuses_bad_parameters(api: WorkerAPI, params: dict[str, Any]) -> None:
    assert api.client.get("/_jobs", params=params, headers=KEY).status_code == 422


def test_listing_allows_a_thousand(api: WorkerAPI) -> None:
    assert api.client.get("/_jobs", params={"limit": 1000}, headers=KEY).status_code == 200


# --- requeueing -----------------------------------------------------------------


def test_requeue_gives_a_failed_job_another_round(api: WorkerAPI) -> None:
    a = fail(api, 1, worker="a")
    response = api.requeue(1)
    assert response.status_code == 200
    assert response.json() == {"requeued": True, "status": "queued"}
    state = api.describe(1)
    assert state == {
        "job_id": 1,
        "submission_id": str(submission_of(1)),
        "status": "queued",
        "attempt": 1,
        "worker_id": None,
        "terminal_reason": None,
    }
    row = api.row(1)
    assert (row.tried_workers, row.lease_expires_at, row.attempt_base) == ([], None, 1)
    assert api.outbox(1)[-1] == (1, "queued", "requeued by an operator")
    assert requeue_events(api, 1) == [False, False, False, True]
    # The old holder has nothing left to do with it (its error grace is over).
    assert api.put_status(1, "error", a).status_code == 404
    # The same worker may get it again (tried_workers was reset); attempt numbers grow.
    again = api.pull(a)
    assert again[1]["meta"]["extra"]["attempt"] == 2
    assert [(x.number, x.worker_id) for x in api.attempts(1)] == [(1, "a"), (2, "a")]
    assert api.put_status(1, "finished", {**a, "X-Labcloud-Attempt": "2"}).status_code == 204


def test_requeue_is_idempotent(api: WorkerAPI) -> None:
    fail(api, 1)
    assert api.requeue(1).json() == {"requeued": True, "status": "queued"}
    before = api.outbox(1)
    assert api.requeue(1).json() == {"requeued": False, "status": "queued"}
    api.pull(api.headers("b"))
    assert api.requeue(1).json() == {"requeued": False, "status": "pulled"}
    assert api.outbox(1) == [*before, (1, "pulled", "pulled by worker b (attempt 2)")]
    assert (api.row(1).worker_id, api.row(1).attempt_base) == ("b", 1)


def test_requeue_of_an_unknown_job_is_404(api: WorkerAPI) -> None:
    assert api.requeue(404).status_code == 404


@pytest.mark.parametrize("end", ["finished", "canceled"])
def test_only_failed_jobs_are_requeued(api: WorkerAPI, end: str) -> None:
    api.submit(1)
    a = api.headers("a")
    api.pull(a)
    if end == "finished":
        api.put_status(1, "finished", a)
    else:
        api.cancel(1)
    before = api.outbox(1)
    response = api.requeue(1)
    assert response.status_code == 409
    assert "only failed jobs" in response.json()["detail"]
    assert api.describe(1)["status"] == end
    assert api.outbox(1) == before


def test_requeue_needs_the_api_key(api: WorkerAPI) -> None:
    fail(api, 1)
    assert api.client.post("/_jobs/1/requeue").status_code == 401
    assert api.describe(1)["status"] == "error"


def test_a_requeued_job_gets_a_fresh_retry_budget(make_api: MakeAPI) -> None:
    api = make_api(max_retries=1)
    lease = api.ctx.settings.lease_timeout
    api.submit(1)
    clock = 0.0

    def lose(worker: str) -> None:
        nonlocal clock
        assert list(api.pull(api.headers(worker))) == [1]
        clock += lease + 1
        api.sweep(later(clock))

    lose("a")
    lose("b")
    assert api.describe(1)["status"] == "error"  # 2 attempts = 1 + MAX_RETRIES
    assert api.requeue(1).json()["requeued"] is True
    lose("c")  # attempt 3, the first since the requeue: requeued
    assert api.outbox(1)[-1] == (
        1,
        "queued",
        "lease expired on worker c, requeued (attempt 2 of 2)",
    )
    lose("d")  # attempt 4, the second since the requeue: out of attempts again
    state = api.describe(1)
    assert (state["status"], state["attempt"]) == ("error", 4)
    assert state["terminal_reason"] == "lost: max retries reached (lease expired on worker d)"
    assert [x.number for x in api.attempts(1)] == [1, 2, 3, 4]


def test_a_timed_out_job_can_be_requeued(make_api: MakeAPI) -> None:
    api = make_api(lease_timeout=10_000, running_grace=0)
    api.submit(1, timeout=60)
    a = api.headers("a")
    api.pull(a)
    api.put_status(1, "running", a)
    assert api.sweep(later(61)).failed == [1]
    assert api.describe(1)["terminal_reason"].startswith("timeout: still running")
    assert api.requeue(1).json() == {"requeued": True, "status": "queued"}
    assert list(api.pull(api.headers("b"))) == [1]
