"""Job identity on existing databases: the user API's migration 0004 and the worker API's
0005 give every identity table ids that are never given again (SQLite: AUTOINCREMENT,
starting above every id still named anywhere), add the submission ids, clear what
deleted jobs left behind, keep every row, and build exactly the models."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tests.support.databases import fresh_database, schema_differences
from userfacing_api.db import models as user_models
from userfacing_api.db import session as user_db
from workerfacing_api.db import models as worker_models
from workerfacing_api.db import session as worker_db

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
T = dt.datetime(2026, 1, 2, 3, 4, 5)


def alembic(url: str, migrations: Path, version_table: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["version_table"] = version_table
    return cfg


def autoincrement_tables(engine: sa.Engine) -> set[str]:
    """SQLite: the tables created with AUTOINCREMENT."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
        return {name for name, sql in rows if "AUTOINCREMENT" in (sql or "")}


def run(engine: sa.Engine, sql: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def scalars(engine: sa.Engine, sql: str) -> list[object]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql)).scalars())


NEW_JOB = (
    "INSERT INTO jobs (user_id, job_name, date_created, status, priority, application, "
    "attributes, status_changed_at) VALUES ('alice', :name, :t, 'queued', 0, '{}', '{}', :t)"
)


@pytest.mark.parametrize("kind", KINDS)
def test_the_user_database_never_gives_a_deleted_jobs_id_again(kind: str, tmp_path: Path) -> None:
    with fresh_database(kind, tmp_path) as url:
        cfg = alembic(url, user_db.MIGRATIONS, user_db.VERSION_TABLE)
        command.upgrade(cfg, "0003")
        engine = sa.create_engine(url)
        try:
            for name in ("one", "two", "three"):
                run(engine, NEW_JOB, name=name, t=T)
            # Job 3 was deleted before this release: its other rows stayed behind.
            run(engine, "DELETE FROM jobs WHERE id = 3")
            for kind_, delivered in (("submit", T), ("cancel", None)):
                run(
                    engine,
                    "INSERT INTO job_outbox (job_id, kind, payload, created_at, attempts, "
                    "next_attempt_at, delivered_at) VALUES (3, :k, '{}', :t, 0, :t, :d)",
                    k=kind_,
                    t=T,
                    d=delivered,
                )
            run(
                engine,
                "INSERT INTO job_status_events (job_id, status, applied, received_at) "
                "VALUES (1, 'pulled', true, :t), (3, 'running', true, :t)",
                t=T,
            )
            run(
                engine,
                "INSERT INTO notifications (job_id, recipient, subject, body, state, attempts, "
                "next_attempt_at, created_at) VALUES (3, 'a@b.c', 's', 'b', 'due', 0, :t, :t)",
                t=T,
            )
            run(
                engine,
                "INSERT INTO job_logs (job_id, attempt, text, end_offset, truncated, "
                "updated_at) VALUES (3, 1, 'old', 3, false, :t)",
                t=T,
            )
            user_db.upgrade(url)

            run(engine, NEW_JOB, name="four", t=T)
            assert scalars(engine, "SELECT id FROM jobs ORDER BY id") == [1, 2, 4]
            assert scalars(engine, "SELECT submission_id FROM jobs ORDER BY id")[:2] == [None] * 2
            assert scalars(engine, "SELECT job_id FROM job_status_events") == [1]
            assert scalars(engine, "SELECT count(*) FROM notifications") == [0]  # never sent
            assert scalars(engine, "SELECT count(*) FROM job_logs") == [0]
            # The deleted job's cancel stays until the relay delivers it.
            assert scalars(engine, "SELECT kind FROM job_outbox") == ["cancel"]
            if kind == "sqlite":
                assert autoincrement_tables(engine) == {
                    "jobs",
                    "job_outbox",
                    "job_status_events",
                    "notifications",
                }
            assert schema_differences(url, user_models.Base.metadata, user_db.VERSION_TABLE) == []
            command.downgrade(cfg, "0003")  # and back, keeping the jobs
            assert scalars(engine, "SELECT job_name FROM jobs ORDER BY id") == [
                "one",
                "two",
                "four",
            ]
        finally:
            engine.dispose()


@pytest.mark.parametrize("kind", KINDS)
def test_the_worker_database_keeps_its_jobs_and_never_gives_an_id_again(
    kind: str, tmp_path: Path
) -> None:
    with fresh_database(kind, tmp_path) as url:
        cfg = alembic(url, worker_db.MIGRATIONS, worker_db.VERSION_TABLE)
        command.upgrade(cfg, "0004")
        engine = sa.create_engine(url)
        try:
            for job_id in (1, 2):
                run(
                    engine,
                    "INSERT INTO queued_jobs (job_id, spec, environment, priority, paths_upload, "
                    "status, attempt, created_at, updated_at, tried_workers, status_changed_at) "
                    "VALUES (:j, '{}', 'any', 0, '{}', 'running', 1, :t, :t, '[]', :t)",
                    j=job_id,
                    t=T,
                )
            run(
                engine,
                "INSERT INTO attempts (queued_job_id, number, worker_id, started_at, "
                "lease_expires_at) SELECT id, 1, 'w', :t, :t FROM queued_jobs",
                t=T,
            )
            run(
                engine,
                "INSERT INTO attempt_logs (attempt_id, tail, end_offset, truncated, updated_at) "
                "SELECT id, 'out', 3, false, :t FROM attempts",
                t=T,
            )
            run(
                engine,
                "INSERT INTO status_outbox (job_id, status, created_at, attempts, "
                "next_attempt_at) VALUES (2, 'running', :t, 0, :t)",
                t=T,
            )
            newest = scalars(engine, "SELECT max(id) FROM queued_jobs")[0]
            worker_db.upgrade(url)

            assert scalars(engine, "SELECT count(*) FROM attempt_logs") == [2]  # all kept
            assert scalars(engine, "SELECT submission_id FROM queued_jobs") == [None] * 2
            assert scalars(engine, "SELECT submission_id FROM status_outbox") == [None]
            # An operator removes the newest job (its attempt and log go with it), and
            # its id is not given to the next one.
            with engine.begin() as conn:
                if kind == "sqlite":
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.execute(sa.text("DELETE FROM queued_jobs WHERE job_id = 2"))
            assert scalars(engine, "SELECT count(*) FROM attempt_logs") == [1]
            run(
                engine,
                "INSERT INTO queued_jobs (job_id, spec, environment, priority, paths_upload, "
                "status, attempt, created_at, updated_at, tried_workers, status_changed_at) "
                "VALUES (3, '{}', 'any', 0, '{}', 'queued', 0, :t, :t, '[]', :t)",
                t=T,
            )
            assert scalars(engine, "SELECT id FROM queued_jobs WHERE job_id = 3")[0] > newest
            if kind == "sqlite":
                assert autoincrement_tables(engine) == {"queued_jobs", "attempts", "status_outbox"}
                indexes = scalars(
                    engine, "SELECT sql FROM sqlite_master WHERE name LIKE 'ix_queued_jobs_ready%'"
                )
                assert len(indexes) == 2 and all("priority DESC" in str(s) for s in indexes)
            models = worker_models.Base.metadata
            assert schema_differences(url, models, worker_db.VERSION_TABLE) == []
            command.downgrade(cfg, "0004")
            assert scalars(engine, "SELECT job_id FROM queued_jobs ORDER BY job_id") == [1, 3]
            assert scalars(engine, "SELECT count(*) FROM attempt_logs") == [1]
        finally:
            engine.dispose()
