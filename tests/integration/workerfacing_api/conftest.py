"""The worker API on real databases (a SQLite file and PostgreSQL), driven over HTTP with
FastAPI's TestClient. One database per test module and backend; tables are emptied
after each test."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx import Response

from shared.auth.local import LocalTokens
from shared.jobs.specs import (
    AppSpecs,
    Environment,
    HandlerSpecs,
    HardwareSpecs,
    JobSpecs,
    MetaSpecs,
    OutputKind,
    PathsUpload,
    SubmittedJob,
)
from tests.support.databases import fresh_database
from workerfacing_api.context import AppContext
from workerfacing_api.db.models import Attempt, QueuedJob, StatusOutbox, utcnow
from workerfacing_api.db.session import upgrade
from workerfacing_api.main import create_app
from workerfacing_api.pollers import sweeper
from workerfacing_api.settings import WorkerAPISettings

API_KEY = "internal-key-for-tests-0123456789"
TOKEN_SECRET = "t" * 40
BIG = {"memory": 1_000_000, "cpu_cores": 256, "gpu_mem": 1_000_000}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        upgrade(url)
        yield url


def make_settings(db_url: str, root: Path, **overrides: object) -> WorkerAPISettings:
    values: dict[str, object] = dict(
        _env_file=None,
        auth=True,
        auth_token_secret=TOKEN_SECRET,
        database_url=db_url,
        user_data_root_path=str(root),
        internal_api_key_secret=API_KEY,
    )
    values.update(overrides)
    # Most tests act as DECODE's worker (no X-Worker-Id): give it the same lease.
    values.setdefault("decode_lease_timeout", values.get("lease_timeout", 60))
    return WorkerAPISettings(**values)  # type: ignore[arg-type]


def empty_tables(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for model in (Attempt, StatusOutbox, QueuedJob):
            conn.execute(sa.delete(model))


def job_payload(
    job_id: int,
    *,
    environment: str = "any",
    group: str | None = None,
    priority: int = 5,
    hardware: dict[str, Any] | None = None,
    files_down: dict[str, str] | None = None,
    user: str = "alice",
    gpus: int = 0,
    runner: str = "docker",
    timeout: int | None = None,
    submission_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """A SubmittedJob as the user API sends it; its submission id is the same for every
    payload of one job id, unless given."""
    spec = SubmittedJob(
        job=JobSpecs(
            app=AppSpecs(cmd=["sh", "-c", "echo hi"], env={"A": "1"}),
            handler=HandlerSpecs(
                image_url="busybox:latest",
                image_name="demo",
                image_version="v1",
                entrypoint="run",
                files_down=files_down or {},
                files_up={OutputKind.output: "output", OutputKind.log: "log"},
                gpus=gpus,
                runner=runner,
                timeout=timeout,
            ),
            meta=MetaSpecs(job_id=job_id, date_created=utcnow()),
            hardware=HardwareSpecs(**(hardware or {})),
        ),
        environment=Environment(environment),
        group=group,
        priority=priority,
        paths_upload=PathsUpload(
            output=f"local://{user}/output/job{job_id}",
            log=f"local://{user}/log/job{job_id}",
            artifact=f"local://{user}/artifact/job{job_id}",
        ),
        submission_id=submission_id or submission_of(job_id),
    )
    return spec.model_dump(mode="json")


def submission_of(job_id: int) -> uuid.UUID:
    """The submission id `job_payload` gives job `job_id` by default."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"labcloud-test-job-{job_id}")


