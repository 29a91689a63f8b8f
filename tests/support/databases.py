"""Real databases for tests: a fresh SQLite file or a fresh PostgreSQL database."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

PG_ADMIN_URL = os.environ.get(
    "LABCLOUD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextlib.contextmanager
def fresh_postgres() -> Iterator[str]:
    """A new, empty database on the machine's PostgreSQL; dropped afterwards."""
    name = f"lc_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextlib.contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """`kind` is "sqlite" or "postgres"."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / f'db-{uuid.uuid4().hex[:8]}.sqlite'}"
    elif kind == "postgres":
        with fresh_postgres() as url:
            yield url
    else:
        raise ValueError(kind)


def schema_differences(url: str, metadata: sa.MetaData, version_table: str) -> list[object]:
    """What tells the schema of the database at `url` from the models' `metadata`
    (types and server defaults included); [] when the migrations built exactly them."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "version_table": version_table,
                },
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()
