"""The limits that live in the HTTP servers, over real HTTP on loopback: request bodies
(MAX_REQUEST_BYTES), request heads (MAX_REQUEST_HEADER_BYTES) and uploaded files
(MAX_UPLOAD_BYTES), on both APIs run as `labcloud user-api` / `labcloud worker-api`
processes and inside `labcloud up`; and `labcloud admin quotas` against a running API.

Each limit: just under passes, just over is refused with its status and a message naming
its setting, and nothing of the refused request was stored.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth.local import LocalTokens
from tests.integration.workerfacing_api.conftest import job_payload
from tests.support.processes import REPO, free_port, labcloud_process, wait_until_up

MAX_BODY = 8192
MAX_HEAD = 4096
MAX_FILE = 20_000
PASSWORD = "limits-test-42"
BOUNDARY = "labcloud-limits-boundary"


@dataclass
class APIs:
    tmp: Path
    user_url: str
    worker_url: str
    api_key: str
    token_secret: str

    @property
    def files(self) -> Path:
        return self.tmp / "files"

    def user(self, username: str) -> httpx.Client:
        http = httpx.Client(base_url=self.user_url, timeout=30)
        http.post("/user", data={"username": username, "password": PASSWORD})
        token = http.post("/token", data={"username": username, "password": PASSWORD})
        token.raise_for_status()
        http.headers["Authorization"] = f"Bearer {token.json()['id_token']}"
        return http

    def worker_headers(self, username: str = "worker-1") -> dict[str, str]:
        tokens = LocalTokens(self.token_secret, issuer="labcloud", audience="labcloud")
        return {"Authorization": f"Bearer {tokens.issue(username, None, ['workers'])}"}


def limit_env() -> dict[str, str]:
    return {
        "MAX_REQUEST_BYTES": str(MAX_BODY),
        "MAX_REQUEST_HEADER_BYTES": str(MAX_HEAD),
        "MAX_UPLOAD_BYTES": str(MAX_FILE),
    }


@pytest.fixture(scope="module")
def apis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIs]:
    """Both APIs as processes (SQLite), with small limits set through the environment."""
    tmp = tmp_path_factory.mktemp("limits")
    user_port, worker_port = free_port(), free_port()
    user_url, worker_url = f"http://127.0.0.1:{user_port}", f"http://127.0.0.1:{worker_port}"
    api_key, token_secret = "limits-key-" + uuid.uuid4().hex, "limits-secret-" + uuid.uuid4().hex
    common = {
        "AUTH": "1",
        "AUTH_TOKEN_SECRET": token_secret,
        "INTERNAL_API_KEY_SECRET": api_key,
        "USER_DATA_ROOT_PATH": str(tmp / "files"),
        "PYTHONUNBUFFERED": "1",
        **limit_env(),
    }
    user_env = {
        **common,
        "DATABASE_URL": f"sqlite:///{tmp / 'user.db'}",
        "WORKERFACING_API_URL": worker_url,
        "APPLICATION_CONFIG_FILE": str(REPO / "application_config.yaml"),
        "STORAGE_QUOTA_BYTES": str(10 * MAX_FILE),
        "OUTBOX_RELAY_PERIOD": "0.2",
    }
    worker_env = {
        **common,
        "DATABASE_URL": f"sqlite:///{tmp / 'worker.db'}",
        "USERFACING_API_URL": user_url,
    }
    with (
        labcloud_process(
            ["user-api", "--port", str(user_port), "--migrate", "--log-level", "warning"],
            user_env,
            tmp / "user-api.log",
            ready_url=user_url + "/",
        ),
        labcloud_process(
            ["worker-api", "--port", str(worker_port), "--migrate", "--log-level", "warning"],
            worker_env,
            tmp / "worker-api.log",
            ready_url=worker_url + "/",
        ),
    ):
        yield APIs(tmp, user_url, worker_url, api_key, token_secret)


# --- helpers ------------------------------------------------------------------


def padded(document: Any, size: int) -> bytes:
    """`document` as JSON, padded with spaces to exactly `size` bytes."""
    raw = json.dumps(document).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


def chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    """A body without Content-Length (httpx sends a generator chunked)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def exchange(url: str, data: bytes) -> bytes:
    """Send raw bytes to the server of `url` and read its answer until it closes or goes
    quiet (it answers a refused head at once, whatever was sent)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        sock.settimeout(2)
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
    return answer


def head_of(size: int, path: str = "/") -> bytes:
    """A complete GET head of exactly `size` bytes (a padding header fills it up)."""
    start = f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Padding: ".encode()
    head = start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"
    assert len(head) == size
    return head


def status_and_body(answer: bytes) -> tuple[int, dict[str, Any] | None]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def multipart(name: str, data: bytes) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
DEMO_JOB = {
    "job_name": "outputs",
    "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
}
LEASE = {"memory": 10**6, "cpu_cores": 64, "runners": "process"}


def stored_files(root: Path) -> list[str]:
    """Every file under the storage root, in-flight temp files included."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# --- MAX_REQUEST_BYTES ----------------------------------------------------------


