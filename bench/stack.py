"""The platform under test: both APIs as uvicorn processes on loopback, fresh databases,
accounts, tokens and `labcloud worker` processes.

Processes are started the way an operator starts them (`labcloud user-api --migrate`
...), each on a free port (found with `tests/support`'s helpers), logging at
`warning` so that uvicorn's access log (one line per request) is not part of what
is measured.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from shared.auth.local import LocalTokens
from tests.support.databases import PG_ADMIN_URL, fresh_database
from tests.support.processes import REPO, free_port, wait_until_up

BENCH_DIR = Path(__file__).resolve().parent
CATALOGUE = BENCH_DIR / "catalogue.yaml"
PASSWORD = "bench-pass-42"
ISSUER = AUDIENCE = "labcloud"  # the APIs' defaults (AUTH_TOKEN_ISSUER / _AUDIENCE)
DB_KINDS = ("sqlite", "postgres")
DB_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
STOP_GRACE_S = 3.0


def postgres_available() -> str | None:
    """None if the PostgreSQL server of the tests answers, else why not."""
    engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means: not here
        return f"PostgreSQL not reachable at {engine.url.render_as_string()}: {type(exc).__name__}"
    finally:
        engine.dispose()


@contextlib.contextmanager
def databases(kind: str, tmp: Path) -> Iterator[tuple[str, str]]:
    """A fresh, empty (user, worker) pair of databases of `kind` (sqlite | postgres)."""
    tmp.mkdir(parents=True, exist_ok=True)
    with fresh_database(kind, tmp) as user_db, fresh_database(kind, tmp) as worker_db:
        yield user_db, worker_db


@dataclass
class Stack:
    """Running API processes and what it takes to talk to them."""

    tmp: Path
    user_db: str
    worker_db: str
    env: dict[str, str]  # settings both APIs share
    stack: contextlib.ExitStack
    user_url: str = ""
    worker_url: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _spawned: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def api_key(self) -> str:
        return self.env["INTERNAL_API_KEY_SECRET"]

    @property
    def storage_root(self) -> Path:
        return Path(self.env["USER_DATA_ROOT_PATH"])

    def tokens(self) -> LocalTokens:
        """Mints tokens both APIs accept (the same secret, issuer and audience)."""
        return LocalTokens(self.env["AUTH_TOKEN_SECRET"], ISSUER, AUDIENCE)

    def worker_headers(self, worker_id: str, cloud: bool = False) -> dict[str, str]:
        """Headers of a labcloud worker process (`X-Worker-Id`) of account `bench-worker`."""
        groups = ("workers", "cloud") if cloud else ("workers",)
        name = "bench-cloud-worker" if cloud else "bench-worker"
        token = self.tokens().issue(name, None, groups)
        return {"Authorization": f"Bearer {token}", "X-Worker-Id": worker_id}

    def register_user(self, username: str) -> str:
        """A `users` account made through the user API; returns its token from `/token`."""
        with httpx.Client(base_url=self.user_url, timeout=30) as http:
            made = http.post("/user", data={"username": username, "password": PASSWORD})
            if made.status_code not in (201, 409):
                made.raise_for_status()
            token = http.post("/token", data={"username": username, "password": PASSWORD})
            token.raise_for_status()
            return str(token.json()["id_token"])

    def user_client(self, username: str, timeout: float = 60) -> httpx.Client:
        """An HTTP client of the user API logged in as `username` (made if new)."""
        token = self.register_user(username)
        http = httpx.Client(
            base_url=self.user_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {token}"},
        )
        self.stack.callback(http.close)
        return http

    def start_worker(self, name: str, **settings: str) -> subprocess.Popen[bytes]:
        """A `labcloud worker` process with an account of its own (process runner)."""
        httpx.post(
            f"{self.user_url}/user",
            params={"groups": "workers"},
            data={"username": name, "password": PASSWORD},
            headers={"x-api-key": self.api_key},
            timeout=30,
        )
        env = {
            **self.env,
            "LABCLOUD_WORKER_API_URL": self.worker_url,
            "LABCLOUD_WORKER_AUTH_URL": self.user_url,
            "LABCLOUD_WORKER_USERNAME": name,
            "LABCLOUD_WORKER_PASSWORD": PASSWORD,
            "LABCLOUD_WORKER_SCRATCH_DIR": str(self.tmp / "scratch"),
            "LABCLOUD_WORKER_RUNNERS": "process",
            **{f"LABCLOUD_WORKER_{k.upper()}": v for k, v in settings.items()},
        }
        proc = self.spawn(name, ["worker", "--log-level", "warning"], env)
        self.procs[name] = proc
        return proc

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """`labcloud ARGS` as a process, logging to `<tmp>/<name>.log`, stopped with the rest."""
        with (self.tmp / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "labcloud.cli", *args],
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                start_new_session=True,
            )
        if not self._spawned:
            self.stack.callback(self._stop_all)
        self._spawned.append(proc)
        return proc

    def _stop_all(self) -> None:
        """SIGTERM to every process at once, SIGKILL to those still there after a grace.

        The benchmark is over: nothing is left to finish, but a worker would first sit
        out its long poll, and the worker API would wait for that poll's answer.
        """
        for proc in self._spawned:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in self._spawned:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _serve(stack: Stack, which: str, port: int, env: dict[str, str]) -> None:
    args = [which, "--port", str(port), "--migrate", "--log-level", "warning"]
    proc = stack.spawn(which, args, env)
    wait_until_up(f"http://127.0.0.1:{port}/", proc, stack.tmp / f"{which}.log")
    stack.procs[which] = proc


@contextlib.contextmanager
def platform(
    kind: str,
    tmp: Path,
    *,
    user_api: bool = True,
    worker_api: bool = True,
    user_env: dict[str, str] | None = None,
    worker_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Fresh databases of `kind` and the API processes asked for, stopped afterwards.

    Without the user API, the worker API's status relay points at a port nobody
    listens on; benchmarks that run it so write no status events.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    user_port, worker_port = free_port(), free_port()
    user_url, worker_url = f"http://127.0.0.1:{user_port}", f"http://127.0.0.1:{worker_port}"
    common = {
        "AUTH": "1",
        "AUTH_TOKEN_SECRET": "bench-token-secret-" + uuid.uuid4().hex,
        "INTERNAL_API_KEY_SECRET": "bench-internal-" + uuid.uuid4().hex,
        "USER_DATA_ROOT_PATH": str(tmp / "files"),
        "PYTHONUNBUFFERED": "1",
    }
    with databases(kind, tmp) as (user_db, worker_db), contextlib.ExitStack() as exits:
        stack = Stack(tmp, user_db, worker_db, common, exits)
        if worker_api:
            stack.worker_url = worker_url
            _serve(
                stack,
                "worker-api",
                worker_port,
                {
                    **common,
                    "DATABASE_URL": worker_db,
                    "USERFACING_API_URL": user_url,
                    **(worker_env or {}),
                },
            )
        if user_api:
            stack.user_url = user_url
            _serve(
                stack,
                "user-api",
                user_port,
                {
                    **common,
                    "DATABASE_URL": user_db,
                    "WORKERFACING_API_URL": worker_url,
                    "APPLICATION_CONFIG_FILE": str(CATALOGUE),
                    "EMAIL_SENDER_SERVICE": "console",
                    **(user_env or {}),
                },
            )
        try:
            yield stack
        finally:
            exits.close()  # stop the processes before the databases are dropped


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, period: float = 0.05
) -> None:
    """Poll `predicate()` until it is true; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout:.0f} s")
        time.sleep(period)