class WorkerAPI:
    """The app under test plus the few calls every test makes."""

    def __init__(self, client: TestClient, ctx: AppContext, tokens: LocalTokens) -> None:
        self.client = client
        self.ctx = ctx
        self.tokens = tokens

    # auth
    def headers(
        self,
        username: str = "worker-a",
        groups: tuple[str, ...] = ("workers",),
        worker_id: str | None = None,
    ) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens.issue(username, None, groups)}"}
        if worker_id is not None:
            headers["X-Worker-Id"] = worker_id
        return headers

    # internal
    def submit(self, job_id: int, **kwargs: Any) -> Response:
        response = self.client.post(
            "/_jobs", json=job_payload(job_id, **kwargs), headers={"x-api-key": API_KEY}
        )
        assert response.status_code == 201, response.text
        return response

    def cancel(self, job_id: int) -> Response:
        return self.client.post(f"/_jobs/{job_id}/cancel", headers={"x-api-key": API_KEY})

    def describe(self, job_id: int) -> dict[str, Any]:
        response = self.client.get(f"/_jobs/{job_id}", headers={"x-api-key": API_KEY})
        assert response.status_code == 200, response.text
        return response.json()

    # worker
    def pull(self, headers: dict[str, str], **params: Any) -> dict[int, dict[str, Any]]:
        query = {**BIG, **params}
        if "gpu_memory" in params and "gpu_mem" not in params:
            query.pop("gpu_mem")
        response = self.client.get("/jobs", params=query, headers=headers)
        assert response.status_code == 200, response.text
        return {int(k): v for k, v in response.json().items()}

    def put_status(
        self, job_id: int, status: str, headers: dict[str, str], details: str | None = None
    ) -> Response:
        params = {"status": status}
        if details is not None:
            params["runtime_details"] = details
        return self.client.put(f"/jobs/{job_id}/status", params=params, headers=headers)

    # background rounds
    def sweep(self, at: dt.datetime) -> sweeper.SweepReport:
        """One sweep as if it were `at`, with the app's settings."""
        settings = self.ctx.settings
        return sweeper.run_once(
            self.ctx.sessions,
            max_retries=settings.max_retries,
            limits=sweeper.time_limits(settings),
            now=at,
        )

    # database
    def row(self, job_id: int) -> QueuedJob:
        with self.ctx.sessions() as session:
            job = session.scalars(sa.select(QueuedJob).where(QueuedJob.job_id == job_id)).one()
            session.expunge(job)
            return job

    def attempts(self, job_id: int) -> list[Attempt]:
        with self.ctx.sessions() as session:
            return list(
                session.scalars(
                    sa.select(Attempt)
                    .join(QueuedJob, QueuedJob.id == Attempt.queued_job_id)
                    .where(QueuedJob.job_id == job_id)
                    .order_by(Attempt.number)
                )
            )

    def requeue(self, job_id: int) -> Response:
        return self.client.post(f"/_jobs/{job_id}/requeue", headers={"x-api-key": API_KEY})

    def outbox(self, job_id: int | None = None) -> list[tuple[int, str, str | None]]:
        with self.ctx.sessions() as session:
            stmt = sa.select(StatusOutbox).order_by(StatusOutbox.id)
            if job_id is not None:
                stmt = stmt.where(StatusOutbox.job_id == job_id)
            return [(e.job_id, e.status, e.runtime_details) for e in session.scalars(stmt)]

    def age(self, job_id: int, seconds: float) -> None:
        """Pretend job `job_id` was submitted `seconds` ago."""
        with self.ctx.sessions() as session:
            session.execute(
                sa.update(QueuedJob)
                .where(QueuedJob.job_id == job_id)
                .values(created_at=utcnow() - dt.timedelta(seconds=seconds))
            )
            session.commit()


MakeAPI = Callable[..., WorkerAPI]


@pytest.fixture
def storage_root(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture
def make_api(db_url: str, storage_root: Path) -> Iterator[MakeAPI]:
    """Build the app with settings overrides; background loops off unless asked."""
    opened: list[tuple[TestClient, AppContext]] = []

    def _make(run_background: bool = False, **overrides: object) -> WorkerAPI:
        settings = make_settings(db_url, storage_root, **overrides)
        app = create_app(settings, run_background=run_background)
        client = TestClient(app)
        client.__enter__()
        ctx: AppContext = app.state.ctx
        opened.append((client, ctx))
        tokens = LocalTokens(
            TOKEN_SECRET, issuer=settings.auth_token_issuer, audience=settings.auth_token_audience
        )
        return WorkerAPI(client, ctx, tokens)

    yield _make
    for client, ctx in opened:
        client.__exit__(None, None, None)
        empty_tables(ctx.engine)
        ctx.engine.dispose()


@pytest.fixture
def api(make_api: MakeAPI) -> WorkerAPI:
    return make_api()
