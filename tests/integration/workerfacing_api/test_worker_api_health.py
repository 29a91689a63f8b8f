"""`GET /healthz` and `GET /readyz` of the worker API: its database, storage and broker,
with real failures (a PostgreSQL that never listened, a dead broker, a removed root)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from fastapi.testclient import TestClient

from tests.integration.workerfacing_api.conftest import make_settings
from workerfacing_api.main import create_app

DEAD_PG = "postgresql+psycopg://postgres@127.0.0.1:1/labcloud"
LIVE_BROKER = "redis://127.0.0.1:6379/0"


def _client(settings) -> Iterator[TestClient]:
    app = create_app(settings, run_background=False)
    with TestClient(app) as client:
        yield client
    app.state.ctx.engine.dispose()


def test_ready_with_its_database_storage_and_broker(db_url: str, tmp_path: Path) -> None:
    for client in _client(make_settings(db_url, tmp_path / "files", job_transport=LIVE_BROKER)):
        assert client.get("/healthz").json() == {"status": "ok"}
        response = client.get("/readyz")
        assert response.status_code == 200, response.text
        assert set(response.json()["checks"]) == {"database", "storage", "transport"}


def test_with_http_transport_there_is_no_transport_to_check(db_url: str, tmp_path: Path) -> None:
    # The user API pushes job specs to this API: nothing to reach from here.
    for client in _client(make_settings(db_url, tmp_path / "files")):
        response = client.get("/readyz")
        assert response.status_code == 200
        assert set(response.json()["checks"]) == {"database", "storage"}


def test_not_ready_without_its_broker(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path / "files", job_transport="redis://127.0.0.1:1/0")
    for client in _client(settings):
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["transport"]["ok"] is False
        assert response.json()["checks"]["database"]["ok"] is True


def test_not_ready_without_its_database_or_storage(tmp_path: Path) -> None:
    settings = make_settings(DEAD_PG, tmp_path / "files", job_transport=LIVE_BROKER)
    for client in _client(settings):
        shutil.rmtree(tmp_path / "files")
        response = client.get("/readyz")
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert [name for name, check in checks.items() if not check["ok"]] == [
            "database",
            "storage",
        ]
        assert client.get("/healthz").status_code == 200
