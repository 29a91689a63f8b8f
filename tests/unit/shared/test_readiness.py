"""The readiness machinery: probes run side by side within a timeout, a hanging probe
is not started twice, answers are reused for a moment, failures are named safely."""

from __future__ import annotations

import threading

from botocore.exceptions import ClientError
from fastapi import FastAPI, Response

from shared.health import HttpUnavailable, ReadinessProbe, failure_kind, http_probe, report
from tests.support.http_server import serve_in_thread


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_all_probes_pass_or_each_failure_is_named() -> None:
    def broken() -> None:
        raise ConnectionRefusedError("secret-host:5432 refused")

    readiness = ReadinessProbe({"database": lambda: None, "storage": broken}).check()
    assert not readiness.ready
    assert report(readiness) == {
        "status": "not ready",
        "checks": {
            "database": {"ok": True, "error": None},
            "storage": {"ok": False, "error": "ConnectionRefusedError"},
        },
    }


def test_a_hanging_probe_times_out_and_is_not_started_again() -> None:
    release, calls = threading.Event(), []

    def hangs() -> None:
        calls.append(1)
        release.wait(10)

    probe = ReadinessProbe({"database": hangs}, timeout_s=0.05, cache_s=0)
    try:
        for _ in range(3):
            check = probe.check().checks["database"]
            assert check == check.__class__(False, "timed out after 0.05 s")
        assert len(calls) == 1  # the later checks waited on the same run
    finally:
        release.set()


def test_an_answer_is_reused_until_it_is_older_than_the_cache() -> None:
    clock, calls = Clock(), []
    probe = ReadinessProbe({"db": lambda: calls.append(1)}, cache_s=2.0, clock=clock)
    probe.check()
    clock.now += 1.9
    probe.check()
    assert len(calls) == 1
    clock.now += 0.2
    probe.check()
    assert len(calls) == 2
    probe.expire()
    probe.check()
    assert len(calls) == 3


def test_failure_kinds_carry_no_message_text() -> None:
    error = ClientError({"Error": {"Code": "NoSuchBucket", "Message": "bucket x"}}, "ListObjects")
    assert failure_kind(error) == "NoSuchBucket"
    assert failure_kind(HttpUnavailable("HTTP 503")) == "HTTP 503"
    assert failure_kind(ValueError("password=hunter2")) == "ValueError"


def test_http_probe_counts_any_answer_below_500() -> None:
    app = FastAPI()

    @app.get("/ok")
    def ok() -> Response:
        return Response(status_code=200)

    @app.get("/busy")
    def busy() -> Response:
        return Response(status_code=503)

    with serve_in_thread(app) as url:
        checks = ReadinessProbe(
            {
                "ok": http_probe(f"{url}/ok"),
                "older-server": http_probe(f"{url}/no-such-route"),  # 404: it answers
                "not-ready": http_probe(f"{url}/busy"),
                "gone": http_probe("http://127.0.0.1:1/healthz"),
            }
        ).check().checks
    assert checks["ok"].ok and checks["older-server"].ok
    assert checks["not-ready"].error == "HTTP 503"
    assert checks["gone"].error == "ConnectError"
