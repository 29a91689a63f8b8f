"""Status reports and heartbeats: only the holder, through the state machine, with outbox
events for real moves."""

from __future__ import annotations

import pytest

from tests.integration.workerfacing_api.conftest import WorkerAPI


@pytest.fixture
def held(api: WorkerAPI) -> dict[str, str]:
    """Job 1, leased to worker-a; returns worker-a's headers."""
    api.submit(1)
    headers = api.headers("worker-a")
    assert list(api.pull(headers)) == [1]
    return headers


def test_the_holder_walks_the_job_to_finished(api: WorkerAPI, held: dict[str, str]) -> None:
    for status in ("preprocessing", "running", "postprocessing"):
        assert api.put_status(1, status, held).status_code == 204
        assert api.client.get("/jobs/1/status", headers=held).json() == status
    assert api.put_status(1, "finished", held, details="exit_code: 0").status_code == 204
    assert [s for _, s, _ in api.outbox(1)] == [
        "queued", "pulled", "preprocessing", "running", "postprocessing", "finished"]
    [attempt] = api.attempts(1)
    assert (attempt.outcome, attempt.ended_at is not None) == ("finished", True)
    row = api.row(1)
    assert (row.status, row.terminal_reason, row.lease_expires_at) == (
        "finished", "exit_code: 0", None)
    # Ended: any further report is refused the way DECODE's worker understands.
    assert api.put_status(1, "running", held).status_code == 404


def test_repeating_the_status_is_a_heartbeat(api: WorkerAPI, held: dict[str, str]) -> None:
    assert api.put_status(1, "running", held).status_code == 204
    first_lease = api.row(1).lease_expires_at
    assert api.put_status(1, "running", held).status_code == 204
    assert api.put_status(1, "running", held).status_code == 204
    row = api.row(1)
    assert row.status == "running"
    assert row.lease_expires_at is not None and first_lease is not None
    assert row.lease_expires_at > first_lease
    assert api.attempts(1)[0].lease_expires_at == row.lease_expires_at
    assert [s for _, s, _ in api.outbox(1)] == ["queued", "pulled", "running"]


def test_an_illegal_move_is_409_and_changes_nothing(api: WorkerAPI,
                                                    held: dict[str, str]) -> None:
    api.put_status(1, "running", held)
    before = api.outbox(1)
    response = api.put_status(1, "preprocessing", held)
    assert response.status_code == 409
    assert "running" in response.json()["detail"]
    assert api.row(1).status == "running"
    assert api.outbox(1) == before
    assert api.put_status(1, "queued", held).status_code == 409


def test_unknown_status_value_is_422(api: WorkerAPI, held: dict[str, str]) -> None:
    assert api.put_status(1, "stopped", held).status_code == 422


@pytest.mark.parametrize(("username", "worker_id"), [
    pytest.param("worker-b", None, id="another-account"),
    pytest.param("worker-a", "proc-2", id="another-process"),
])
def test_only_the_holder_may_report(api: WorkerAPI, held: dict[str, str], username: str,
                                    worker_id: str | None) -> None:
    other = api.headers(username, worker_id=worker_id)
    assert api.put_status(1, "running", other).status_code == 404
    assert api.row(1).status == "pulled"
    # A new token for the same account (DECODE's worker logs in again) is the same worker.
    assert api.put_status(1, "running", api.headers("worker-a")).status_code == 204


def test_unknown_job_is_404(api: WorkerAPI) -> None:
    headers = api.headers()
    assert api.put_status(999, "running", headers).status_code == 404
    assert api.client.get("/jobs/999/status", headers=headers).status_code == 404


def test_a_cancelled_jobs_holder_gets_404(api: WorkerAPI, held: dict[str, str]) -> None:
    api.put_status(1, "running", held)
    assert api.cancel(1).status_code == 204
    assert api.put_status(1, "running", held).status_code == 404
    assert api.client.get("/jobs/1/status", headers=held).json() == "canceled"
    state = api.describe(1)
    assert (state["status"], state["terminal_reason"]) == ("canceled", "cancelled by the user")
    assert api.outbox(1)[-1] == (1, "canceled", "cancelled by the user")
    [attempt] = api.attempts(1)
    assert attempt.outcome == "canceled"
    assert api.cancel(1).status_code == 204  # idempotent
    assert [s for _, s, _ in api.outbox(1)].count("canceled") == 1


def test_a_queued_job_can_be_cancelled_and_is_never_handed_out(api: WorkerAPI) -> None:
    api.submit(1)
    api.cancel(1)
    assert api.pull(api.headers()) == {}
    assert api.describe(1)["status"] == "canceled"


def test_error_is_final_with_its_details(api: WorkerAPI, held: dict[str, str]) -> None:
    api.put_status(1, "running", held)
    assert api.put_status(1, "error", held, details="exit_code: 3 boom").status_code == 204
    state = api.describe(1)
    assert (state["status"], state["terminal_reason"]) == ("error", "exit_code: 3 boom")
    # DECODE's worker may report postprocessing after an error: it is told to stop.
    assert api.put_status(1, "postprocessing", held).status_code == 404


@pytest.mark.parametrize(("headers", "code"), [
    pytest.param({}, 401, id="no-token"),
    pytest.param({"Authorization": "Bearer not-a-jwt"}, 401, id="bad-token"),
    pytest.param({"Authorization": "Basic abc"}, 401, id="not-bearer"),
])
def test_worker_routes_need_a_valid_token(api: WorkerAPI, headers: dict[str, str],
                                          code: int) -> None:
    assert api.client.get("/jobs", params={"memory": 1}, headers=headers).status_code == code
    assert api.client.put("/jobs/1/status", params={"status": "running"},
                          headers=headers).status_code == code


def test_worker_routes_need_the_workers_group(api: WorkerAPI) -> None:
    user = api.headers("alice", ("users",))
    assert api.client.get("/jobs", params={"memory": 1}, headers=user).status_code == 403


def test_malformed_worker_id_is_400(api: WorkerAPI) -> None:
    headers = api.headers(worker_id="bad id/with slash")
    assert api.client.get("/jobs", params={"memory": 1}, headers=headers).status_code == 400
