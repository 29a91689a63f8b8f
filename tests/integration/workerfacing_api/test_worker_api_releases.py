"""Hand-backs (`POST /jobs/{id}/release`): a stopping worker's job is queued again at
once, costs no attempt and does not count as tried by that worker; a lost run counts."""

from __future__ import annotations

import datetime as dt

from tests.integration.workerfacing_api.conftest import WorkerAPI
from workerfacing_api.db.models import utcnow


def expire(api: WorkerAPI) -> list[int]:
    """A sweep once the lease has run out; the jobs it requeued."""
    later = utcnow() + dt.timedelta(seconds=api.ctx.settings.lease_timeout + 1)
    return api.sweep(later).requeued


def release(api: WorkerAPI, job_id: int, headers: dict[str, str], **params: str) -> int:
    return api.client.post(f"/jobs/{job_id}/release", headers=headers, params=params).status_code


def test_a_released_job_is_requeued_at_once(api: WorkerAPI) -> None:
    api.submit(1)
    a, b = api.headers("a"), api.headers("b")
    api.pull(a)
    api.put_status(1, "running", a)
    assert api.client.post("/jobs/1/release", headers=b).status_code == 404  # not b's
    assert api.client.post("/jobs/1/release", headers=a).status_code == 204
    row = api.row(1)
    assert (row.status, row.worker_id) == ("queued", None)
    assert api.outbox(1)[-1] == (1, "queued", "released by worker a, requeued")
    assert api.attempts(1)[0].outcome == "released"
    assert api.put_status(1, "running", a).status_code == 404  # a must stop
    assert list(api.pull(b)) == [1]


def test_hand_backs_cost_no_attempt_and_the_stale_run_is_fenced_off(api: WorkerAPI) -> None:
    api.submit(1)
    a = {**api.headers("a"), "X-Worker-Id": "w"}
    for n in (1, 2, 3):  # three Ctrl-Cs, each mid-job
        assert list(api.pull(a)) == [1]
        assert api.put_status(1, "running", a).status_code == 204
        assert release(api, 1, {**a, "X-Labcloud-Attempt": str(n)}) == 204
    assert [t.outcome for t in api.attempts(1)] == ["released"] * 3
    assert list(api.pull(a)) == [1]
    assert api.row(1).attempt == 4  # every lease has its own number,
    stale = {**a, "X-Labcloud-Attempt": "3"}
    assert api.put_status(1, "running", stale).status_code == 404  # so a stale run is refused
    # The whole budget is left: 1 + MAX_RETRIES (2) attempts that count.
    assert expire(api) == [1]
    assert api.outbox(1)[-1][2] == "lease expired on worker a/w, requeued (attempt 2 of 3)"
    assert list(api.pull(a)) == [1]
    assert expire(api) == [1]
    assert api.outbox(1)[-1][2] == "lease expired on worker a/w, requeued (attempt 3 of 3)"
    assert list(api.pull(a)) == [1]
    assert expire(api) == []
    assert api.row(1).status == "error"
    assert api.row(1).terminal_reason.startswith("lost: max retries reached")


def test_a_hand_back_does_not_count_as_tried_by_that_worker(api: WorkerAPI) -> None:
    api.submit(1)
    api.submit(2)
    api.age(1, 60)
    a = api.headers("a")
    assert list(api.pull(a)) == [1]
    assert release(api, 1, a) == 204
    assert api.row(1).tried_workers == []
    # Still the oldest job it has not tried: the stopping worker's own job comes first
    # when it starts again (a job it had tried would go after the others).
    assert list(api.pull(a)) == [1]


def test_a_worker_that_had_tried_the_job_before_still_counts_as_having_tried_it(
    api: WorkerAPI,
) -> None:
    api.submit(1)
    a = api.headers("a")
    assert list(api.pull(a)) == [1]
    assert expire(api) == [1]  # a lost it once: that attempt counted
    assert list(api.pull(a)) == [1]
    assert release(api, 1, a) == 204
    assert api.row(1).tried_workers == ["a"]
    api.submit(2)
    assert list(api.pull(a)) == [2]  # an untried job first
    assert list(api.pull(a)) == [1]


def test_a_lost_run_counts_and_ends_the_job_once_out_of_attempts(api: WorkerAPI) -> None:
    api.submit(1)
    a = api.headers("a")
    for n in (1, 2):
        assert list(api.pull(a)) == [1]
        assert release(api, 1, a, failed="true") == 204
        expected = f"run lost on worker a, requeued (attempt {n + 1} of 3)"
        assert api.outbox(1)[-1] == (1, "queued", expected)
        assert api.row(1).tried_workers == ["a"]
    assert list(api.pull(a)) == [1]
    assert release(api, 1, a, failed="true") == 204
    assert api.outbox(1)[-1] == (1, "error", "lost: max retries reached (run lost on worker a)")
    row = api.row(1)
    assert (row.status, row.terminal_reason) == ("error", api.outbox(1)[-1][2])
    assert [t.outcome for t in api.attempts(1)] == ["lost"] * 3
    assert api.pull(a) == {}
