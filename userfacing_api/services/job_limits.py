"""Bounds on what one job may carry, and on how many jobs a user may have waiting.

Both kinds of submission (catalogue jobs and GA4GH TES tasks) check them before anything
of the job is stored: its environment (each value, all of them, how many), how many
inputs it names and how many files they expand to, the size of its spec (which the
worker API must accept within its MAX_REQUEST_BYTES), and how many of the user's jobs
have not ended yet. Each refusal names the setting that sets the bound.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from shared.api.limits import TooLarge, TooMany, size_text
from shared.db import begin_write
from shared.jobs.states import JobStatus
from shared.storage.base import Entry, Storage
from userfacing_api.db.models import Job

NOT_ENDED = tuple(s.value for s in JobStatus if not s.is_terminal)


@dataclass(frozen=True)
class JobLimits:
    max_env_vars: int
    max_env_value_bytes: int
    max_env_bytes: int
    max_inputs: int
    max_input_files: int
    max_spec_bytes: int
    max_queued_jobs: int

    @classmethod
    def from_settings(cls, settings: Any) -> JobLimits:
        return cls(
            max_env_vars=settings.max_job_env_vars,
            max_env_value_bytes=settings.max_env_value_bytes,
            max_env_bytes=settings.max_job_env_bytes,
            max_inputs=settings.max_job_inputs,
            max_input_files=settings.max_job_input_files,
            max_spec_bytes=settings.max_request_bytes,
            max_queued_jobs=settings.max_queued_jobs_per_user,
        )


def check_env(env: Iterable[tuple[str, str]], limits: JobLimits) -> None:
    """The job's environment variables as (name, value) pairs (a TES task: every
    executor's); TooLarge if there are too many, or one value or all are too big."""
    count = total = 0
    for name, value in env:
        count += 1
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > limits.max_env_value_bytes:
            raise TooLarge(
                f"environment variable {name[:64]!r} is {size} bytes; at most "
                f"{size_text(limits.max_env_value_bytes)} per value",
                "MAX_ENV_VALUE_BYTES",
            )
        total += len(name.encode("utf-8", "surrogatepass")) + size
    if count > limits.max_env_vars:
        raise TooLarge(
            f"the job has {count} environment variables; at most {limits.max_env_vars}",
            "MAX_JOB_ENV_VARS",
        )
    if total > limits.max_env_bytes:
        raise TooLarge(
            f"the job's environment is {total} bytes (names and values); at most "
            f"{size_text(limits.max_env_bytes)}",
            "MAX_JOB_ENV_BYTES",
        )


def check_input_count(count: int, limits: JobLimits, what: str = "inputs") -> None:
    """TooLarge if a job names more than `max_inputs` `what`."""
    if count > limits.max_inputs:
        raise TooLarge(
            f"the job names {count} {what}; at most {limits.max_inputs}", "MAX_JOB_INPUTS"
        )


class InputFiles:
    """Counts the files a job's inputs expand to, over all its inputs, and stops a folder's
    listing as soon as they are too many (a huge folder is never walked to its end)."""

    def __init__(self, limits: JobLimits) -> None:
        self.limit = limits.max_input_files
        self.count = 0

    def add(self, count: int = 1) -> None:
        self.count += count
        if self.count > self.limit:
            raise TooLarge(
                f"the job's inputs expand to more than {self.limit} files",
                "MAX_JOB_INPUT_FILES",
            )

    def files_below(self, storage: Storage, folder_key: str) -> list[Entry]:
        """The files below a folder input (at any depth), counted."""
        return list(self._counted(storage.list(folder_key, recursive=True)))

    def _counted(self, entries: Iterator[Entry]) -> Iterator[Entry]:
        for entry in entries:
            if not entry.is_dir:
                self.add()
                yield entry


def check_spec_size(session: Session, payload: dict[str, Any], limits: JobLimits) -> None:
    """TooLarge if the job's spec, as the HTTP transport sends it, is over the worker API's
    MAX_REQUEST_BYTES (both APIs read the same setting); the session's transaction, which
    holds the job not yet committed, is rolled back first."""
    size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())
    if size > limits.max_spec_bytes:
        session.rollback()
        raise TooLarge(
            f"the job's spec (its inputs listed file by file) is {size} bytes; at most "
            f"{size_text(limits.max_spec_bytes)}: name fewer or bigger files",
            "MAX_REQUEST_BYTES",
        )


def reserve_queue_slot(session: Session, user_id: str, limits: JobLimits) -> None:
    """Refuse (TooMany) a new job of a user who has `max_queued_jobs` that have not ended.

    Call it just before the job is added, in the transaction that adds it, before that
    transaction has written anything. It takes the user's submission lock first (SQLite:
    the database's write lock; PostgreSQL: a transaction-level advisory lock per user), so
    that submissions of one user, from any number of API processes, count one after the
    other: the count is right until the commit.
    """
    if session.connection().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(user_id)})
    else:
        begin_write(session)
    count = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.user_id == user_id, Job.status.in_(NOT_ENDED))
    )
    if count is not None and count >= limits.max_queued_jobs:
        session.rollback()  # lets go of the lock at once
        raise TooMany(
            f"you have {count} jobs that have not ended; at most {limits.max_queued_jobs}: "
            "wait for some to end, or cancel some",
            "MAX_QUEUED_JOBS_PER_USER",
        )


def _lock_key(user_id: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks."""
    digest = hashlib.sha256(b"labcloud-submit:" + user_id.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
