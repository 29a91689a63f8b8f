"""The lease sweeper: lost jobs go back to the queue (to another worker if possible) and
fail for good once out of attempts."""

from __future__ import annotations

import datetime as dt
import threading
import time

from tests.integration.workerfacing_api.conftest import MakeAPI, WorkerAPI
from workerfacing_api.db.models import utcnow
from workerfacing_api.pollers import sweeper


def later(seconds: float) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)


def sweep(api: WorkerAPI, seconds: float) -> sweeper.SweepReport:
    """A sweep as if `seconds` had passed."""
    return api.sweep(later(seconds))


def test_a_live_lease_is_left_alone(api: WorkerAPI) -> None:
    api.submit(1)
    worker = api.headers("a")
    api.pull(worker)
    api.put_status(1, "running", worker)
    report = sweep(api, api.ctx.settings.lease_timeout - 5)
    assert (report.requeued, report.failed) == ([], [])
    assert api.row(1).status == "running"


def test_an_expired_lease_is_requeued_and_the_old_holder_is_told_to_stop(
    api: WorkerAPI,
) -> None:
    api.submit(1)
    a = api.headers("a")
    api.pull(a)
    api.put_status(1, "running", a)
    report = sweep(api, api.ctx.settings.lease_timeout + 1)
    assert report.requeued == [1]
    row = api.row(1)
    assert (row.status, row.worker_id, row.attempt, row.lease_expires_at) == (
        "queued",
        None,
        1,
        None,
    )
    assert api.outbox(1)[-1] == (
        1,
        "queued",
        "lease expired on worker a, requeued (attempt 2 of 3)",
    )
    assert api.attempts(1)[0].outcome == "expired"
    # The stale holder's late heartbeat is refused: it must kill its container.
    assert api.put_status(1, "running", a).status_code == 404
    # A second sweep finds nothing to do.
    assert sweep(api, api.ctx.settings.lease_timeout + 2).requeued == []


def test_a_requeued_job_goes_to_another_worker_first(api: WorkerAPI) -> None:
    api.submit(1)
    api.submit(2)
    api.age(1, 60)  # job 1 is the older one
    a, b = api.headers("a"), api.headers("b")
    assert list(api.pull(a)) == [1]
    sweep(api, api.ctx.settings.lease_timeout + 1)
    # a tried job 1 already: it gets the younger job 2, and b gets job 1.
    assert list(api.pull(a)) == [2]
    assert list(api.pull(b)) == [1]
    row = api.row(1)
    assert (row.attempt, row.worker_id, row.tried_workers) == (2, "b", ["a", "b"])
    assert [(x.number, x.worker_id) for x in api.attempts(1)] == [(1, "a"), (2, "b")]


def test_a_requeued_job_goes_back_to_the_same_worker_if_no_one_else_asks(
    api: WorkerAPI,
) -> None:
    api.submit(1)
    a = api.headers("a")
    api.pull(a)
    sweep(api, api.ctx.settings.lease_timeout + 1)
    assert list(api.pull(a)) == [1]
    assert api.row(1).attempt == 2


def test_out_of_attempts_the_job_ends_in_error(make_api: MakeAPI) -> None:
    api = make_api(max_retries=1)
    api.submit(1)
    for n, worker in enumerate(("a", "b"), start=1):
        assert list(api.pull(api.headers(worker))) == [1]
        report = sweep(api, api.ctx.settings.lease_timeout * n + 1)
    assert report.failed == [1]
    state = api.describe(1)
    assert (state["status"], state["attempt"]) == ("error", 2)
    assert state["terminal_reason"] == "lost: max retries reached (lease expired on worker b)"
    assert api.outbox(1)[-1] == (
        1,
        "error",
        "lost: max retries reached (lease expired on worker b)",
    )
    assert api.pull(api.headers("c")) == {}
    assert [x.outcome for x in api.attempts(1)] == ["expired", "expired"]


def test_heartbeats_keep_the_lease(api: WorkerAPI) -> None:
    api.submit(1)
    a = api.headers("a")
    api.pull(a)
    first_lease = api.row(1).lease_expires_at
    assert first_lease is not None
    time.sleep(1.1)
    api.put_status(1, "running", a)  # heartbeat: the lease now runs from here
    # Past the pull's lease but within the heartbeat's: left alone.
    not_yet = first_lease + dt.timedelta(seconds=0.5)
    assert api.sweep(not_yet).requeued == []
    assert api.row(1).status == "running"
    beyond = first_lease + dt.timedelta(seconds=2)
    assert api.sweep(beyond).requeued == [1]


def test_a_repeated_status_extends_both_leases_and_records_nothing(api: WorkerAPI) -> None:
    api.submit(1)
    a = api.headers("a")
    api.pull(a)
    assert api.put_status(1, "running", a).status_code == 204
    events = api.outbox()
    moved = api.row(1)
    before = (moved.lease_expires_at, api.attempts(1)[0].lease_expires_at)
    time.sleep(0.05)
    for _ in range(3):
        assert api.put_status(1, "running", a).status_code == 204
    row, attempt = api.row(1), api.attempts(1)[0]
    assert row.lease_expires_at is not None and row.lease_expires_at > before[0]
    assert attempt.lease_expires_at == row.lease_expires_at > before[1]
    assert (row.status, row.status_changed_at) == ("running", moved.status_changed_at)
    assert api.outbox() == events  # heartbeats are not events
    # Someone else, or the holder repeating a status the job is not in, is not a heartbeat.
    assert api.put_status(1, "running", api.headers("b")).status_code == 404
    assert api.put_status(1, "pulled", a).status_code == 409
    assert api.row(1).lease_expires_at == row.lease_expires_at


def test_concurrent_sweeps_requeue_each_job_once(api: WorkerAPI) -> None:
    for job_id in range(1, 21):
        api.submit(job_id)
    api.pull(api.headers("a"), limit=20)
    now = later(api.ctx.settings.lease_timeout + 1)
    reports: list[sweeper.SweepReport] = []

    def run() -> None:
        reports.append(api.sweep(now))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    requeued = sorted(j for r in reports for j in r.requeued)
    assert requeued == list(range(1, 21))
    assert [s for _, s, _ in api.outbox()].count("queued") == 20 + 20


def test_decodes_worker_gets_decodes_longer_lease(make_api: MakeAPI) -> None:
    """DECODE's worker (no X-Worker-Id) sends nothing while it transfers files."""
    api = make_api(decode_lease_timeout=300)
    api.submit(1)
    api.submit(2)
    decode = api.headers("decode-worker")  # no X-Worker-Id
    labcloud = {**api.headers("lc-worker"), "X-Worker-Id": "p1"}
    assert list(api.pull(decode)) == [1]
    assert list(api.pull(labcloud)) == [2]
    settings = api.ctx.settings
    report = sweep(api, settings.lease_timeout + 1)
    assert report.requeued == [2]  # labcloud's lease ran out, DECODE's did not
    assert sweep(api, settings.decode_lease_timeout + 1).requeued == [1]