def test_a_user_api_body_over_max_request_bytes_is_refused_and_changes_nothing(
    apis: APIs,
) -> None:
    http = apis.user("body@example.org")
    exact = http.put(
        "/user/preferences",
        content=padded({"notify_email": False}, MAX_BODY),
        headers={"content-type": "application/json"},
    )
    assert exact.status_code == 200, exact.text
    over = padded({"notify_email": True}, MAX_BODY + 1)
    for body in (over, chunks(over)):  # announced (Content-Length), and chunked
        refused = http.put(
            "/user/preferences", content=body, headers={"content-type": "application/json"}
        )
        assert refused.status_code == 413, refused.text
        assert refused.json()["detail"] == (
            "the request body is too large: at most 8192 bytes (8 KiB) (MAX_REQUEST_BYTES)"
        )
    assert http.get("/user/preferences").json() == {"notify_email": False}


def test_a_worker_api_body_over_max_request_bytes_is_refused_and_stores_no_job(
    apis: APIs,
) -> None:
    internal = {"x-api-key": apis.api_key, "content-type": "application/json"}
    with httpx.Client(base_url=apis.worker_url, timeout=30) as http:
        accepted = http.post("/_jobs", content=padded(job_payload(701), MAX_BODY), headers=internal)
        assert accepted.status_code == 201, accepted.text
        refused = http.post(
            "/_jobs", content=chunks(padded(job_payload(702), MAX_BODY + 1)), headers=internal
        )
        assert refused.status_code == 413
        assert "MAX_REQUEST_BYTES" in refused.json()["detail"]
        assert http.get("/_jobs/701", headers=internal).status_code == 200
        assert http.get("/_jobs/702", headers=internal).status_code == 404


# --- MAX_REQUEST_HEADER_BYTES ---------------------------------------------------


@pytest.mark.parametrize("api", ["user", "worker"])
def test_request_heads_over_max_request_header_bytes_get_431(apis: APIs, api: str) -> None:
    url = apis.user_url if api == "user" else apis.worker_url
    status, _ = status_and_body(exchange(url, head_of(MAX_HEAD)))
    assert status == 200
    message = (
        "the request line and headers are too large: at most 4096 bytes (4 KiB) "
        "(MAX_REQUEST_HEADER_BYTES)"
    )
    assert status_and_body(exchange(url, head_of(MAX_HEAD + 1))) == (431, {"detail": message})
    # a head that never ends is cut off once it passes the limit, not buffered on
    endless = b"GET / HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * (20 * MAX_HEAD)
    assert status_and_body(exchange(url, endless)) == (431, {"detail": message})


# --- MAX_UPLOAD_BYTES -----------------------------------------------------------


def test_a_user_upload_over_max_upload_bytes_is_refused_and_leaves_nothing(apis: APIs) -> None:
    http = apis.user("upload@example.org")
    ok = http.post("/files/data/up/upload", files={"file": ("exact.bin", os.urandom(MAX_FILE))})
    assert ok.status_code == 201, ok.text
    before = stored_files(apis.files)
    over = multipart("over.bin", os.urandom(MAX_FILE + 1))
    for body in (over, chunks(over, 4096)):  # announced, and chunked
        refused = http.post("/files/data/up/upload", content=body, headers=MULTIPART)
        assert refused.status_code == 413, refused.text
        assert refused.json()["detail"] == (
            "the file is too large: at most 20000 bytes (19.5 KiB) (MAX_UPLOAD_BYTES)"
        )
    assert stored_files(apis.files) == before
    listing = http.get("/files/data/up/").json()
    assert [f["path"] for f in listing] == ["data/up/exact.bin"]


