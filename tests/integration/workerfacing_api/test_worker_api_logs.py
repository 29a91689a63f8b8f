"""Live logs at the worker API: `POST /jobs/{id}/log` from the holder, fenced by the
attempt, idempotent on the offset, bounded, and queued for the user API (coalesced)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from httpx import Response

from tests.integration.workerfacing_api.conftest import WorkerAPI
from workerfacing_api.db.models import StatusOutbox, utcnow
from workerfacing_api.services.live_logs import MAX_TAIL_CHARS, Tail, read_tail


def post_log(
    api: WorkerAPI, job_id: int, offset: int, text: str, headers: dict[str, str]
) -> Response:
    return api.client.post(
        f"/jobs/{job_id}/log", json={"offset": offset, "text": text}, headers=headers
    )


def tail(api: WorkerAPI, job_id: int, attempt: int = 1) -> Tail | None:
    with api.ctx.sessions() as session:
        return read_tail(session, job_id, attempt)


def log_events(api: WorkerAPI, job_id: int) -> list[StatusOutbox]:
    with api.ctx.sessions() as session:
        return list(
            session.scalars(
                sa.select(StatusOutbox)
                .where(StatusOutbox.job_id == job_id, StatusOutbox.kind == "log")
                .order_by(StatusOutbox.id)
            )
        )


def leased(api: WorkerAPI, job_id: int, worker: str = "a") -> dict[str, str]:
    headers = api.headers(worker, worker_id="w1")
    api.submit(job_id)
    [spec] = api.pull(headers).values()
    assert api.put_status(job_id, "running", headers).status_code == 204
    return {**headers, "X-Labcloud-Attempt": str(spec["meta"]["extra"]["attempt"])}


def test_chunks_make_the_attempts_tail_and_a_repeat_is_not_appended(api: WorkerAPI) -> None:
    worker = leased(api, 1)
    assert post_log(api, 1, 0, "line 1\n", worker).status_code == 204
    assert post_log(api, 1, 7, "line 2\n", worker).status_code == 204
    assert post_log(api, 1, 7, "line 2\n", worker).status_code == 204  # a retried chunk
    assert post_log(api, 1, 0, "line 1\nline 2\nline 3\n", worker).status_code == 204
    assert tail(api, 1) == Tail("line 1\nline 2\nline 3\n", 21, False)
    # One pending row stands for all three changes.
    [event] = log_events(api, 1)
    assert (event.attempt, event.status, event.delivered_at) == (1, "running", None)


def test_only_the_holder_of_the_current_attempt_may_send(api: WorkerAPI) -> None:
    worker = leased(api, 1)
    other = {**api.headers("b", worker_id="w2"), "X-Labcloud-Attempt": "1"}
    assert post_log(api, 1, 0, "not mine\n", other).status_code == 404
    stale = {**worker, "X-Labcloud-Attempt": "7"}
    assert post_log(api, 1, 0, "old lease\n", stale).status_code == 404
    assert post_log(api, 999, 0, "no such job\n", worker).status_code == 404
    api.submit(2)  # queued, nobody holds it
    assert post_log(api, 2, 0, "queued\n", worker).status_code == 404
    assert tail(api, 1) is None and log_events(api, 1) == []


def test_a_requeued_job_fences_off_its_old_attempt(api: WorkerAPI) -> None:
    worker = leased(api, 1)
    assert post_log(api, 1, 0, "first try\n", worker).status_code == 204
    api.sweep(utcnow() + dt.timedelta(seconds=3600))  # the lease ran out: requeued
    second = api.headers("b", worker_id="w2")
    api.pull(second)
    second = {**second, "X-Labcloud-Attempt": "2"}
    assert post_log(api, 1, 10, "more of the first\n", worker).status_code == 404
    assert post_log(api, 1, 0, "second try\n", second).status_code == 204
    assert tail(api, 1, attempt=1) == Tail("first try\n", 10, False)
    assert tail(api, 1, attempt=2) == Tail("second try\n", 11, False)
    assert [e.attempt for e in log_events(api, 1)] == [1, 2]


def test_the_tail_keeps_the_latest_64_kib(api: WorkerAPI) -> None:
    worker = leased(api, 1)
    block = "x" * 40_000 + "\n"
    for i in range(3):
        assert post_log(api, 1, i * len(block), block, worker).status_code == 204
    kept = tail(api, 1)
    assert kept is not None
    assert len(kept.text) == MAX_TAIL_CHARS and kept.truncated and kept.end == 3 * len(block)
    too_big = post_log(api, 1, kept.end, "y" * (MAX_TAIL_CHARS + 1), worker)
    assert too_big.status_code == 422
    assert post_log(api, 1, -1, "negative\n", worker).status_code == 422


def test_after_its_own_error_the_holder_may_still_send_the_last_lines(api: WorkerAPI) -> None:
    worker = leased(api, 1)
    assert api.put_status(1, "error", worker, details="exit code 1").status_code == 204
    assert post_log(api, 1, 0, "Traceback ...\n", worker).status_code == 204
    assert tail(api, 1) == Tail("Traceback ...\n", 14, False)


def test_decode_s_worker_never_sends_logs_and_works_as_before(api: WorkerAPI) -> None:
    decode = api.headers("decode")  # no X-Worker-Id, no attempt header
    api.submit(1)
    assert 1 in api.pull(decode)
    for status in ("preprocessing", "running", "postprocessing", "finished"):
        assert api.put_status(1, status, decode).status_code == 204
    assert log_events(api, 1) == []
    assert api.describe(1)["status"] == "finished"
