"""The status relay against a small real HTTP server on loopback standing in for the
user API's `PUT /_job_statuses` and `PUT /_job_status` (and `PUT /_job_log`): content,
per-job order, backoff, "deleted there", batches, and live logs (coalesced, latest
tail, never holding statuses back)."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response

from tests.integration.workerfacing_api.conftest import API_KEY, MakeAPI, WorkerAPI, submission_of
from workerfacing_api.db.models import StatusOutbox, utcnow
from workerfacing_api.pollers import relay


def event(job_id: int, status: str, details: str | None, **extra: object) -> dict[str, object]:
    """A status event as the relay sends it, for a job of `job_payload`."""
    body = {"job_id": job_id, "status": status, "runtime_details": details}
    return {**body, "submission_id": str(submission_of(job_id)), **extra}


@dataclass
class StubUserAPI:
    """Records every status event sent (one by one or in batches) and every request's
    path; fails the first `fail_next` events (500, or `failed` in a batch), fails every
    event of the jobs in `failing`, and answers "job not found" (404, or `gone`) for the
    jobs in `deleted`. Without `takes_batches`, an older user API (no batch route)."""

    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)  # every event sent
    accepted: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # the path of every request
    fail_next: int = 0
    failing: set[int] = field(default_factory=set)
    deleted: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    logs: list[dict[str, Any]] = field(default_factory=list)  # accepted `PUT /_job_log`
    takes_logs: bool = True  # False: an older user API, without the route
    takes_batches: bool = True  # False: an older user API, without `/_job_statuses`
    batch_delay: float = 0.0  # seconds a batch stays in flight
    max_batch: int | None = None  # a bigger batch gets 413, as over MAX_REQUEST_BYTES
    on_log: Callable[[dict[str, Any]], object] | None = None  # runs while a log call is open

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.accepted.clear()
            self.requests.clear()
            self.fail_next = 0
            self.failing.clear()
            self.deleted.clear()
            self.logs.clear()
            self.takes_logs = True
            self.takes_batches = True
            self.batch_delay = 0.0
            self.max_batch = None
            self.on_log = None

    def _take(self, body: dict[str, Any]) -> str:
        """One status event: `applied`, `failed` or `gone` (under the lock)."""
        self.calls.append(body)
        if self.fail_next > 0 or body["job_id"] in self.failing:
            self.fail_next = max(self.fail_next - 1, 0)
            return "failed"
        if body["job_id"] in self.deleted:
            return "gone"
        self.accepted.append(body)
        return "applied"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def count(request: Request, call_next: Any) -> Response:
            with self.lock:
                self.requests.append(request.url.path)
            response: Response = await call_next(request)
            return response

        @app.put("/_job_status")
        async def job_status(
            request: Request, x_api_key: str | None = Header(default=None)
        ) -> Response:
            body = await request.json()
            with self.lock:
                if x_api_key != API_KEY:
                    self.calls.append(body)
                    return JSONResponse({"detail": "unauthorized"}, status_code=401)
                outcome = self._take(body)
            if outcome == "failed":
                return JSONResponse({"detail": "down for a moment"}, status_code=500)
            if outcome == "gone":
                return JSONResponse({"detail": "job not found"}, status_code=404)
            return Response(status_code=204)

        @app.put("/_job_statuses")
        def job_statuses(
            body: dict[str, Any], x_api_key: str | None = Header(default=None)
        ) -> Response:
            if not self.takes_batches:
                return JSONResponse({"detail": "Not Found"}, status_code=404)
            if x_api_key != API_KEY:
                return JSONResponse({"detail": "unauthorized"}, status_code=401)
            if self.max_batch is not None and len(body["events"]) > self.max_batch:
                detail = "the request body is too large (MAX_REQUEST_BYTES)"
                return JSONResponse({"detail": detail}, status_code=413)
            time.sleep(self.batch_delay)
            with self.lock:
                outcomes = [self._take(event) for event in body["events"]]
            details = {"applied": None, "failed": "down for a moment", "gone": "job not found"}
            results = [{"outcome": o, "detail": details[o]} for o in outcomes]
            return JSONResponse({"results": results})

        @app.put("/_job_log")
        def job_log(body: dict[str, Any]) -> Response:
            if not self.takes_logs:
                return JSONResponse({"detail": "Not Found"}, status_code=404)
            if self.on_log is not None:
                self.on_log(body)
            with self.lock:
                if body["job_id"] in self.deleted:
                    return JSONResponse({"detail": "job not found"}, status_code=404)
                self.logs.append(body)
            return Response(status_code=204)

        return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def stub_server() -> Iterator[StubUserAPI]:
    stub = StubUserAPI()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(stub.app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "stub user API did not start"
        time.sleep(0.02)
    stub.url = f"http://127.0.0.1:{port}"
    yield stub
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def stub(stub_server: StubUserAPI) -> StubUserAPI:
    stub_server.reset()
    return stub_server


@pytest.fixture
def client(stub: StubUserAPI) -> Iterator[httpx.Client]:
    with relay.make_client(stub.url, API_KEY) as http:
        yield http


def in_seconds(seconds: float) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)


def run_job(api: WorkerAPI, job_id: int, *statuses: str) -> None:
    worker = api.headers("a")
    api.submit(job_id)
    assert job_id in api.pull(worker)
    for status in statuses:
        assert api.put_status(job_id, status, worker, details=f"{status}!").status_code == 204


def test_events_are_delivered_in_order_with_their_details(
    api: WorkerAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    run_job(api, 1, "preprocessing", "running", "finished")
    report = relay.run_once(api.ctx.sessions, client)
    assert report.delivered == 5
    assert stub.accepted == [
        event(1, "queued", None),
        event(1, "pulled", "pulled by worker a (attempt 1)"),
        event(1, "preprocessing", "preprocessing!"),
        event(1, "running", "running!"),
        event(1, "finished", "finished!"),
    ]
    assert relay.run_once(api.ctx.sessions, client).delivered == 0  # nothing twice
    assert len(stub.calls) == 5


def test_a_failing_event_holds_back_the_later_ones_of_its_job(
    api: WorkerAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    run_job(api, 1, "running")
    stub.fail_next = 2
    first = relay.run_once(api.ctx.sessions, client)
    assert (first.delivered, first.failed) == (0, 1)
    assert [c["status"] for c in stub.calls] == ["queued"]  # pulled was not tried
    # Backing off: an immediate round does not call at all.
    assert relay.run_once(api.ctx.sessions, client) == relay.RelayReport()
    assert len(stub.calls) == 1
    second = relay.run_once(api.ctx.sessions, client, now=in_seconds(1.5))
    assert (second.delivered, second.failed) == (0, 1)
    # The second failure doubled the delay: 1.5 s later is still too early.
    assert relay.run_once(api.ctx.sessions, client, now=in_seconds(3)) == relay.RelayReport()
    third = relay.run_once(api.ctx.sessions, client, now=in_seconds(10))
    assert third.delivered == 3
    assert [c["status"] for c in stub.calls] == ["queued", "queued", "queued", "pulled", "running"]
    assert [a["status"] for a in stub.accepted] == ["queued", "pulled", "running"]


def test_jobs_are_independent(api: WorkerAPI, stub: StubUserAPI, client: httpx.Client) -> None:
    api.submit(1)
    api.submit(2)
    stub.fail_next = 1  # job 1's first event fails
    report = relay.run_once(api.ctx.sessions, client)
    assert (report.failed, report.delivered) == (1, 1)
    assert stub.accepted == [event(2, "queued", None)]


def test_job_deleted_at_the_user_api_is_cancelled_here(
    api: WorkerAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    run_job(api, 5, "running")
    stub.deleted.add(5)
    report = relay.run_once(api.ctx.sessions, client)
    assert report.gone == 3
    state = api.describe(5)
    assert (state["status"], state["terminal_reason"]) == ("canceled", "deleted by the user")
    assert api.put_status(5, "running", api.headers("a")).status_code == 404
    # Delivered (nothing left to send), and no cancel event is sent to a job that is gone.
    assert relay.run_once(api.ctx.sessions, client) == relay.RelayReport()
    assert len(stub.calls) == 3


def test_a_404_from_a_wrong_url_is_a_failure_not_a_deletion(
    api: WorkerAPI, stub: StubUserAPI
) -> None:
    run_job(api, 1)
    with relay.make_client(stub.url + "/not-the-user-api", API_KEY) as wrong:
        report = relay.run_once(api.ctx.sessions, wrong)
    assert (report.failed, report.gone) == (1, 0)
    assert api.describe(1)["status"] == "pulled"


def test_an_unreachable_user_api_is_retried(api: WorkerAPI, stub: StubUserAPI) -> None:
    api.submit(1)
    with relay.make_client(f"http://127.0.0.1:{_free_port()}", API_KEY) as nowhere:
        assert relay.run_once(api.ctx.sessions, nowhere).failed == 1
    with relay.make_client(stub.url, API_KEY) as http:
        assert relay.run_once(api.ctx.sessions, http, now=in_seconds(2)).delivered == 1


def test_the_background_relay_delivers_within_moments(make_api: MakeAPI, stub: StubUserAPI) -> None:
    # A relay period of a minute: only the after-commit wakeup can make this quick.
    api = make_api(run_background=True, userfacing_api_url=stub.url, status_relay_period=60)
    time.sleep(0.2)  # let the first (empty) round pass
    api.submit(1)
    deadline = time.monotonic() + 3
    while not stub.accepted and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stub.accepted == [event(1, "queued", None)]


def test_an_operator_requeue_is_marked_for_the_user_api(
    api: WorkerAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    run_job(api, 1, "running", "error")
    assert api.requeue(1).json() == {"requeued": True, "status": "queued"}
    assert relay.run_once(api.ctx.sessions, client).delivered == 5
    assert stub.accepted[-2:] == [
        event(1, "error", "error!"),
        event(1, "queued", "requeued by an operator", operator_requeue=True),
    ]
    # Only that event carries the marker; a later requeue by the sweeper does not.
    assert [("operator_requeue" in body) for body in stub.accepted] == [False] * 4 + [True]


def test_every_error_reaches_the_user_api_with_its_reason(
    make_api: MakeAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    api = make_api(max_retries=0, lease_timeout=10_000, running_grace=0)
    run_job(api, 1, "running", "error")  # with details
    worker = api.headers("a")
    api.submit(2)
    api.pull(worker)
    api.put_status(2, "error", worker)  # without
    api.submit(3, timeout=5)
    api.pull(worker)
    api.put_status(3, "running", worker)
    assert api.sweep(in_seconds(6)).failed == [3]  # past its time limit
    relay.run_once(api.ctx.sessions, client, now=in_seconds(7))  # the sweep's event is due
    errors = {b["job_id"]: b["runtime_details"] for b in stub.accepted if b["status"] == "error"}
    assert errors[1] == "error!"
    assert errors[2] == "error reported by worker a"
    assert errors[3].startswith("timeout: still running ")
    for job_id, details in errors.items():
        assert api.describe(job_id)["terminal_reason"] == details


def send_log(api: WorkerAPI, job_id: int, offset: int, text: str) -> None:
    """A chunk from the holder of `run_job`'s lease."""
    response = api.client.post(
        f"/jobs/{job_id}/log", json={"offset": offset, "text": text}, headers=api.headers("a")
    )
    assert response.status_code == 204, response.text


