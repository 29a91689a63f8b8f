"""`labcloud metrics-emf --once` against a real worker API's /metrics (API key required),
and `labcloud db upgrade --create-database` on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.integration.workerfacing_api.conftest import API_KEY, make_settings
from tests.support.databases import PG_ADMIN_URL
from tests.support.http_server import serve_in_thread
from workerfacing_api.db.session import upgrade
from workerfacing_api.main import create_app

REPO = Path(__file__).resolve().parents[3]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labcloud.cli", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_queue_age_reaches_stdout_as_emf(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    upgrade(url)
    app = create_app(
        make_settings(url, tmp_path / "files", metrics_require_api_key=True),
        run_background=False,
    )
    with serve_in_thread(app) as base:
        args = ("metrics-emf", "--url", f"{base}/metrics", "--once")
        args += ("--metric", "labcloud_queue_oldest_age_seconds", "--dimension", "Stack=t")
        refused = _cli(*args, env={"INTERNAL_API_KEY_SECRET": "wrong-key-0123456789"})
        assert refused.returncode == 1 and refused.stdout == ""
        done = _cli(*args, env={"INTERNAL_API_KEY_SECRET": API_KEY})
    assert done.returncode == 0, done.stderr
    documents = [json.loads(line) for line in done.stdout.splitlines()]
    assert {d["environment"] for d in documents} == {"local", "cloud", "any"}
    assert all(d["labcloud_queue_oldest_age_seconds"] == 0 and d["Stack"] == "t" for d in documents)


@pytest.mark.postgres
def test_db_upgrade_creates_a_missing_postgresql_database(tmp_path: Path) -> None:
    name = f"lc_test_create_{os.getpid()}"
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    env = {
        "DATABASE_URL": url,
        "AUTH": "1",
        "AUTH_TOKEN_SECRET": "t" * 40,
        "INTERNAL_API_KEY_SECRET": API_KEY,
    }
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        first = _cli("db", "upgrade", "worker", "--create-database", env=env)
        assert first.returncode == 0, first.stderr
        assert "worker database: created" in first.stdout
        again = _cli("db", "upgrade", "worker", "--create-database", env=env)
        assert again.returncode == 0 and "created" not in again.stdout
        with sa.create_engine(url).connect() as conn:
            assert "queued_jobs" in sa.inspect(conn).get_table_names()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