def test_an_upload_announced_too_big_is_refused_before_its_body_is_sent(apis: APIs) -> None:
    http = apis.user("announced@example.org")
    token = http.headers["Authorization"]
    head = (
        f"POST /files/data/upload HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n"
        f"Content-Type: {MULTIPART['content-type']}\r\nContent-Length: {10 << 30}\r\n\r\n"
    ).encode()
    status, body = status_and_body(exchange(apis.user_url, head))  # no byte of the 10 GiB
    assert status == 413 and body is not None and "MAX_UPLOAD_BYTES" in body["detail"]


def test_a_worker_upload_over_max_upload_bytes_is_refused_and_leaves_nothing(
    apis: APIs,
) -> None:
    user = apis.user("outputs@example.org")
    submitted = user.post("/jobs", json=DEMO_JOB)
    assert submitted.status_code == 201, submitted.text
    job_id = submitted.json()["id"]
    worker = apis.worker_headers()
    url, params = f"/jobs/{job_id}/files/upload", {"type": "output"}
    with httpx.Client(base_url=apis.worker_url, timeout=30) as http:
        deadline = time.monotonic() + 30
        while not (leased := http.get("/jobs", params=LEASE, headers=worker).json()):
            assert time.monotonic() < deadline, "the job never reached the worker API"
            time.sleep(0.2)
        assert list(leased) == [str(job_id)]
        before = stored_files(apis.files)
        exact = http.post(
            url, params=params, headers=worker, files={"file": ("r.bin", b"x" * MAX_FILE)}
        )
        assert exact.status_code == 201, exact.text
        after = stored_files(apis.files)
        assert set(after) - set(before) == {"outputs@example.org/output/outputs/r.bin"}
        before = after

        over = multipart("big.bin", b"y" * (MAX_FILE + 1))
        headers = {**worker, **MULTIPART}
        refused = http.post(url, params=params, headers=headers, content=chunks(over))
        assert refused.status_code == 413 and "MAX_UPLOAD_BYTES" in refused.json()["detail"]
    announced = (
        f"POST {url}?type=output HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {worker['Authorization']}\r\nContent-Type: {MULTIPART['content-type']}"
        f"\r\nContent-Length: {1 << 40}\r\n\r\n"
    ).encode()
    status, body = status_and_body(exchange(apis.worker_url, announced))  # no body sent
    assert status == 413 and body is not None and "MAX_UPLOAD_BYTES" in body["detail"]
    assert stored_files(apis.files) == before


# --- labcloud admin quotas ------------------------------------------------------


