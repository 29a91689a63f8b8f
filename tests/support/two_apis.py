"""Both APIs on one storage as FastAPI TestClients, with real accounts: for tests that
take a job from the user API to the worker API without the relay in between."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.support.databases import fresh_database
from userfacing_api.db.models import OutboxMessage
from userfacing_api.db.session import upgrade as upgrade_user_db
from userfacing_api.main import create_app as create_user_app
from userfacing_api.settings import UserAPISettings
from workerfacing_api.db.session import upgrade as upgrade_worker_db
from workerfacing_api.main import create_app as create_worker_app
from workerfacing_api.settings import WorkerAPISettings

REPO = Path(__file__).resolve().parents[2]
API_KEY = "internal-key-for-tests-0123456789"
PASSWORD = "correct-horse-9"
#: what a worker offers when it pulls: room for any job, the demo's process runner too
PULL = {"memory": 1_000_000, "cpu_cores": 256, "gpu_mem": 1_000_000, "runners": "process"}


@dataclass
class TwoApis:
    user: TestClient
    worker: TestClient

    def login(self, name: str, groups: tuple[str, ...] = ("users",)) -> dict[str, str]:
        """Create the account (once) and return its bearer header (for either API)."""
        self.user.post(
            "/user",
            headers={"x-api-key": API_KEY},
            data={"username": name, "password": PASSWORD},
            params=[("groups", g) for g in groups],
        )
        reply = self.user.post("/token", data={"username": name, "password": PASSWORD})
        assert reply.status_code == 201, reply.text
        return {"Authorization": f"Bearer {reply.json()['id_token']}"}

    def submit(self, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST /jobs: (the job id, the message the relay would hand the worker API)."""
        reply = self.user.post("/jobs", json=body, headers=headers)
        assert reply.status_code == 201, reply.text
        job_id: int = reply.json()["id"]
        with self.user.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
            # the latest: on SQLite a deleted job's id is given again (issue 13, item 1)
            payload: dict[str, Any] = session.scalars(
                select(OutboxMessage.payload)
                .where(OutboxMessage.job_id == job_id, OutboxMessage.kind == "submit")
                .order_by(OutboxMessage.id.desc())
                .limit(1)
            ).one()
        return job_id, payload

    def hold(self, worker: dict[str, str], job_id: int, payload: dict[str, Any]) -> None:
        """Hand the worker API the job's message, then lease the job as `worker`."""
        handed = self.worker.post("/_jobs", json=payload, headers={"x-api-key": API_KEY})
        assert handed.status_code == 201, handed.text
        pulled = self.worker.get("/jobs", params={**PULL, "limit": 100}, headers=worker)
        assert pulled.status_code == 200, pulled.text
        assert job_id in {spec["meta"]["job_id"] for spec in pulled.json().values()}


@contextlib.contextmanager
def two_apis(db_kind: str, tmp: Path, **storage: Any) -> Iterator[TwoApis]:
    """Both APIs, each on a fresh database of `db_kind`, sharing the storage `storage`
    names (settings: user_data_root_path, filesystem, s3_*), background loops off."""
    with fresh_database(db_kind, tmp) as user_db, fresh_database(db_kind, tmp) as worker_db:
        upgrade_user_db(user_db)
        upgrade_worker_db(worker_db)
        common: dict[str, Any] = dict(
            _env_file=None,
            auth=True,
            auth_token_secret="s" * 40,
            internal_api_key_secret=API_KEY,
            **storage,
        )
        user_settings = UserAPISettings(
            **common,
            database_url=user_db,
            application_config_file=str(REPO / "application_config.yaml"),
        )
        user_app = create_user_app(user_settings, run_background=False)
        worker_settings = WorkerAPISettings(**common, database_url=worker_db)
        worker_app = create_worker_app(worker_settings, run_background=False)
        try:
            with TestClient(user_app) as user, TestClient(worker_app) as worker:
                yield TwoApis(user, worker)
        finally:
            user_app.state.ctx.engine.dispose()
            worker_app.state.ctx.engine.dispose()
