"""A small but real HTTP server speaking the worker protocol, for worker tests.

A FastAPI app under uvicorn in a thread on a loopback port: ``POST /token``
(short-lived JWTs), ``GET /jobs`` from an in-memory queue, status updates,
file URLs with the FileHTTPRequest indirection (the upload asks for an extra
``key`` form field, as an S3 presigned POST does), ``POST /jobs/{id}/release`` and
``POST /jobs/{id}/log`` (live logs, idempotent on the offset, as the real server).
Like the real server it numbers each lease (``meta.extra["attempt"]``), answers
404 to a job call with a superseded ``X-Labcloud-Attempt``, and offers a job
only to a poll that lists its runner in ``runners`` (none listed: docker); asked
to, it holds an empty poll for its ``wait`` (long poll) and queues a released job
again.
Tests script faults: status codes to answer next, jobs that are "gone" (404).
"""

from __future__ import annotations

import copy
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

import jwt
import uvicorn
from fastapi import FastAPI, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

SECRET = "worker-protocol-fake-secret-0123456789"


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, list[str]]
    worker_id: str | None
    token: str | None
    attempt: str | None = None  # the X-Labcloud-Attempt header
    host: str = ""  # host:port the call went to


@dataclass
class FakeState:
    """Everything the fake server knows; tests read and script it directly."""

    token_lifetime_s: int = 3600
    users: dict[str, str] = field(default_factory=lambda: {"worker": "secret-pw"})
    queue: deque[tuple[str, dict[str, Any]]] = field(default_factory=deque)
    files: dict[str, bytes] = field(default_factory=dict)  # uri → content
    statuses: dict[str, list[tuple[str, str | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    uploads: dict[tuple[str, str, str, str], bytes] = field(default_factory=dict)
    upload_fields: list[dict[str, str]] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    supports_release: bool = True
    requeue_released: bool = False  # True: a released job is queued again, as the server does
    long_poll: bool = False  # True: an empty GET /jobs waits up to its `wait` for a job
    polls_in_flight: int = 0  # GET /jobs being answered (or held) now
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)  # job → spec as added
    logs: dict[str, str] = field(default_factory=lambda: defaultdict(str))  # job → output
    log_chunks: list[tuple[str, int, str]] = field(default_factory=list)  # (job, offset, text)
    supports_logs: bool = True  # False: an older server, without POST /jobs/{id}/log
    gone: set[str] = field(default_factory=set)
    gone_when: dict[str, str] = field(default_factory=dict)  # job → status that makes it gone
    attempts: dict[str, int] = field(default_factory=dict)  # job → current attempt
    send_attempts: bool = True  # False: an older server, specs carry no attempt
    match_runners: bool = True  # False: an older server, ignoring `runners`
    # Base URL of the file transfers handed out (e.g. another server, as S3 would
    # be); None: this server, with a relative upload URL.
    transfer_base: str | None = None
    valid_tokens: set[str] = field(default_factory=set)
    logins: int = 0
    calls: list[Call] = field(default_factory=list)
    # (method, path prefix) → status codes to answer before serving normally
    faults: dict[tuple[str, str], deque[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_job(self, job_id: str, spec: dict[str, Any]) -> None:
        with self.lock:
            self.specs[job_id] = spec
            self.queue.append((job_id, spec))

    def supersede(self, job_id: str) -> None:
        """Start a new attempt of the job, as a requeue after a lost lease would."""
        with self.lock:
            self.attempts[job_id] = self.attempts.get(job_id, 0) + 1

    def fail_next(self, method: str, path_prefix: str, *codes: int) -> None:
        self.faults[(method, path_prefix)] = deque(codes)

    def status_names(self, job_id: str) -> list[str]:
        with self.lock:
            return [s for s, _ in self.statuses.get(job_id, [])]

    def final(self, job_id: str) -> tuple[str, str | None] | None:
        with self.lock:
            for status, details in self.statuses.get(job_id, []):
                if status in ("finished", "error"):
                    return status, details
        return None


def create_app(state: FakeState) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def record_and_fault(request: Request, call_next: Any) -> Response:
        auth = request.headers.get("authorization", "")
        with state.lock:
            state.calls.append(
                Call(
                    request.method,
                    request.url.path,
                    {k: request.query_params.getlist(k) for k in request.query_params},
                    request.headers.get("x-worker-id"),
                    auth.removeprefix("Bearer ") or None,
                    request.headers.get("x-labcloud-attempt"),
                    request.url.netloc,
                )
            )
            for (method, prefix), codes in state.faults.items():
                if method == request.method and request.url.path.startswith(prefix) and codes:
                    return JSONResponse({"detail": "injected"}, status_code=codes.popleft())
        return await call_next(request)

    def authorize(request: Request) -> None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with state.lock:
            if token not in state.valid_tokens:
                raise HTTPException(401, "bad token")

    def job_call(request: Request, job_id: str) -> None:
        authorize(request)
        attempt = request.headers.get("x-labcloud-attempt")
        with state.lock:
            if job_id in state.gone:
                raise HTTPException(404, "job gone")
            current = state.attempts.get(job_id)
            if attempt is not None and current is not None and attempt != str(current):
                raise HTTPException(404, "attempt superseded")

    def transfer_base(request: Request) -> str:
        return (state.transfer_base or f"{request.base_url}").rstrip("/")

    @app.post("/token", status_code=201)
    def token(username: Annotated[str, Form()], password: Annotated[str, Form()]) -> dict:
        with state.lock:
            if state.users.get(username) != password:
                raise HTTPException(400, "wrong password")
            now = int(time.time())
            tok = jwt.encode(
                {
                    "sub": username,
                    "groups": ["workers"],
                    "iat": now,
                    "exp": now + state.token_lifetime_s,
                    "jti": uuid.uuid4().hex,
                },
                SECRET,
                algorithm="HS256",
            )
            state.valid_tokens.add(tok)
            state.logins += 1
        return {"id_token": tok, "expires_in": state.token_lifetime_s}

    @app.get("/jobs")
    def get_jobs(
        request: Request,
        memory: int,
        cpu_cores: int = 1,
        gpu_mem: int = 0,
        limit: int = 1,
        groups: Annotated[list[str] | None, Query()] = None,
        runners: Annotated[list[str] | None, Query()] = None,
        wait: float = 0,
    ) -> dict[str, Any]:
        authorize(request)
        deadline = time.monotonic() + (wait if state.long_poll else 0)
        with state.lock:
            state.polls_in_flight += 1
        try:
            while True:
                jobs = take(limit, cpu_cores, memory, runners)
                if jobs or time.monotonic() >= deadline:
                    return jobs
                time.sleep(0.02)
        finally:
            with state.lock:
                state.polls_in_flight -= 1

    def take(limit: int, cpu_cores: int, memory: int, runners: list[str] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with state.lock:
            for job_id, spec in list(state.queue):
                if len(out) >= limit:
                    break
                hw = spec.get("hardware") or {}
                runner = (spec.get("handler") or {}).get("runner", "docker")
                if state.match_runners and runner not in (runners or ["docker"]):
                    continue
                if (hw.get("cpu_cores") or 0) <= cpu_cores and (hw.get("memory") or 0) <= memory:
                    state.queue.remove((job_id, spec))
                    attempt = state.attempts[job_id] = state.attempts.get(job_id, 0) + 1
                    if state.send_attempts and isinstance(spec.get("meta"), dict):
                        spec = copy.deepcopy(spec)
                        spec["meta"].setdefault("extra", {})["attempt"] = attempt
                    out[job_id] = spec
        return out

    @app.put("/jobs/{job_id}/status", status_code=204)
    def put_status(
        request: Request, job_id: str, status: str, runtime_details: str | None = None
    ) -> None:
        job_call(request, job_id)
        with state.lock:
            state.statuses[job_id].append((status, runtime_details))
            if state.gone_when.get(job_id) == status:
                state.gone.add(job_id)

    @app.get("/jobs/{job_id}/status")
    def get_status(request: Request, job_id: str) -> str:
        job_call(request, job_id)
        with state.lock:
            history = state.statuses.get(job_id)
            return history[-1][0] if history else "pulled"

    @app.post("/jobs/{job_id}/release", status_code=204)
    def release(request: Request, job_id: str) -> None:
        job_call(request, job_id)
        with state.lock:
            if not state.supports_release:
                raise HTTPException(405, "not supported")
            state.released.append(job_id)
            if state.requeue_released:
                state.queue.append((job_id, state.specs[job_id]))

    @app.post("/jobs/{job_id}/log", status_code=204)
    async def post_log(request: Request, job_id: str) -> None:
        if not state.supports_logs:
            raise HTTPException(404, "Not Found")  # what a server without the route says
        job_call(request, job_id)
        body = await request.json()
        offset, text = body["offset"], body["text"]
        with state.lock:
            state.log_chunks.append((job_id, offset, text))
            have = len(state.logs[job_id])
            if offset > have:  # skipped output: keep the place with a marker
                state.logs[job_id] += "\0" * (offset - have)
                have = offset
            state.logs[job_id] += text[have - offset :]

    @app.get("/files/{file_id:path}/url")
    def file_url(request: Request, file_id: str) -> dict[str, Any]:
        authorize(request)
        with state.lock:
            if file_id not in state.files:
                raise HTTPException(404, "no such file")
        # From the raw path: an encoded `?` or `#` in the URI must stay encoded.
        raw = request.scope["raw_path"].decode("ascii")
        url = transfer_base(request) + raw.removesuffix("/url") + "/download"
        return {
            "method": "GET",
            "url": url,
            "data": {},
            "headers": {"authorization": request.headers["authorization"]},
        }

    @app.get("/files/{file_id:path}/download")
    def download(request: Request, file_id: str) -> Response:
        authorize(request)
        with state.lock:
            content = state.files.get(file_id)
        if content is None:
            raise HTTPException(404, "no such file")
        return Response(content, media_type="application/octet-stream")

    @app.post("/jobs/{job_id}/files/url", status_code=201)
    def upload_url(request: Request, job_id: str, type: str, base_path: str = "") -> dict:
        job_call(request, job_id)
        query = urlencode({"type": type, "base_path": base_path})
        url = f"/jobs/{job_id}/files/upload?{query}"
        if state.transfer_base is not None:
            url = state.transfer_base + url
        return {
            "method": "POST",
            "url": url,
            "data": {"key": f"{type}/{base_path}/"},
            "headers": {"authorization": request.headers["authorization"]},
        }

    @app.post("/jobs/{job_id}/files/upload", status_code=201)
    async def upload(
        request: Request,
        job_id: str,
        type: str,
        base_path: str,
        file: Annotated[UploadFile, File()],
        key: Annotated[str, Form()],
    ) -> dict:
        job_call(request, job_id)
        content = await file.read()
        with state.lock:
            state.uploads[(job_id, type, base_path, file.filename or "")] = content
            state.upload_fields.append({"key": key})
        return {"path": f"{base_path}/{file.filename}", "type": "file", "size": len(content)}

    return app


@contextmanager
def serve(state: FakeState | None = None) -> Iterator[tuple[str, FakeState]]:
    """Run the fake on a free loopback port; yields ``(base URL, state)``."""
    state = state or FakeState()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(state), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake worker API did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def job_spec(
    job_id: int,
    cmd: str,
    *,
    runner: str = "process",
    files_down: dict | None = None,
    files_up: dict | None = None,
    timeout: int | None = None,
    image: str | None = None,
    hardware: dict | None = None,
    env: dict | None = None,
) -> dict[str, Any]:
    """A JobSpecs payload as the worker API sends it."""
    return {
        "app": {"cmd": [cmd], "env": env or {}},
        "handler": {
            "image_url": image,
            "image_name": "demo",
            "image_version": "v1",
            "entrypoint": "run",
            "files_down": files_down or {},
            "files_up": files_up if files_up is not None else {"output": "output", "log": "log"},
            "runner": runner,
            "timeout": timeout,
            "gpus": 0,
        },
        "meta": {"job_id": job_id, "date_created": "2024-01-01T00:00:00Z"},
        "hardware": hardware or {},
    }
