"""The SDK follows a job's log over a real HTTP connection (Server-Sent Events from a
small local server speaking the user API's log-stream contract), and resumes a
stream that breaks off where it stopped (Last-Event-ID)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from labcloud.client import Client, LogEvent, NotFoundError
from labcloud.client.config import CredentialStore
from tests.support.http_server import serve_in_thread

JOB = {
    "id": 5,
    "job_name": "j",
    "status": "running",
    "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
    "date_created": "2024-01-01T00:00:00",
    "paths_out": {"output": "output/j", "log": "log/j", "artifact": "artifact/j"},
}


def sse(event: str, data: str, id_: str | None = None) -> bytes:
    lines = [f"event: {event}", f"data: {data}"] + ([f"id: {id_}"] if id_ else [])
    return ("\n".join(lines) + "\n\n").encode()


def make_app(connections: list[str | None]) -> Starlette:
    async def stream(request: Request) -> StreamingResponse | JSONResponse:
        if request.path_params["job_id"] != "5":
            return JSONResponse({"detail": "job not found"}, status_code=404)
        assert request.headers["authorization"] == "Bearer tok"
        resume = request.headers.get("last-event-id")
        connections.append(resume)

        async def body() -> AsyncIterator[bytes]:
            if resume is None:
                yield sse("status", '{"status": "running"}')
                yield b": keep-alive\n\n"
                yield sse("log", '{"text": "line 1\\n"}', "7")
                yield sse("log", '{"text": "line 2\\n"}', "14")
                # ... and the connection ends without `end`
            else:
                assert resume == "14"
                yield sse("log", '{"text": "line 3\\n"}', "21")
                yield sse("status", '{"status": "finished"}')
                yield sse("end", '{"status": "finished"}')

        return StreamingResponse(body(), media_type="text/event-stream")

    async def job(request: Request) -> JSONResponse:
        return JSONResponse(JOB)

    return Starlette(
        routes=[
            Route("/jobs/{job_id}/logs/stream", stream),
            Route("/jobs/{job_id}", job),
        ]
    )


def test_follow_resumes_a_broken_stream(tmp_path: Path) -> None:
    connections: list[str | None] = []
    with serve_in_thread(make_app(connections)) as url:
        lc = Client(url, "tok", store=CredentialStore(tmp_path / "c.json"))
        events = list(lc.jobs.follow(5))
    assert events == [
        LogEvent("status", status="running"),
        LogEvent("log", text="line 1\n"),
        LogEvent("log", text="line 2\n"),
        LogEvent("log", text="line 3\n"),
        LogEvent("status", status="finished"),
        LogEvent("end", status="finished"),
    ]
    assert connections == [None, "14"]


def test_follow_an_unknown_job(tmp_path: Path) -> None:
    with serve_in_thread(make_app([])) as url:
        lc = Client(url, "tok", store=CredentialStore(tmp_path / "c.json"))
        with pytest.raises(NotFoundError, match="job not found"):
            list(lc.jobs.follow(6))