def test_a_live_log_goes_once_with_the_latest_tail_in_its_place(
    api: WorkerAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    run_job(api, 1, "running")
    for i in range(3):
        send_log(api, 1, i * 2, f"{i}\n")
    api.put_status(1, "finished", api.headers("a"))
    report = relay.run_once(api.ctx.sessions, client)
    assert report.delivered == 5  # queued, pulled, running, the log (once), finished
    assert stub.logs == [
        {
            "job_id": 1,
            "attempt": 1,
            "log": "0\n1\n2\n",
            "truncated": False,
            "end": 6,
            "submission_id": str(submission_of(1)),
        }
    ]
    assert [b["status"] for b in stub.accepted] == ["queued", "pulled", "running", "finished"]
    late = api.client.post(
        "/jobs/1/log", json={"offset": 6, "text": "late\n"}, headers=api.headers("a")
    )
    assert late.status_code == 404  # the job has finished: nobody holds it any more
    assert relay.run_once(api.ctx.sessions, client) == relay.RelayReport()


def test_one_outbox_row_per_attempt_however_long_the_job(
    api: WorkerAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    run_job(api, 1, "running")
    offset = 0
    for i in range(5):
        send_log(api, 1, offset, f"round {i}\n")
        offset += len(f"round {i}\n")
        relay.run_once(api.ctx.sessions, client)
    assert [b["end"] for b in stub.logs] == [8, 16, 24, 32, 40]
    assert stub.logs[-1]["log"].endswith("round 3\nround 4\n")
    assert [status for _, status, _ in api.outbox(1)] == ["queued", "pulled", "running", "running"]


def test_a_tail_that_grew_while_in_flight_goes_again_before_later_events(
    api: WorkerAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    run_job(api, 1, "running")
    send_log(api, 1, 0, "a\n")
    # The next chunk lands while the relay is sending the first tail.
    stub.on_log = lambda body: body["end"] == 2 and send_log(api, 1, 2, "b\n")
    api.put_status(1, "postprocessing", api.headers("a"))
    relay.run_once(api.ctx.sessions, client)
    assert [b["log"] for b in stub.logs] == ["a\n"]
    assert [b["status"] for b in stub.accepted][-1] == "running"  # postprocessing waits
    relay.run_once(api.ctx.sessions, client)
    assert [b["log"] for b in stub.logs] == ["a\n", "a\nb\n"]
    assert [b["status"] for b in stub.accepted][-1] == "postprocessing"


def test_a_user_api_without_live_logs_drops_them_and_gets_its_statuses(
    api: WorkerAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    stub.takes_logs = False
    run_job(api, 1, "running")
    send_log(api, 1, 0, "a\n")
    api.put_status(1, "finished", api.headers("a"))
    report = relay.run_once(api.ctx.sessions, client)
    assert (report.delivered, report.failed) == (5, 0)
    assert [b["status"] for b in stub.accepted][-1] == "finished"
    assert relay.run_once(api.ctx.sessions, client) == relay.RelayReport()


def test_a_log_for_a_job_deleted_at_the_user_api_cancels_it(
    api: WorkerAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    run_job(api, 1, "running")
    relay.run_once(api.ctx.sessions, client)
    send_log(api, 1, 0, "a\n")
    stub.deleted.add(1)
    assert relay.run_once(api.ctx.sessions, client).gone == 1
    assert api.describe(1)["status"] == "canceled"


# Batches: at most one event per job per request, in order across rounds.


def outbox_row(api: WorkerAPI, job_id: int) -> StatusOutbox:
    """The first pending event of job `job_id`."""
    with api.ctx.sessions() as session:
        row = session.scalars(
            sa.select(StatusOutbox)
            .where(StatusOutbox.job_id == job_id, StatusOutbox.delivered_at.is_(None))
            .order_by(StatusOutbox.id)
        ).first()
        assert row is not None
        session.expunge(row)
        return row


def by_job(bodies: list[dict[str, Any]]) -> dict[int, list[str]]:
    statuses: dict[int, list[str]] = {}
    for body in bodies:
        statuses.setdefault(body["job_id"], []).append(body["status"])
    return statuses


def test_the_events_of_many_jobs_go_in_one_request(
    api: WorkerAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    for job_id in range(1, 41):
        api.submit(job_id)
    report = relay.run_once(api.ctx.sessions, client)
    assert report.delivered == 40
    assert stub.requests == ["/_job_statuses"]
    assert sorted(b["job_id"] for b in stub.accepted) == list(range(1, 41))
    assert relay.run_once(api.ctx.sessions, client) == relay.RelayReport()
    assert stub.requests == ["/_job_statuses"]  # nothing due: no request at all


def test_a_jobs_events_go_in_order_one_per_round(
    api: WorkerAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    steps = ("preprocessing", "running", "postprocessing", "finished")
    run_job(api, 1, *steps)  # 6 events
    run_job(api, 2, "running")  # 3 events
    api.submit(3)  # 1 event
    report = relay.run_once(api.ctx.sessions, client)
    assert report.delivered == 10
    assert stub.requests == ["/_job_statuses"] * 6  # one round per event of the longest job
    assert by_job(stub.accepted) == {
        1: ["queued", "pulled", *steps],
        2: ["queued", "pulled", "running"],
        3: ["queued"],
    }
    assert stub.accepted[-1]["runtime_details"] == "finished!"


def test_a_failing_event_in_a_batch_backs_off_its_own_job_only(
    api: WorkerAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    for job_id in (1, 2, 3):
        run_job(api, job_id, "running")
    stub.failing = {2}
    report = relay.run_once(api.ctx.sessions, client)
    assert (report.delivered, report.failed) == (6, 1)
    assert by_job(stub.accepted) == {1: ["queued", "pulled", "running"]} | {
        3: ["queued", "pulled", "running"]
    }
    assert [b["status"] for b in stub.calls if b["job_id"] == 2] == ["queued"]  # tried once
    held = outbox_row(api, 2)
    assert (held.status, held.attempts) == ("queued", 1)
    assert "down for a moment" in (held.last_error or "")
    assert held.next_attempt_at > utcnow()  # backing off
    stub.failing.clear()
    assert relay.run_once(api.ctx.sessions, client).delivered == 0  # still backing off
    assert relay.run_once(api.ctx.sessions, client, now=in_seconds(2)).delivered == 3
    assert by_job(stub.accepted)[2] == ["queued", "pulled", "running"]


def test_a_job_gone_in_a_batch_is_cancelled_and_the_others_go_on(
    api: WorkerAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    run_job(api, 1, "running")
    run_job(api, 2, "running")
    stub.deleted.add(1)
    report = relay.run_once(api.ctx.sessions, client)
    assert (report.gone, report.delivered) == (3, 3)
    assert stub.requests == ["/_job_statuses"] * 3
    state = api.describe(1)
    assert (state["status"], state["terminal_reason"]) == ("canceled", "deleted by the user")
    assert api.describe(2)["status"] == "running"
    assert relay.run_once(api.ctx.sessions, client) == relay.RelayReport()


def test_an_older_user_api_gets_the_events_one_by_one(
    api: WorkerAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    stub.takes_batches = False
    run_job(api, 1, "running")
    run_job(api, 2, "running")
    report = relay.run_once(api.ctx.sessions, client)
    assert report.delivered == 6
    assert by_job(stub.accepted) == {1: ["queued", "pulled", "running"]} | {
        2: ["queued", "pulled", "running"]
    }
    # One try of the batch route, then one by one for a while, without trying it again.
    assert stub.requests == ["/_job_statuses"] + ["/_job_status"] * 6
    api.submit(3)
    assert relay.run_once(api.ctx.sessions, client).delivered == 1
    assert stub.requests[-1] == "/_job_status" and stub.requests.count("/_job_statuses") == 1


def test_a_batch_over_the_user_apis_body_limit_goes_one_by_one(
    api: WorkerAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    stub.max_batch = 2
    for job_id in (1, 2, 3):
        api.submit(job_id)
    report = relay.run_once(api.ctx.sessions, client)
    assert (report.delivered, report.failed) == (3, 0)
    assert stub.requests == ["/_job_statuses"] + ["/_job_status"] * 3
    assert sorted(b["job_id"] for b in stub.accepted) == [1, 2, 3]


def test_two_relays_claim_disjoint_events(
    api: WorkerAPI, stub: StubUserAPI, client: httpx.Client
) -> None:
    for job_id in (1, 2, 3):
        api.submit(job_id)
    sessions = api.ctx.sessions
    now = utcnow()
    with sessions() as session:
        heads = relay._due_heads(session, 10, now, set())
    # Relay A claimed jobs 1 and 2 between relay B's read and B's claim: B gets job 3 only.
    assert [c.event.job_id for c in relay._claim(sessions, heads[:2], now, now)] == [1, 2]
    assert [c.event.job_id for c in relay._claim(sessions, heads, now, now)] == [3]
    assert relay._claim(sessions, heads, now, now) == []


def test_concurrent_relays_never_send_an_event_twice(api: WorkerAPI, stub: StubUserAPI) -> None:
    for job_id in range(1, 21):
        run_job(api, job_id, "running")
    stub.batch_delay = 0.05  # batches in flight overlap
    reports: list[relay.RelayReport] = []

    def one_relay() -> None:
        with relay.make_client(stub.url, API_KEY) as http:
            reports.append(relay.run_once(api.ctx.sessions, http))

    threads = [threading.Thread(target=one_relay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(r.delivered for r in reports) == 60 and sum(r.failed for r in reports) == 0
    sent = [(b["job_id"], b["status"]) for b in stub.calls]
    assert len(sent) == len(set(sent)) == 60  # every event sent once
    assert by_job(stub.accepted) == {j: ["queued", "pulled", "running"] for j in range(1, 21)}
