"""Per-state time limits, enforced by the sweeper whatever the heartbeats say: staging
(`pulled`/`preprocessing`) and uploading (`postprocessing`) too long → requeued like a
lost lease; `running` past the job's timeout plus the grace → `error`, final."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from tests.integration.workerfacing_api.conftest import MakeAPI, WorkerAPI
from workerfacing_api.db.models import utcnow

# Short limits and a long lease, so that a lease never runs out in these tests unless
# one says so: what moves the job is the time limit.
LIMITS = {"staging_time_limit": 100, "upload_time_limit": 200, "running_grace": 30}
LONG_LEASE = 10_000


@pytest.fixture
def api(make_api: MakeAPI) -> WorkerAPI:
    return make_api(lease_timeout=LONG_LEASE, **LIMITS)


def later(seconds: float) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)


def hold(api: WorkerAPI, job_id: int, *statuses: str, worker: str = "a") -> dict[str, str]:
    """Job `job_id`, leased to `worker` and walked through `statuses`."""
    headers = api.headers(worker)
    assert job_id in api.pull(headers)
    for status in statuses:
        assert api.put_status(job_id, status, headers).status_code == 204
    return headers


def seconds_in_state(api: WorkerAPI, job_id: int, at: dt.datetime) -> int:
    return int((at - api.row(job_id).status_changed_at).total_seconds())


def test_the_timeout_is_taken_from_the_spec(api: WorkerAPI) -> None:
    api.submit(1, timeout=600)
    api.submit(2)
    assert (api.row(1).timeout_s, api.row(2).timeout_s) == (600, None)


def test_status_changed_at_moves_with_the_status_not_with_heartbeats(api: WorkerAPI) -> None:
    api.submit(1)
    submitted = api.row(1).status_changed_at
    a = hold(api, 1)
    pulled = api.row(1).status_changed_at
    assert pulled >= submitted
    api.put_status(1, "running", a)
    running = api.row(1)
    assert running.status_changed_at >= pulled
    for _ in range(3):
        assert api.put_status(1, "running", a).status_code == 204  # heartbeats
    row = api.row(1)
    assert row.status_changed_at == running.status_changed_at
    assert row.updated_at >= running.updated_at
    api.put_status(1, "finished", a)
    assert api.row(1).status_changed_at >= row.status_changed_at


@pytest.mark.parametrize("status", ["pulled", "preprocessing"])
def test_staging_too_long_is_requeued_even_while_heartbeating(api: WorkerAPI, status: str) -> None:
    api.submit(1)
    a = hold(api, 1, *(["preprocessing"] if status == "preprocessing" else []))
    assert api.put_status(1, status, a).status_code == 204  # a heartbeat: the lease is fine
    assert api.sweep(later(LIMITS["staging_time_limit"] - 5)).requeued == []
    at = later(LIMITS["staging_time_limit"] + 1)
    n = seconds_in_state(api, 1, at)
    report = api.sweep(at)
    assert (report.requeued, report.failed) == ([1], [])
    row = api.row(1)
    assert (row.status, row.worker_id, row.attempt, row.lease_expires_at) == (
        "queued",
        None,
        1,
        None,
    )
    assert row.status_changed_at == at
    assert api.outbox(1)[-1] == (
        1,
        "queued",
        f"stuck in {status} for {n} s on worker a, requeued (attempt 2 of 3)",
    )
    assert api.attempts(1)[0].outcome == "stuck"
    assert api.put_status(1, status, a).status_code == 404  # the old holder must stop
    assert list(api.pull(api.headers("b"))) == [1]  # someone else gets it
    assert api.row(1).attempt == 2


def test_uploading_too_long_is_requeued(api: WorkerAPI) -> None:
    api.submit(1)
    a = hold(api, 1, "running", "postprocessing")
    # Past the staging limit, but not postprocessing's own.
    assert api.sweep(later(LIMITS["upload_time_limit"] - 5)).requeued == []
    at = later(LIMITS["upload_time_limit"] + 1)
    n = seconds_in_state(api, 1, at)
    assert api.sweep(at).requeued == [1]
    assert api.outbox(1)[-1] == (
        1,
        "queued",
        f"stuck in postprocessing for {n} s on worker a, requeued (attempt 2 of 3)",
    )
    assert api.put_status(1, "postprocessing", a).status_code == 404


def test_running_has_no_limit_of_its_own(api: WorkerAPI) -> None:
    api.submit(1)  # no timeout in the spec
    hold(api, 1, "running")
    report = api.sweep(later(LONG_LEASE - 5))
    assert (report.requeued, report.failed) == ([], [])
    assert api.row(1).status == "running"


def test_a_stuck_job_uses_up_its_attempts_like_a_lost_one(make_api: MakeAPI) -> None:
    api = make_api(lease_timeout=LONG_LEASE, max_retries=0, **LIMITS)
    api.submit(1)
    hold(api, 1, "running", "postprocessing")
    at = later(LIMITS["upload_time_limit"] + 1)
    n = seconds_in_state(api, 1, at)
    assert api.sweep(at).failed == [1]
    reason = f"lost: max retries reached (stuck in postprocessing for {n} s on worker a)"
    state = api.describe(1)
    assert (state["status"], state["terminal_reason"]) == ("error", reason)
    assert api.outbox(1)[-1] == (1, "error", reason)


def test_running_past_the_timeout_and_grace_ends_in_error_for_good(api: WorkerAPI) -> None:
    api.submit(1, timeout=600)
    a = hold(api, 1, "preprocessing", "running")
    grace = LIMITS["running_grace"]
    assert api.put_status(1, "running", a).status_code == 204
    report = api.sweep(later(600 + grace - 5))
    assert (report.requeued, report.failed) == ([], [])
    assert api.row(1).status == "running"
    at = later(600 + grace + 1)
    n = seconds_in_state(api, 1, at)
    report = api.sweep(at)
    assert (report.requeued, report.failed) == ([], [1])
    reason = f"timeout: still running {n - 600} s after its 600 s limit"
    assert n - 600 > grace
    state = api.describe(1)
    assert (state["status"], state["attempt"], state["terminal_reason"]) == ("error", 1, reason)
    assert api.outbox(1)[-1] == (1, "error", reason)
    assert api.attempts(1)[0].outcome == "timeout"
    # Final, whatever attempts are left, and its holder is told to stop at once.
    assert api.put_status(1, "running", a).status_code == 404
    assert (
        api.client.post("/jobs/1/files/url", params={"type": "log"}, headers=a).status_code == 404
    )
    assert api.pull(api.headers("b")) == {}


def test_the_cause_that_fell_due_first_decides(make_api: MakeAPI) -> None:
    # The lease (60 s) runs out long before the staging limit (100 s): "lease expired".
    api = make_api(lease_timeout=60, **LIMITS)
    api.submit(1)
    hold(api, 1, "preprocessing")
    api.sweep(later(LIMITS["staging_time_limit"] + 1))
    assert api.outbox(1)[-1] == (
        1,
        "queued",
        "lease expired on worker a, requeued (attempt 2 of 3)",
    )
    assert api.attempts(1)[0].outcome == "expired"


def test_a_job_lost_while_running_is_requeued_even_if_found_after_its_timeout(
    make_api: MakeAPI,
) -> None:
    # Its lease ran out (60 s) before its time did (100 s + 30 s grace): the worker
    # vanished, the job did not overrun.
    api = make_api(lease_timeout=60, **LIMITS)
    api.submit(1, timeout=100)
    a = hold(api, 1)
    api.put_status(1, "running", a)
    assert api.sweep(later(100 + LIMITS["running_grace"] + 5)).requeued == [1]
    assert api.outbox(1)[-1][2] == "lease expired on worker a, requeued (attempt 2 of 3)"


def test_concurrent_sweeps_act_on_each_overdue_job_once(api: WorkerAPI) -> None:
    for job_id in range(1, 31):
        api.submit(job_id, timeout=5 if job_id > 20 else None)
    a = api.headers("a")
    api.pull(a, limit=30)
    for job_id in range(11, 31):
        api.put_status(job_id, "running" if job_id > 20 else "postprocessing", a)
    at = later(max(LIMITS.values()) + 60)
    reports = []

    def run() -> None:
        reports.append(api.sweep(at))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    requeued = sorted(j for r in reports for j in r.requeued)
    failed = sorted(j for r in reports for j in r.failed)
    assert requeued == list(range(1, 21))  # stuck in pulled, or in postprocessing
    assert failed == list(range(21, 31))  # past their timeout
    events = [s for _, s, _ in api.outbox()]
    assert (events.count("queued"), events.count("error")) == (30 + 20, 10)
