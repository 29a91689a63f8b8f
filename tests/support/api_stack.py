"""Both APIs served over real HTTP on loopback (uvicorn in threads), each on its own fresh
database, with seeded data: a user with files and jobs, a TES user with a task, and a
worker holding a job. For the security tests, which attack every endpoint."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from shared.transport.http import HttpTransport
from tests.support.databases import fresh_database
from tests.support.http_server import serve_in_thread
from userfacing_api.db.session import upgrade as upgrade_user_db
from userfacing_api.main import create_app as create_user_app
from userfacing_api.pollers.outbox_relay import relay_once
from userfacing_api.settings import UserAPISettings
from workerfacing_api.db.session import upgrade as upgrade_worker_db
from workerfacing_api.main import create_app as create_worker_app
from workerfacing_api.settings import WorkerAPISettings

REPO = Path(__file__).resolve().parents[2]
API_KEY = "internal-key-for-security-tests-0123"
TOKEN_SECRET = "s" * 40
PASSWORD = "correct-horse-9"
USER, TES_USER, WORKER = "alice@example.org", "tess@example.org", "worker-1"
#: A worker's offer big enough for any seeded job.
#: What the worker offers: big enough for any seeded job, and only the process runner, so
#: that it leases alice's demo jobs and leaves the TES task (docker) queued.
OFFER = {"memory": 1_000_000, "cpu_cores": 64, "runners": ["process"]}


@dataclass
class Stack:
    """The two running APIs, the seeded objects and each persona's credentials."""

    db_kind: str
    user_url: str
    worker_url: str
    root: Path  # the storage root both APIs share
    db_urls: tuple[str, str] = ("", "")  # the user API's database, the worker API's
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # persona → headers
    job_id: int = 0  # alice's job, held by the worker
    finished_job_id: int = 0  # alice's job that has ended
    task_id: int = 0  # the TES user's task (a job), queued
    _engines: list[tuple[sa.Engine, sa.MetaData]] = field(default_factory=list, repr=False)

    def state(self) -> dict[str, object]:
        """Everything a request could change: every row of both databases and every
        file under the storage root (path and size)."""
        tables: dict[str, object] = {}
        for engine, meta in self._reflected():
            with engine.connect() as conn:
                for name, table in sorted(meta.tables.items()):
                    rows = conn.execute(sa.select(table)).all()
                    tables[f"{engine.url.database}.{name}"] = sorted(map(repr, rows))
        files = sorted(
            (p.relative_to(self.root).as_posix(), p.stat().st_size if p.is_file() else -1)
            for p in self.root.rglob("*")
        )
        return {"tables": tables, "files": files}

    def _reflected(self) -> list[tuple[sa.Engine, sa.MetaData]]:
        if not self._engines:
            for db_url in self.db_urls:
                engine = sa.create_engine(db_url)
                meta = sa.MetaData()
                meta.reflect(engine)
                self._engines.append((engine, meta))
        return self._engines

    def close(self) -> None:
        for engine, _ in self._engines:
            engine.dispose()
        self._engines.clear()

    def user_client(self, persona: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.user_url, headers=self.headers.get(persona or "", {}), timeout=30
        )

    def worker_client(self, persona: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.worker_url, headers=self.headers.get(persona or "", {}), timeout=30
        )


def user_settings(db_url: str, root: Path, worker_url: str) -> UserAPISettings:
    return UserAPISettings(
        _env_file=None,  # type: ignore[call-arg]
        auth=True,
        auth_token_secret=TOKEN_SECRET,
        database_url=db_url,
        user_data_root_path=str(root),
        internal_api_key_secret=API_KEY,
        application_config_file=str(REPO / "application_config.yaml"),
        workerfacing_api_url=worker_url,
        job_transport="http",
        tes_image_allowlist="busybox*,docker.io/library/*",
        email_sender_service="",
    )


def worker_settings(db_url: str, root: Path, user_url: str) -> WorkerAPISettings:
    return WorkerAPISettings(
        _env_file=None,  # type: ignore[call-arg]
        auth=True,
        auth_token_secret=TOKEN_SECRET,
        database_url=db_url,
        user_data_root_path=str(root),
        internal_api_key_secret=API_KEY,
        userfacing_api_url=user_url,
        lease_timeout=3600,
        decode_lease_timeout=3600,
        long_poll_seconds=1,
    )


