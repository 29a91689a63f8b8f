"""The migrations build exactly the models, and carry a database of the first revision
(with its jobs) forward."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tests.support.databases import fresh_database, schema_differences
from workerfacing_api.db.models import Base
from workerfacing_api.db.session import MIGRATIONS, VERSION_TABLE, upgrade

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _differences(url: str) -> list[object]:
    return schema_differences(url, Base.metadata, VERSION_TABLE)


@pytest.mark.parametrize("kind", KINDS)
def test_upgrading_an_empty_database_gives_the_models(kind: str, tmp_path: Path) -> None:
    with fresh_database(kind, tmp_path) as url:
        upgrade(url)
        assert _differences(url) == []


@pytest.mark.parametrize("kind", KINDS)
def test_jobs_of_the_first_revision_get_the_new_columns(kind: str, tmp_path: Path) -> None:
    with fresh_database(kind, tmp_path) as url:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", url)
        cfg.attributes["version_table"] = VERSION_TABLE
        command.upgrade(cfg, "0001")
        touched = dt.datetime(2026, 1, 2, 3, 4, 5)
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "INSERT INTO queued_jobs (job_id, spec, environment, priority, "
                        "paths_upload, status, attempt, created_at, updated_at, tried_workers) "
                        "VALUES (1, '{}', 'any', 0, '{}', 'running', 1, :t, :t, '[]')"
                    ),
                    {"t": touched},
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO status_outbox (job_id, status, created_at, attempts, "
                        "next_attempt_at) VALUES (1, 'running', :t, 0, :t)"
                    ),
                    {"t": touched},
                )
            upgrade(url)
            with engine.connect() as conn:
                job = conn.execute(sa.text("SELECT * FROM queued_jobs")).mappings().one()
                event = conn.execute(sa.text("SELECT * FROM status_outbox")).mappings().one()
        finally:
            engine.dispose()
        changed = job["status_changed_at"]
        if isinstance(changed, str):  # SQLite hands back its text
            changed = dt.datetime.fromisoformat(changed)
        assert changed == touched
        assert (job["timeout_s"], job["attempt_base"], job["gpus"], job["runner"]) == (
            None,
            0,
            0,
            "docker",
        )
        assert not event["operator_requeue"]
        assert _differences(url) == []
        command.downgrade(cfg, "0001")  # and back