def admin(apis: APIs, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "USERFACING_API_URL": apis.user_url, "INTERNAL_API_KEY_SECRET": ""}
    return subprocess.run(
        [sys.executable, "-m", "labcloud.cli", "admin", "quotas", *args, "--api-key", apis.api_key],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_labcloud_admin_quotas_sets_shows_and_removes_a_users_quota(apis: APIs) -> None:
    http = apis.user("quota-cli@example.org")
    assert http.get("/user").json()["storage_quota"] == 10 * MAX_FILE  # the default here

    done = admin(apis, "set", "1500", "--user", "quota-cli@example.org", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["quota_bytes"] == 1500
    assert admin(apis, "set", "2KiB", "--group", "users").returncode == 0
    assert http.get("/user").json()["storage_quota"] == 1500  # the user's own wins
    refused = http.post("/files/data/upload", files={"file": ("a.bin", b"z" * 1501)})
    assert refused.status_code == 507 and "STORAGE_QUOTA_BYTES" in refused.json()["detail"]
    assert http.get("/files/data/").json() == []

    shown = json.loads(admin(apis, "show", "quota-cli@example.org", "--json").stdout)
    assert shown == {
        "username": "quota-cli@example.org",
        "quota_bytes": 1500,
        "source": "user",
        "groups": ["users"],
        "used_bytes": 0,
    }
    listed = json.loads(admin(apis, "list", "--json").stdout)
    assert listed["default_bytes"] == 10 * MAX_FILE
    assert {(q["kind"], q["name"], q["quota_bytes"]) for q in listed["quotas"]} == {
        ("user", "quota-cli@example.org", 1500),
        ("group", "users", 2048),
    }

    assert admin(apis, "unset", "--user", "quota-cli@example.org").returncode == 0
    assert http.get("/user").json()["storage_quota"] == 2048  # the group's now
    assert admin(apis, "unset", "--group", "users").returncode == 0
    assert http.get("/user").json()["storage_quota"] == 10 * MAX_FILE
    again = admin(apis, "unset", "--group", "users")
    assert again.returncode == 1 and "no quota of its own" in again.stderr
    wrong_key = subprocess.run(
        [sys.executable, "-m", "labcloud.cli", "admin", "quotas", "list"],
        env={**os.environ, "USERFACING_API_URL": apis.user_url, "INTERNAL_API_KEY_SECRET": "x"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong_key.returncode == 3


# --- labcloud up ------------------------------------------------------------------


@contextlib.contextmanager
def embedded(tmp: Path, settings: dict[str, str]) -> Iterator[tuple[str, str, httpx.Client]]:
    """`labcloud up` with `settings` in its environment; yields both URLs and a client
    logged in as the demo user."""
    user_port, worker_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH", "DATABASE"))}
    log = tmp / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "labcloud.cli",
                "up",
                "--data-dir",
                str(tmp / "data"),
                "--user-port",
                str(user_port),
                "--worker-port",
                str(worker_port),
            ],
            cwd=REPO,
            env={**env, **settings},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while "labcloud is up" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        user_url = f"http://127.0.0.1:{user_port}"
        for url in (user_url, f"http://127.0.0.1:{worker_port}"):  # printed before it listens
            wait_until_up(url + "/", proc, log)
        password = json.loads((tmp / "data" / "secrets.json").read_text())["demo_password"]
        with httpx.Client(base_url=user_url, timeout=30) as http:
            token = http.post(
                "/token", data={"username": "demo@labcloud.local", "password": password}
            )
            http.headers["Authorization"] = f"Bearer {token.json()['id_token']}"
            yield user_url, f"http://127.0.0.1:{worker_port}", http
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_labcloud_up_applies_the_limits_set_in_the_environment(tmp_path: Path) -> None:
    settings = {
        **limit_env(),
        "STORAGE_QUOTA_BYTES": "50000",
        "MAX_QUEUED_JOBS_PER_USER": "1",
        "MAX_ENV_VALUE_BYTES": "100",
    }
    with embedded(tmp_path, settings) as (user_url, worker_url, http):
        me = http.get("/user").json()
        assert me["storage_quota"] == 50000
        for url in (user_url, worker_url):
            assert status_and_body(exchange(url, head_of(MAX_HEAD)))[0] == 200
            assert status_and_body(exchange(url, head_of(MAX_HEAD + 1)))[0] == 431
        big = http.put(
            "/user/preferences",
            content=padded({"notify_email": False}, MAX_BODY + 1),
            headers={"content-type": "application/json"},
        )
        assert big.status_code == 413 and "MAX_REQUEST_BYTES" in big.json()["detail"]
        with httpx.Client(base_url=worker_url, timeout=30) as worker:
            refused = worker.post("/_jobs", content=b"x" * (MAX_BODY + 1))
            assert refused.status_code == 413
        upload = http.post("/files/data/upload", files={"file": ("f.bin", b"1" * (MAX_FILE + 1))})
        assert upload.status_code == 413 and "MAX_UPLOAD_BYTES" in upload.json()["detail"]

        job = {
            "job_name": "long",
            "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
            "attributes": {"env_vars": {"DEMO_SLEEP": "60"}},
        }
        long_env = {"env_vars": {"DEMO_SLEEP": "9" * 101}}
        refused_env = http.post("/jobs", json={**job, "job_name": "env", "attributes": long_env})
        assert refused_env.status_code == 413
        assert "MAX_ENV_VALUE_BYTES" in refused_env.json()["detail"]
        assert http.post("/jobs", json=job).status_code == 201
        second = http.post("/jobs", json={**job, "job_name": "second"})
        assert second.status_code == 429
        assert "MAX_QUEUED_JOBS_PER_USER" in second.json()["detail"]
        assert [j["job_name"] for j in http.get("/jobs").json()] == ["long"]
