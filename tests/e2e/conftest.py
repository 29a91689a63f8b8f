"""The whole platform as separate processes on loopback: user API, worker API and
workers, each started with `labcloud <part>` and talking real HTTP."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.databases import fresh_database
from tests.support.processes import REPO, free_port, labcloud_process

PASSWORD = "analysis-42"
TERMINAL = {"finished", "error", "canceled"}
LOG_TAIL_LINES = 80
_running: list[Path] = []  # the folders of the platforms up now, whose logs a failure shows


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test's report ends with the tails of the running processes' logs: an
    end-to-end failure is often only explained there, and the folders are gone after."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for folder in _running:
        for log_file in sorted(folder.glob("*.log")):
            lines = log_file.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            report.sections.append((f"log tail: {log_file.name}", "\n".join(lines)))


@dataclass
class Platform:
    tmp: Path
    user_url: str
    worker_url: str
    env: dict[str, str]
    stack: contextlib.ExitStack
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def user_client(self, username: str = "ada@example.org") -> httpx.Client:
        """An HTTP client logged in as a (new) user."""
        http = httpx.Client(base_url=self.user_url, timeout=30)
        http.post("/user", data={"username": username, "password": PASSWORD})
        token = http.post("/token", data={"username": username, "password": PASSWORD})
        token.raise_for_status()
        http.headers["Authorization"] = f"Bearer {token.json()['id_token']}"
        self.stack.callback(http.close)
        return http

    def start_worker(self, name: str, **settings: str) -> subprocess.Popen[bytes]:
        """A `labcloud worker` process with its own account."""
        httpx.post(
            f"{self.user_url}/user",
            params={"groups": "workers"},
            data={"username": name, "password": PASSWORD},
            headers={"x-api-key": self.env["INTERNAL_API_KEY_SECRET"]},
        )
        env = {
            **self.env,
            "LABCLOUD_WORKER_API_URL": self.worker_url,
            "LABCLOUD_WORKER_AUTH_URL": self.user_url,
            "LABCLOUD_WORKER_USERNAME": name,
            "LABCLOUD_WORKER_PASSWORD": PASSWORD,
            "LABCLOUD_WORKER_SCRATCH_DIR": str(self.tmp / "scratch"),
            "LABCLOUD_WORKER_HEARTBEAT_INTERVAL": "1",
            "LABCLOUD_WORKER_LONG_POLL": "5",
            "LABCLOUD_WORKER_RUNNERS": settings.pop("runners", "process"),
            **{f"LABCLOUD_WORKER_{k.upper()}": v for k, v in settings.items()},
        }
        proc = self.stack.enter_context(
            labcloud_process(["worker", "--log-level", "info"], env, self.tmp / f"{name}.log")
        )
        self.workers[name] = proc
        return proc

    def user_api_log(self) -> str:
        return (self.tmp / "user-api.log").read_text()

    def emails(self) -> list[dict[str, Any]]:
        """The emails the console sender wrote to the user API's log."""
        return [
            json.loads(line.split("EMAIL ", 1)[1])
            for line in self.user_api_log().splitlines()
            if "labcloud.email" in line
        ]


def upload(http: httpx.Client, where: str, name: str, content: bytes) -> None:
    response = http.post(f"/files/{where}/upload", files={"file": (name, io.BytesIO(content))})
    assert response.status_code == 201, response.text


def submit(
    http: httpx.Client,
    name: str,
    application: str = "demo",
    version: str = "v1",
    entrypoint: str = "run",
    **attributes: Any,
) -> dict[str, Any]:
    body = {
        "job_name": name,
        "application": {"application": application, "version": version, "entrypoint": entrypoint},
        "attributes": {
            "files_down": attributes.get("files_down", {}),
            "env_vars": attributes.get("env_vars"),
        },
    }
    response = http.post("/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def wait_for(
    http: httpx.Client, job_id: int, statuses: set[str], timeout: float = 90
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: {job}")


@contextlib.contextmanager
def platform(
    tmp: Path,
    user_db: str,
    worker_db: str,
    app_config: Path | None = None,
    both: dict[str, str] | None = None,
    user: dict[str, str] | None = None,
    **worker_api_settings: str,
) -> Iterator[Platform]:
    """Both APIs as processes; `both` are settings for both, `user` the user API's, the
    rest the worker API's."""
    user_port, worker_port = free_port(), free_port()
    user_url, worker_url = f"http://127.0.0.1:{user_port}", f"http://127.0.0.1:{worker_port}"
    common = {
        "AUTH": "1",
        "AUTH_TOKEN_SECRET": "e2e-token-secret-" + uuid.uuid4().hex,
        "INTERNAL_API_KEY_SECRET": "e2e-internal-" + uuid.uuid4().hex,
        "USER_DATA_ROOT_PATH": str(tmp / "files"),
        "PYTHONUNBUFFERED": "1",
        **(both or {}),
    }
    with contextlib.ExitStack() as stack:
        user_env = {
            **common,
            "DATABASE_URL": user_db,
            "WORKERFACING_API_URL": worker_url,
            "OUTBOX_RELAY_PERIOD": "0.5",
            "EMAIL_SENDER_SERVICE": "console",
            "APPLICATION_CONFIG_FILE": str(app_config or REPO / "application_config.yaml"),
            **(user or {}),
        }
        worker_env = {
            **common,
            "DATABASE_URL": worker_db,
            "USERFACING_API_URL": user_url,
            "STATUS_RELAY_PERIOD": "0.5",
            **worker_api_settings,
        }
        stack.enter_context(
            labcloud_process(
                ["user-api", "--port", str(user_port), "--migrate"],
                user_env,
                tmp / "user-api.log",
                ready_url=user_url + "/",
            )
        )
        stack.enter_context(
            labcloud_process(
                ["worker-api", "--port", str(worker_port), "--migrate"],
                worker_env,
                tmp / "worker-api.log",
                ready_url=worker_url + "/",
            )
        )
        _running.append(tmp)
        stack.callback(_running.remove, tmp)
        yield Platform(tmp, user_url, worker_url, common, stack)


@pytest.fixture
def sqlite_platform(tmp_path: Path) -> Iterator[Platform]:
    with platform(
        tmp_path,
        f"sqlite:///{tmp_path / 'user.db'}",
        f"sqlite:///{tmp_path / 'worker.db'}",
        LEASE_TIMEOUT="5",
        SWEEPER_PERIOD="1",
    ) as p:
        yield p


@pytest.fixture
def postgres_platform(tmp_path: Path) -> Iterator[Platform]:
    with (
        fresh_database("postgres", tmp_path) as user_db,
        fresh_database("postgres", tmp_path) as worker_db,
        platform(tmp_path, user_db, worker_db) as p,
    ):
        yield p


def kill_hard(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
