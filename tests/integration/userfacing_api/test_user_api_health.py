"""`GET /healthz` and `GET /readyz` of the user API against real dependencies and real
failures: a database that is gone or never listened, a dead broker, a storage root that
was removed, an S3 bucket that does not exist (moto)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient

from tests.integration.userfacing_api.conftest import make_settings
from tests.support.databases import fresh_postgres
from userfacing_api.db.session import upgrade
from userfacing_api.main import create_app

DEAD_PG = "postgresql+psycopg://postgres@127.0.0.1:1/labcloud"  # nothing listens on port 1


def _client(settings) -> Iterator[TestClient]:
    app = create_app(settings, run_background=False)
    with TestClient(app) as client:
        yield client
    app.state.ctx.engine.dispose()


def test_healthz_answers_while_the_process_runs(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_names_each_dependency_and_whether_it_answers(db_url: str, tmp_path: Path) -> None:
    # JOB_TRANSPORT=http: the worker API is the transport, and none listens here ...
    settings = make_settings(db_url, tmp_path, workerfacing_api_url="http://127.0.0.1:1")
    for client in _client(settings):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == {"ok": True, "error": None}
    assert body["checks"]["storage"] == {"ok": True, "error": None}
    assert body["checks"]["transport"]["ok"] is False  # ... so the transport is down
    assert body["status"] == "not ready"


def test_readyz_with_a_live_broker_is_ready(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path, job_transport="redis://127.0.0.1:6379/0")
    for client in _client(settings):
        response = client.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ready"
        assert set(response.json()["checks"]) == {"database", "storage", "transport"}


def test_a_dead_broker_makes_it_not_ready(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path, job_transport="amqp://guest:guest@127.0.0.1:1//")
    for client in _client(settings):
        response = client.get("/readyz")
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert checks["transport"]["ok"] is False
        assert "guest" not in checks["transport"]["error"]  # no URL, no credentials
        assert checks["database"]["ok"] and checks["storage"]["ok"]


def test_an_unreachable_postgresql_makes_it_not_ready(tmp_path: Path) -> None:
    settings = make_settings(DEAD_PG, tmp_path, job_transport="redis://127.0.0.1:6379/0")
    for client in _client(settings):
        assert client.get("/healthz").status_code == 200  # alive all the same
        response = client.get("/readyz")
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert checks["database"]["ok"] is False
        assert checks["database"]["error"].startswith("OperationalError")
        assert checks["storage"]["ok"] and checks["transport"]["ok"]


@pytest.mark.postgres
def test_a_dropped_postgresql_database_makes_it_not_ready(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from tests.support.databases import PG_ADMIN_URL

    with fresh_postgres() as url:
        upgrade(url)
        settings = make_settings(url, tmp_path, job_transport="redis://127.0.0.1:6379/0")
        for client in _client(settings):
            assert client.get("/readyz").status_code == 200
            client.app.state.ctx.engine.dispose()  # type: ignore[attr-defined]
            admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
            admin.dispose()
            client.app.state.readiness.expire()  # type: ignore[attr-defined]
            response = client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["checks"]["database"]["ok"] is False


def test_a_missing_storage_root_makes_it_not_ready(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path, job_transport="redis://127.0.0.1:6379/0")
    for client in _client(settings):
        assert client.get("/readyz").status_code == 200
        shutil.rmtree(settings.user_data_root_path)
        client.app.state.readiness.expire()  # type: ignore[attr-defined]
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["storage"] == {
            "ok": False,
            "error": "NotADirectoryError",
        }


def test_a_missing_s3_bucket_makes_it_not_ready(
    db_url: str, tmp_path: Path, moto_endpoint: str, aws_env: None
) -> None:
    common = dict(
        filesystem="s3",
        s3_region="us-east-1",
        s3_endpoint_url=moto_endpoint,
        job_transport="redis://127.0.0.1:6379/0",
    )
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="lc-health-present")
    present = make_settings(db_url, tmp_path, s3_bucket="lc-health-present", **common)
    for client in _client(present):
        assert client.get("/readyz").json()["checks"]["storage"]["ok"] is True
    missing = make_settings(db_url, tmp_path, s3_bucket="lc-health-missing", **common)
    for client in _client(missing):
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["storage"] == {"ok": False, "error": "NoSuchBucket"}


def test_the_openapi_spec_describes_both_answers(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/healthz"]["get"]["responses"]) == {"200"}
    ready = paths["/readyz"]["get"]["responses"]
    assert {"200", "503"} <= set(ready)
    for code in ("200", "503"):
        schema = ready[code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ReadinessReport"}
