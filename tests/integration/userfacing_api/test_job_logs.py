"""Live logs and status history at the user API: the internal `PUT /_job_log` (monotonic,
a retry's tail replacing the old one), `GET /jobs/{id}/logs`, `GET /jobs/{id}/statuses`,
and the Server-Sent Events stream over a real server on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.integration.userfacing_api.conftest import API_KEY, Login
from tests.integration.userfacing_api.test_job_status import new_job, report
from tests.support.http_server import serve_in_thread
from tests.support.sse import Event, Follower, first_events, parse
from userfacing_api.main import create_app
from userfacing_api.services import live_logs
from userfacing_api.settings import UserAPISettings

KEY = {"x-api-key": API_KEY}


def relay_log(client: TestClient, job_id: int, attempt: int, text: str, end: int, **extra):  # type: ignore[no-untyped-def]
    body = {"job_id": job_id, "attempt": attempt, "log": text, "end": end, **extra}
    return client.put("/_job_log", headers=KEY, json=body)


def test_the_latest_tail_is_served_and_older_ones_change_nothing(
    client: TestClient, alice: dict
) -> None:
    job_id = new_job(client, alice)
    assert client.get(f"/jobs/{job_id}/logs", headers=alice).json() == {
        "job_id": job_id,
        "status": "queued",
        "log": "",
        "truncated": False,
    }
    report(client, job_id, "running")
    assert relay_log(client, job_id, 1, "a\n", 2).headers["x-labcloud-applied"] == "true"
    assert relay_log(client, job_id, 1, "a\nb\n", 4).headers["x-labcloud-applied"] == "true"
    for stale in ((1, "a\n", 2), (1, "a\nb\n", 4)):  # late and duplicate deliveries
        assert relay_log(client, job_id, *stale).headers["x-labcloud-applied"] == "false"
    assert client.get(f"/jobs/{job_id}/logs", headers=alice).json() == {
        "job_id": job_id,
        "status": "running",
        "log": "a\nb\n",
        "truncated": False,
    }
    # A retry's tail replaces the previous attempt's, even though it is shorter.
    assert relay_log(client, job_id, 2, "again\n", 6, truncated=True).status_code == 204
    assert relay_log(client, job_id, 1, "a\nb\nc\n", 6).headers["x-labcloud-applied"] == "false"
    body = client.get(f"/jobs/{job_id}/logs", headers=alice).json()
    assert (body["log"], body["truncated"]) == ("again\n", True)


def test_the_internal_log_endpoint_wants_the_key_and_a_known_job(client: TestClient) -> None:
    body = {"job_id": 424242, "attempt": 1, "log": "x", "end": 1}
    assert client.put("/_job_log", headers=KEY, json=body).status_code == 404
    assert client.put("/_job_log", json=body).status_code == 401
    too_long = {**body, "log": "x" * (64 * 1024 + 1)}
    assert client.put("/_job_log", headers=KEY, json=too_long).status_code == 422


def test_logs_statuses_and_stream_are_the_owner_s_alone(
    client: TestClient, alice: dict, login: Login
) -> None:
    job_id = new_job(client, alice)
    relay_log(client, job_id, 1, "secret\n", 7)
    bob = login("bob@example.org")
    for path in ("logs", "statuses", "logs/stream"):
        assert client.get(f"/jobs/{job_id}/{path}", headers=bob).status_code == 404
        assert client.get(f"/jobs/999999/{path}", headers=alice).status_code == 404
        assert client.get(f"/jobs/{job_id}/{path}").status_code == 401


def test_the_status_history_lists_the_applied_changes_in_order(
    client: TestClient, alice: dict
) -> None:
    job_id = new_job(client, alice)
    report(client, job_id, "queued")  # the worker API confirms: not a change
    report(client, job_id, "pulled", "pulled by worker a (attempt 1)")
    report(client, job_id, "running")
    report(client, job_id, "pulled")  # late: refused, not listed
    report(client, job_id, "running")  # duplicate: not applied
    report(client, job_id, "postprocessing")
    report(client, job_id, "error", "exit code 2")
    history = client.get(f"/jobs/{job_id}/statuses", headers=alice).json()
    assert [(h["status"], h["runtime_details"]) for h in history] == [
        ("queued", None),
        ("pulled", "pulled by worker a (attempt 1)"),
        ("running", None),
        ("postprocessing", None),
        ("error", "exit code 2"),
    ]
    times = [h["time"] for h in history]
    assert times == sorted(times)
    created = client.get(f"/jobs/{job_id}", headers=alice).json()["date_created"]
    assert times[0] == created


def test_deleting_a_job_deletes_its_log(client: TestClient, alice: dict) -> None:
    job_id = new_job(client, alice)
    relay_log(client, job_id, 1, "bye\n", 4)
    assert client.delete(f"/jobs/{job_id}", headers=alice).status_code == 204
    assert relay_log(client, job_id, 1, "more\n", 9).status_code == 404
    with client.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        assert session.get(live_logs.JobLog, job_id) is None


# --- the stream, over a real server ----------------------------------------------------


@pytest.fixture
def server(settings: UserAPISettings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(live_logs, "STREAM_POLL_S", 0.05)
    app = create_app(settings, run_background=False)
    with serve_in_thread(app) as url:
        yield url
    app.state.ctx.engine.dispose()


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


def test_the_stream_follows_a_running_job_until_it_ends(
    client: TestClient, alice: dict, http: httpx.Client, server: str
) -> None:
    job_id = new_job(client, alice)
    stream = Follower(http, f"/jobs/{job_id}/logs/stream", headers=alice)
    assert stream.status_code == 200
    assert stream.headers is not None
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.until("status") == [
        Event("log", {"text": ""}),
        Event("status", {"status": "queued"}),
    ]
    report(client, job_id, "pulled")
    report(client, job_id, "running")
    while (event := stream.next()) != Event("status", {"status": "running"}):
        assert event == Event("status", {"status": "pulled"})
    relay_log(client, job_id, 1, "line 1\n", 7)
    assert stream.next() == Event("log", {"text": "line 1\n"}, "1-7")
    # While it waits, the stream holds no database connection.
    time.sleep(0.2)
    engine = client.app.state.ctx.engine  # type: ignore[attr-defined]
    assert engine.pool.checkedout() == 0
    relay_log(client, job_id, 1, "line 1\nline 2\n", 14)
    assert stream.until("log")[-1] == Event("log", {"text": "line 2\n"}, "1-14")
    report(client, job_id, "postprocessing")
    relay_log(client, job_id, 1, "line 1\nline 2\nlast\n", 19)
    report(client, job_id, "finished")
    rest = stream.until("end")
    assert Event("log", {"text": "last\n"}, "1-19") in rest
    assert rest[-1] == Event("end", {"status": "finished"})
    assert stream.next() is None and stream.ended()


def test_the_stream_of_an_ended_job_gives_its_tail_and_ends(
    client: TestClient, alice: dict, http: httpx.Client
) -> None:
    job_id = new_job(client, alice)
    relay_log(client, job_id, 1, "boom\n", 5)
    report(client, job_id, "error", "exit code 1")
    stream = Follower(http, f"/jobs/{job_id}/logs/stream", headers=alice)
    assert stream.until("end") == [
        Event("log", {"text": "boom\n"}, "1-5"),
        Event("end", {"status": "error"}),
    ]
    assert stream.ended()


def test_a_reconnect_resumes_after_the_last_event_it_saw(
    client: TestClient, alice: dict, http: httpx.Client
) -> None:
    job_id = new_job(client, alice)
    report(client, job_id, "running")
    relay_log(client, job_id, 1, "a\nb\n", 4)
    headers = {**alice, "Last-Event-ID": "1-2"}
    with http.stream("GET", f"/jobs/{job_id}/logs/stream", headers=headers) as response:
        events = parse(response.iter_lines())
        assert first_events(events, "log") == [Event("log", {"text": "b\n"}, "1-4")]


def test_the_stream_stops_when_the_client_goes(
    client: TestClient, alice: dict, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    real = live_logs._snapshot

    def counting(sessions, job_id):  # type: ignore[no-untyped-def]
        reads.append(job_id)
        return real(sessions, job_id)

    monkeypatch.setattr(live_logs, "_snapshot", counting)
    job_id = new_job(client, alice)
    report(client, job_id, "running")
    with http.stream("GET", f"/jobs/{job_id}/logs/stream", headers=alice) as response:
        events = parse(response.iter_lines())
        first_events(events, "status")
        time.sleep(0.3)
        assert len(reads) > 2  # following
    del events  # the client goes away
    time.sleep(0.3)  # the server notices
    settled = len(reads)
    time.sleep(0.5)
    assert len(reads) == settled, "the server still reads for a client that went away"


def test_an_idle_stream_is_kept_alive(
    client: TestClient, alice: dict, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fastapi.routing

    monkeypatch.setattr(fastapi.routing, "_PING_INTERVAL", 0.1)  # 15 s in earnest
    job_id = new_job(client, alice)
    with http.stream("GET", f"/jobs/{job_id}/logs/stream", headers=alice) as response:
        items = parse(response.iter_lines())
        first_events(items, "status")
        assert next(items) == ": ping"


def test_the_stream_ends_without_end_when_the_job_is_deleted(
    client: TestClient, alice: dict, http: httpx.Client
) -> None:
    job_id = new_job(client, alice)
    stream = Follower(http, f"/jobs/{job_id}/logs/stream", headers=alice)
    stream.until("status")
    assert client.delete(f"/jobs/{job_id}", headers=alice).status_code == 204
    assert stream.next() is None and stream.ended()
