"""Status reports and heartbeats: only the holder, through the state machine, with outbox
events for real moves."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import sqlalchemy as sa

from tests.integration.workerfacing_api.conftest import WorkerAPI
from workerfacing_api.db.models import Attempt, utcnow
from workerfacing_api.services import leases


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
        "queued",
        "pulled",
        "preprocessing",
        "running",
        "postprocessing",
        "finished",
    ]
    [attempt] = api.attempts(1)
    assert (attempt.outcome, attempt.ended_at is not None) == ("finished", True)
    row = api.row(1)
    assert (row.status, row.terminal_reason, row.lease_expires_at) == (
        "finished",
        "exit_code: 0",
        None,
    )
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


def test_an_illegal_move_is_409_and_changes_nothing(api: WorkerAPI, held: dict[str, str]) -> None:
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


@pytest.mark.parametrize(
    ("username", "worker_id"),
    [
        pytest.param("worker-b", None, id="another-account"),
        pytest.param("worker-a", "proc-2", id="another-process"),
    ],
)
def test_only_the_holder_may_report(
    api: WorkerAPI, held: dict[str, str], username: str, worker_id: str | None
) -> None:
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
    assert api.client.get("/jobs/1/status", headers=held).status_code == 404  # not held
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


def test_after_its_error_decodes_worker_may_still_upload_and_add_the_log(
    api: WorkerAPI, held: dict[str, str]
) -> None:
    """DECODE's worker: `error` when the container fails, then `postprocessing`, the
    uploads, and `error` again with the last 1000 characters of the log."""
    api.put_status(1, "running", held)
    assert api.put_status(1, "error", held, details="exit code 3").status_code == 204
    assert api.put_status(1, "postprocessing", held).status_code == 204
    assert api.row(1).status == "error"  # nothing changes
    upload = api.client.post(
        "/jobs/1/files/upload",
        params={"type": "log", "base_path": "log"},
        headers=held,
        files={"file": ("job.log", io.BytesIO(b"trace"))},
    )
    assert upload.status_code == 201, upload.text
    assert api.put_status(1, "error", held, details="Traceback: boom").status_code == 204
    assert api.outbox(1)[-2:] == [(1, "error", "exit code 3"), (1, "error", "Traceback: boom")]
    # nobody else, and not after the grace period
    other = api.headers("someone-else")
    assert api.put_status(1, "postprocessing", other).status_code == 404
    with api.ctx.sessions() as session:
        session.execute(
            sa.update(Attempt).values(
                ended_at=utcnow() - leases.ERROR_GRACE - dt.timedelta(seconds=1)
            )
        )
        session.commit()
    assert api.put_status(1, "postprocessing", held).status_code == 404


@pytest.mark.parametrize("ending", ["finished", "canceled"])
def test_reports_after_other_endings_get_404(
    api: WorkerAPI, held: dict[str, str], ending: str
) -> None:
    api.put_status(1, "running", held)
    if ending == "finished":
        api.put_status(1, "finished", held)
    else:
        api.cancel(1)
    assert api.put_status(1, "postprocessing", held).status_code == 404
    assert (
        api.client.post("/jobs/1/files/url", params={"type": "log"}, headers=held).status_code
        == 404
    )


def test_a_stale_attempt_of_the_same_worker_is_fenced_off(api: WorkerAPI) -> None:
    api.submit(2)
    worker = api.headers("solo")
    first = api.pull(worker)[2]
    assert first["meta"]["extra"]["attempt"] == 1
    api.put_status(2, "running", {**worker, "X-Labcloud-Attempt": "1"})
    # the lease runs out, and the same worker (alone here) gets the job again
    api.sweep(utcnow() + dt.timedelta(seconds=api.ctx.settings.lease_timeout + 1))
    again = api.pull(worker)[2]
    assert again["meta"]["extra"]["attempt"] == 2
    stale = {**worker, "X-Labcloud-Attempt": "1"}
    assert api.put_status(2, "running", stale).status_code == 404
    assert (
        api.client.post("/jobs/2/files/url", params={"type": "log"}, headers=stale).status_code
        == 404
    )
    assert api.put_status(2, "running", {**worker, "X-Labcloud-Attempt": "2"}).status_code == 204


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        pytest.param({}, 401, id="no-token"),
        pytest.param({"Authorization": "Bearer not-a-jwt"}, 401, id="bad-token"),
        pytest.param({"Authorization": "Basic abc"}, 401, id="not-bearer"),
    ],
)
def test_worker_routes_need_a_valid_token(
    api: WorkerAPI, headers: dict[str, str], code: int
) -> None:
    assert api.client.get("/jobs", params={"memory": 1}, headers=headers).status_code == code
    assert (
        api.client.put("/jobs/1/status", params={"status": "running"}, headers=headers).status_code
        == code
    )


def test_worker_routes_need_the_workers_group(api: WorkerAPI) -> None:
    user = api.headers("alice", ("users",))
    assert api.client.get("/jobs", params={"memory": 1}, headers=user).status_code == 403


def test_malformed_worker_id_is_400(api: WorkerAPI) -> None:
    headers = api.headers(worker_id="bad id/with slash")
    assert api.client.get("/jobs", params={"memory": 1}, headers=headers).status_code == 400
