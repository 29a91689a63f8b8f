"""Database plumbing both APIs use: engines and Alembic upgrades.

Each API has its own database, models and migrations; this module only knows
how to open a database well (SQLite in WAL mode, Postgres through psycopg 3)
and how to bring its schema up to date.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def utcnow() -> dt.datetime:
    """Naive UTC: both APIs store and return dates this way, as DECODE does."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)


def begin_write(session: Session) -> None:
    """On SQLite, take the database's write lock now (`BEGIN IMMEDIATE`), unless the
    session's transaction has already begun: a transaction that reads and then writes
    could otherwise lose the race for the lock after its read and fail at once (not
    wait). On PostgreSQL, nothing: the services lock the rows they change."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not getattr(connection.connection.dbapi_connection, "in_transaction", True):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def upsert(session: Session, table: Any) -> Any:
    """`INSERT` into `table` with PostgreSQL's or SQLite's `on_conflict_do_…` clauses."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database {dialect!r}: use PostgreSQL or SQLite")
def create_database(url: str) -> bool:
    """Create the PostgreSQL database `url` names if it does not exist (connecting to the
    server's `postgres` database as the same user); True if it was created. A deployment
    whose server starts empty (RDS with one instance for both APIs) runs this once before
    migrating. SQLite files are created on first use: nothing to do there."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        return False
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %(name)s", {"name": parsed.database}
            ).first()
            if exists:
                return False
            quoted = connection.dialect.identifier_preparer.quote_identifier(parsed.database)
            connection.exec_driver_sql(f"CREATE DATABASE {quoted}")
            return True
    finally:
        admin.dispose()


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)


def upgrade(url: str, migrations_dir: Path, version_table: str) -> None:
    """Apply every pending Alembic migration in `migrations_dir` to `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["version_table"] = version_table
    command.upgrade(cfg, "head")
