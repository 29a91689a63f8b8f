"""The user API's tables: accounts, jobs as the user sees them, the job outbox,
status events, live logs and the notification log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import utcnow
from shared.jobs.identity import SUBMISSION_ID_LENGTH, new_submission_id

# Ids seen outside their row (on the wire, in URLs, in other tables) are never given
# again: on SQLite that takes AUTOINCREMENT (PostgreSQL's sequences never go back).
NEVER_REUSED = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    pass


class User(Base):
    """An account labcloud knows: a local one (AUTH=1, with its password hash), or one of
    the Cognito pool's, recorded when it registers or first calls. A closed account stays
    as a row without a password, so that its tokens stay refused; registering the name
    again starts a new account on the row (a new `subject`). See shared.auth.accounts."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # The `sub` this account's tokens carry (null: not known yet, a Cognito account).
    subject: Mapped[str | None] = mapped_column(String(255))
    standing: Mapped[str] = mapped_column(
        String(16), default="active", server_default="active"
    )  # active | disabled | closed
    tokens_valid_after: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # When the worker API is next to be told of a change (null: it knows the latest).
    sync_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)


class SignInFailures(Base):
    """Recent failed sign-ins of one account or one client address (a hash of either),
    as a sliding window of their times (seconds since the epoch)."""

    __tablename__ = "signin_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[list[float]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class UserPreference(Base):
    """Per-user choices that exist whatever the auth backend (e.g. email opt-out)."""

    __tablename__ = "user_preferences"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    notify_email: Mapped[bool] = mapped_column(Boolean, default=True)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("user_id", "job_name", name="uq_jobs_user_job_name"),
        Index("ix_jobs_user_created", "user_id", "date_created", "id"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(128))
    user_email: Mapped[str | None] = mapped_column(String(320))
    job_name: Mapped[str] = mapped_column(String(255))
    date_created: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    date_started: Mapped[dt.datetime | None] = mapped_column(DateTime)
    date_finished: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(32), default="queued", index=True)
    runtime_details: Mapped[str | None] = mapped_column(Text)
    environment: Mapped[str | None] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    application: Mapped[dict[str, Any]] = mapped_column(JSON)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    hardware: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status_changed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # When the reconciler last asked the worker API about this job (it looks only at
    # jobs whose status has not moved for a while).
    checked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # The identity of this submission at the worker API (shared.jobs.identity); NULL for
    # jobs submitted before labcloud had them.
    submission_id: Mapped[str | None] = mapped_column(
        String(SUBMISSION_ID_LENGTH), default=new_submission_id
    )


class OutboxMessage(Base):
    """A message to the worker API (a job spec to submit, or a cancel), written in the
    same transaction as the change that causes it and relayed until acknowledged."""

    __tablename__ = "job_outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "delivered_at", "next_attempt_at", "id"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "submit" | "cancel"
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class StatusEvent(Base):
    """Every status report received for a job, applied or not (an audit trail)."""

    __tablename__ = "job_status_events"
    __table_args__ = NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(32))
    runtime_details: Mapped[str | None] = mapped_column(Text)
    applied: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class JobLog(Base):
    """labcloud's live log of a job: the latest tail of its current attempt's output, as
    the worker API relays it (a retry's tail replaces the previous attempt's)."""

    __tablename__ = "job_logs"

    job_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    # Where `text` ends, in characters of the attempt's output: tails only move forward.
    end_offset: Mapped[int] = mapped_column(BigInteger)
    truncated: Mapped[bool] = mapped_column(Boolean)  # older output was dropped
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Notification(Base):
    """The one email due for a job's first terminal status; unique per job."""

    __tablename__ = "notifications"
    __table_args__ = NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(Integer, unique=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(512))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="due", index=True)  # due|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class StorageQuota(Base):
    """labcloud: an administrator's storage quota for one user or one group, in place of
    STORAGE_QUOTA_BYTES (see `userfacing_api.services.quotas`)."""

    __tablename__ = "storage_quotas"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # "user" | "group"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    quota_bytes: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


__all__ = [
    "Base",
    "User",
    "SignInFailures",
    "UserPreference",
    "Job",
    "OutboxMessage",
    "StatusEvent",
    "JobLog",
    "Notification",
    "StorageQuota",
    "utcnow",
]
