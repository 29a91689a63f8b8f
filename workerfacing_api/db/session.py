"""Opening the queue database, bringing its schema up to date, and write transactions.

Every transaction that changes the queue goes through `write_session`, so that
writers are serialised the same way everywhere:

- PostgreSQL: nothing special here; the services lock the rows they change
  (`FOR UPDATE`, `FOR UPDATE SKIP LOCKED` for the claim and the sweep).
- SQLite: one writer at a time. A lock per engine keeps this process's threads
  in line without spinning on SQLite's busy handler, and `BEGIN IMMEDIATE`
  takes the database's write lock before the first read, so several worker-API
  processes on one file are still correct: a transaction can never read a job,
  lose the race for the write lock, and then act on what it read.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared import db

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "labcloud_worker_schema_version"

_writer_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_writer_locks_guard = threading.Lock()


def upgrade(url: str) -> None:
    """Apply the worker API's migrations to `url`."""
    db.upgrade(url, MIGRATIONS, VERSION_TABLE)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _writer_lock(engine: Engine) -> threading.Lock:
    with _writer_locks_guard:
        lock = _writer_locks.get(engine)
        if lock is None:
            lock = _writer_locks[engine] = threading.Lock()
        return lock


@contextmanager
def write_session(sessions: sessionmaker) -> Iterator[Session]:
    """A session in a write transaction, committed when the block ends without error.

    Do not nest: on SQLite the inner block would wait for the outer one forever.
    """
    session: Session = sessions()
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    lock = _writer_lock(engine) if is_sqlite(engine) else None
    if lock is not None:
        lock.acquire()
    try:
        if lock is not None:
            db.begin_write(session)
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        if lock is not None:
            lock.release()
