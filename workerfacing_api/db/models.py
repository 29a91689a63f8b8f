"""The worker API's tables: the job queue, the attempts (leases) with their live logs,
and the status outbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import utcnow
from shared.jobs.identity import SUBMISSION_ID_LENGTH

# Ids seen outside their row (queue ids, attempt ids, outbox ids in logs and metrics) are
# never given again: on SQLite that takes AUTOINCREMENT (sequences never go back).
NEVER_REUSED = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    pass


class QueuedJob(Base):
    """One job as the worker side knows it, from submission to its terminal status.

    The hardware requirements are copied out of the spec into columns so the
    claim can match them in SQL; NULL means "anything will do".
    """

    __tablename__ = "queued_jobs"
    __table_args__ = NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The user-side job id: the idempotency key of submissions and the id workers use.
    job_id: Mapped[int] = mapped_column(Integer, unique=True)
    # The identity of the submission (shared.jobs.identity): the same job id with another
    # one is another job, refused. NULL for a submission that came without one.
    submission_id: Mapped[str | None] = mapped_column(String(SUBMISSION_ID_LENGTH))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # the SubmittedJob; {} for a tombstone
    environment: Mapped[str] = mapped_column(String(8))  # cloud | local | any
    group: Mapped[str | None] = mapped_column(String(128))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    paths_upload: Mapped[dict[str, str]] = mapped_column(JSON)
    cpu_cores: Mapped[int | None] = mapped_column(Integer)
    memory: Mapped[int | None] = mapped_column(Integer)
    gpu_mem: Mapped[int | None] = mapped_column(Integer)
    gpu_model: Mapped[str | None] = mapped_column(String(255))
    gpu_archi: Mapped[str | None] = mapped_column(String(255))
    # GPUs the entrypoint needs (labcloud); matched only against workers that say how many
    # they have free, so DECODE's worker (which does not) is offered jobs as before.
    gpus: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The runner the entrypoint needs; DECODE's worker runs only docker images.
    runner: Mapped[str] = mapped_column(String(32), default="docker", server_default="docker")
    status: Mapped[str] = mapped_column(String(32))
    # When `status` last changed (heartbeats do not touch it): the per-state time limits
    # of the sweeper run from here.
    status_changed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # The entrypoint's time limit (`handler.timeout`, seconds) for the `running` state.
    timeout_s: Mapped[int | None] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=0)  # number of the current attempt
    # The attempt number when an operator last requeued the job: the retry budget counts
    # the attempts since then (`attempt - attempt_base`), so attempt numbers only grow.
    attempt_base: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    worker_id: Mapped[str | None] = mapped_column(String(400))  # the current holder
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    tried_workers: Mapped[list[str]] = mapped_column(JSON, default=list)
    terminal_reason: Mapped[str | None] = mapped_column(Text)


# The claim's passes, each read in claim order (priority, then age): jobs without a group,
Index(
    "ix_queued_jobs_ready",
    QueuedJob.status,
    QueuedJob.priority.desc(),
    QueuedJob.created_at,
    QueuedJob.id,
    postgresql_where=QueuedJob.group.is_(None),
    sqlite_where=QueuedJob.group.is_(None),
)
# the jobs of one group,
Index(
    "ix_queued_jobs_ready_group",
    QueuedJob.status,
    QueuedJob.group,
    QueuedJob.priority.desc(),
    QueuedJob.created_at,
    QueuedJob.id,
    postgresql_where=QueuedJob.group.is_not(None),
    sqlite_where=QueuedJob.group.is_not(None),
)
# and the jobs someone tried before (attempt > 0): the few a worker may have tried itself.
Index("ix_queued_jobs_retried", QueuedJob.status, QueuedJob.attempt)
# The sweeper looks for leased jobs whose lease has run out,
Index("ix_queued_jobs_lease", QueuedJob.status, QueuedJob.lease_expires_at)
# and for jobs that have been in one state for too long.
Index("ix_queued_jobs_status_changed", QueuedJob.status, QueuedJob.status_changed_at)
# File access checks look up the jobs a worker holds.
Index("ix_queued_jobs_worker", QueuedJob.worker_id, QueuedJob.status)


class Attempt(Base):
    """One lease of a job by a worker: the fence for every status change."""

    __tablename__ = "attempts"
    __table_args__ = (
        UniqueConstraint("queued_job_id", "number", name="uq_attempts_job_number"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    queued_job_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("queued_jobs.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer)
    worker_id: Mapped[str] = mapped_column(String(400))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    lease_expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # finished | error | canceled | expired
    outcome: Mapped[str | None] = mapped_column(String(32))


class AttemptLog(Base):
    """labcloud's live log of one attempt: the latest output its worker sent, bounded.

    Offsets count characters of the run's combined output from its start; `end_offset`
    is where `tail` ends, so a chunk the worker sends again is recognised and not
    appended twice.
    """

    __tablename__ = "attempt_logs"

    attempt_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("attempts.id", ondelete="CASCADE"), primary_key=True
    )
    tail: Mapped[str] = mapped_column(Text, default="")
    end_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    # Older output was dropped: the tail does not start at the run's first character.
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class StatusOutbox(Base):
    """A status change to report to the user API, written in the same transaction as the
    change and relayed in order per job until acknowledged.

    A row of kind `log` says instead that the live log of attempt `attempt` changed: the
    relay sends that attempt's tail as it is when delivering, so one pending row stands
    for any number of chunks (its `status` is the job's when the first of them came).
    """

    __tablename__ = "status_outbox"
    __table_args__ = (
        Index("ix_status_outbox_pending", "delivered_at", "job_id", "id"),
        Index("ix_status_outbox_log_event", "job_id", "kind", "attempt"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(Integer)  # the user-side job id
    # The submission the event is about: the user API refuses it for another job.
    submission_id: Mapped[str | None] = mapped_column(String(SUBMISSION_ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(16), default="status", server_default="status")
    attempt: Mapped[int | None] = mapped_column(Integer)  # kind `log`: whose log
    status: Mapped[str] = mapped_column(String(32))
    runtime_details: Mapped[str | None] = mapped_column(Text)
    # An operator revived this failed job (`queued` again): relayed as `operator_requeue`,
    # so the user API lets the job leave its terminal state.
    operator_requeue: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class Account(Base):
    """The standing of an account whose tokens may no longer count (closed, disabled,
    re-created), as the user API last told it (see shared.auth.accounts). An account
    without a row has never changed: its tokens count."""

    __tablename__ = "accounts"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    subject: Mapped[str | None] = mapped_column(String(255))
    standing: Mapped[str] = mapped_column(String(16))
    tokens_valid_after: Mapped[int] = mapped_column(BigInteger)
    revision: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


__all__ = ["Base", "QueuedJob", "Attempt", "AttemptLog", "StatusOutbox", "Account", "utcnow"]