@contextlib.contextmanager
def running_stack(db_kind: str, tmp_path: Path) -> Iterator[Stack]:
    """Both APIs on fresh `db_kind` databases ("sqlite" or "postgres"), seeded."""
    root = tmp_path / "files"
    with (
        fresh_database(db_kind, tmp_path) as user_db,
        fresh_database(db_kind, tmp_path) as worker_db,
    ):
        upgrade_user_db(user_db)
        upgrade_worker_db(worker_db)
        # Each API must know the other's URL before it starts: reserve the ports first.
        from tests.support.processes import free_port

        user_port, worker_port = free_port(), free_port()
        user_url, worker_url = f"http://127.0.0.1:{user_port}", f"http://127.0.0.1:{worker_port}"
        user_app = create_user_app(
            user_settings(user_db, root, worker_url), run_background=False
        )
        worker_app = create_worker_app(
            worker_settings(worker_db, root, user_url), run_background=False
        )
        try:
            with (
                serve_in_thread(user_app, port=user_port),
                serve_in_thread(worker_app, port=worker_port),
            ):
                stack = Stack(db_kind, user_url, worker_url, root, (user_db, worker_db))
                seed(stack, user_app.state.ctx.sessions)
                try:
                    yield stack
                finally:
                    stack.close()
        finally:
            user_app.state.ctx.engine.dispose()
            worker_app.state.ctx.engine.dispose()


def _register(client: httpx.Client, username: str, groups: tuple[str, ...]) -> dict[str, str]:
    answer = client.post(
        "/user",
        data={"username": username, "password": PASSWORD},
        params=[("groups", g) for g in groups],
        headers={"x-api-key": API_KEY},
    )
    assert answer.status_code == 201, answer.text
    token = client.post("/token", data={"username": username, "password": PASSWORD})
    assert token.status_code == 201, token.text
    return {"Authorization": f"Bearer {token.json()['id_token']}"}


def _upload(client: httpx.Client, folder: str, name: str, content: bytes) -> None:
    answer = client.post(f"/files/{folder}/upload", files={"file": (name, content)})
    assert answer.status_code == 201, answer.text


def _job(name: str, **files_down: object) -> dict[str, object]:
    return {
        "job_name": name,
        "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
        "attributes": {"files_down": files_down, "env_vars": {"DEMO_GREETING": "hi"}},
    }


def seed(stack: Stack, user_sessions: object) -> None:
    """alice: files, a job the worker holds (running) and one that has finished; the TES
    user: a queued task; the worker: its lease on alice's job."""
    with httpx.Client(base_url=stack.user_url, timeout=30) as anonymous:
        stack.headers["user"] = _register(anonymous, USER, ("users",))
        stack.headers["tes"] = _register(anonymous, TES_USER, ("users", "tes"))
        worker_auth = _register(anonymous, WORKER, ("workers",))
    stack.headers["worker"] = {**worker_auth, "X-Worker-Id": "w1"}
    stack.headers["key"] = {"x-api-key": API_KEY}

    with stack.user_client("user") as alice:
        _upload(alice, "config/demo", "params.yaml", b"greeting: hi\n")
        _upload(alice, "data/demo", "frames.tif", b"\x00frames" * 64)
        _upload(alice, "artifact", "model.pt", b"weights")
        running = alice.post(
            "/jobs", json=_job("seeded-running", config_id="demo/params.yaml", data_ids=["demo/"])
        )
        assert running.status_code == 201, running.text
        stack.job_id = running.json()["id"]
        finished = alice.post("/jobs", json=_job("seeded-finished", data_ids=["demo/"]))
        assert finished.status_code == 201, finished.text
        stack.finished_job_id = finished.json()["id"]
    with stack.user_client("tes") as tes:
        task = tes.post(
            "/ga4gh/tes/v1/tasks",
            json={
                "name": "seeded-task",
                "executors": [{"image": "busybox:latest", "command": ["echo", "hi"]}],
                "tags": {"project": "seed"},
            },
        )
        assert task.status_code == 200, task.text
        stack.task_id = int(task.json()["id"])

    # Hand the jobs to the worker API, as the relay would.
    transport = HttpTransport(stack.worker_url, API_KEY)
    try:
        while relay_once(user_sessions, transport):  # type: ignore[arg-type]
            pass
    finally:
        transport.close()
    with stack.worker_client("worker") as worker:
        leased = worker.get("/jobs", params={**OFFER, "limit": 10})
        assert leased.status_code == 200, leased.text
        attempts = {int(k): v["meta"]["extra"]["attempt"] for k, v in leased.json().items()}
        assert set(attempts) == {stack.job_id, stack.finished_job_id}, attempts
        for job_id, final in ((stack.finished_job_id, "finished"), (stack.job_id, None)):
            for status in ("preprocessing", "running", *([final] if final else [])):
                answer = worker.put(
                    f"/jobs/{job_id}/status",
                    params={"status": status},
                    headers={"X-Labcloud-Attempt": str(attempts[job_id])},
                )
                assert answer.status_code == 204, answer.text
    with stack.user_client("key") as internal:
        for job_id, status in ((stack.job_id, "running"), (stack.finished_job_id, "finished")):
            answer = internal.put("/_job_status", json={"job_id": job_id, "status": status})
            assert answer.status_code == 204, answer.text

