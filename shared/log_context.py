"""Structured logs: which job (and attempt) a log line is about, and JSON lines.

Code that works on one job binds it for the current thread or task
(:func:`bind_job`, :func:`job_context`, or, for API requests on `/jobs/{id}/…`,
:class:`JobContextMiddleware`); :class:`JobContextFilter`, installed on the log
handlers by :func:`shared.logs.configure_logging`, copies the binding into every
record as `job_id` and `attempt`, and :class:`JsonFormatter` writes each record
as one JSON object per line. A record given `extra=job_fields(...)` keeps its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
from collections.abc import Iterator
from contextvars import ContextVar, Token
from typing import Any

JobRef = tuple[int | str, int | None]

_current: ContextVar[JobRef | None] = ContextVar("labcloud_job", default=None)

# Attributes every LogRecord has: anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


def _job_key(job_id: int | str) -> int | str:
    # labcloud's job keys are the user-side ids; log them as numbers, as the APIs do.
    return int(job_id) if isinstance(job_id, str) and job_id.isdigit() else job_id


def bind_job(job_id: int | str, attempt: int | None = None) -> Token[JobRef | None]:
    """From now on (in this thread or task), log lines are about `job_id`/`attempt`."""
    return _current.set((_job_key(job_id), attempt))


def unbind_job(token: Token[JobRef | None]) -> None:
    _current.reset(token)


@contextlib.contextmanager
def job_context(job_id: int | str, attempt: int | None = None) -> Iterator[None]:
    """Log lines inside the block are about `job_id`/`attempt`."""
    token = bind_job(job_id, attempt)
    try:
        yield
    finally:
        _current.reset(token)


def current_job() -> JobRef | None:
    """The (job id, attempt) bound here, if any."""
    return _current.get()


def job_fields(job_id: int | str, attempt: int | None = None) -> dict[str, Any]:
    """`extra=` for one log call about a job, where nothing is bound."""
    return {"job_id": _job_key(job_id), "attempt": attempt}


class JobContextFilter(logging.Filter):
    """Copies the bound job into each record as `job_id` and `attempt` (None when no
    job is bound), so that formatters can always name them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "job_id"):
            job_id, attempt = _current.get() or (None, None)
            record.job_id, record.attempt = job_id, attempt
        elif not hasattr(record, "attempt"):
            record.attempt = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the
    job and attempt when the line is about one, anything passed as `extra=`, and the
    exception's traceback."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        job_id = getattr(record, "job_id", None)
        attempt = getattr(record, "attempt", None)
        if job_id is None and (bound := _current.get()) is not None:
            job_id, attempt = bound  # no filter on this handler: read the binding here
        if job_id is not None:
            data["job_id"], data["attempt"] = job_id, attempt
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in ("job_id", "attempt") and key not in data:
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str)


def install(handler: logging.Handler, fmt: str = "text") -> None:
    """Give `handler` the job filter (once) and, for `fmt="json"`, the JSON formatter."""
    if not any(isinstance(f, JobContextFilter) for f in handler.filters):
        handler.addFilter(JobContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())


# `/jobs/{id}/…` (workers, users) and `/_jobs/{id}/…` (the other API).
JOB_PATH = re.compile(r"^/_?jobs/(\d+)(?:/|$)")
ATTEMPT_HEADER = b"x-labcloud-attempt"


class JobContextMiddleware:
    """ASGI middleware: a request on `/jobs/{id}/…` or `/_jobs/{id}/…` is about job `id`
    (and the attempt of its `X-Labcloud-Attempt` header), for every log line written
    while it is served."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        match = JOB_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        attempt = None
        for name, value in scope.get("headers", ()):
            if name == ATTEMPT_HEADER and value.isdigit():
                attempt = int(value)
        with job_context(int(match.group(1)), attempt):
            await self.app(scope, receive, send)
