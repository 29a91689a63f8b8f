"""Liveness and readiness: what `GET /healthz` and `GET /readyz` answer.

Liveness is "the process answers"; readiness is "it can reach what it needs to serve
requests": its database, its job transport and its storage for the APIs, the worker
API for a worker. A readiness check runs named probes side by side, each bounded by a
timeout, and reuses its answer for a moment, so that a load balancer (or anyone: the
endpoints are public) asking often costs the database one `SELECT 1` per process per
`CACHE_S` at most. A probe that hangs is not started again until it returns.

Answers say which check failed and the kind of failure (an exception's type, an S3
error code, "timed out"), never the message: messages can carry host names, URLs or
credentials, and `/readyz` is served without authentication. The full error is logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: Seconds one probe may take before it counts as failed.
TIMEOUT_S = 3.0
#: Seconds a readiness answer is reused.
CACHE_S = 2.0

Probe = Callable[[], None]
"""Checks one dependency: returns when it is reachable, raises otherwise."""


@dataclass(frozen=True)
class Check:
    """The outcome of one probe: `error` names the kind of failure."""

    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, Check]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks.values())

    @property
    def failing(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check.ok]


class ReadinessProbe:
    """Runs `probes` (name → probe) together; see the module docstring."""

    def __init__(
        self,
        probes: Mapping[str, Probe],
        *,
        timeout_s: float = TIMEOUT_S,
        cache_s: float = CACHE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probes = dict(probes)
        self._timeout_s, self._cache_s, self._clock = timeout_s, cache_s, clock
        self._running: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._last: tuple[float, Readiness] | None = None

    def check(self) -> Readiness:
        """The current readiness (or the one found less than `cache_s` ago)."""
        with self._lock:
            if self._last is not None and self._clock() - self._last[0] < self._cache_s:
                return self._last[1]
            futures = {name: self._start(name) for name in self._probes}
            deadline = self._clock() + self._timeout_s
            checks = {
                name: self._outcome(name, future, deadline) for name, future in futures.items()
            }
            readiness = Readiness(checks)
            self._last = (self._clock(), readiness)
        if not readiness.ready:
            log.warning("not ready: %s", ", ".join(readiness.failing))
        return readiness

    def expire(self) -> None:
        """Forget the last answer: the next check probes again."""
        with self._lock:
            self._last = None

    def _start(self, name: str) -> Future[None]:
        running = self._running.get(name)
        if running is not None and not running.done():
            return running  # still hanging from an earlier check: wait on that one
        # A daemon thread, not a pool's: a probe hanging on a dead host must not hold
        # up the process's exit.
        future: Future[None] = Future()
        probe = self._probes[name]

        def run() -> None:
            try:
                probe()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiter
                future.set_exception(exc)
            else:
                future.set_result(None)

        threading.Thread(target=run, name=f"readiness-{name}", daemon=True).start()
        self._running[name] = future
        return future

    def _outcome(self, name: str, future: Future[None], deadline: float) -> Check:
        try:
            future.result(timeout=max(deadline - self._clock(), 0.0))
        except FutureTimeout:
            return Check(False, f"timed out after {self._timeout_s:g} s")
        except Exception as exc:  # noqa: BLE001 - any failure of the probe is the answer
            log.warning("readiness: %s failed: %r", name, exc)
            return Check(False, failure_kind(exc))
        return Check(True)


def failure_kind(exc: BaseException) -> str:
    """A short name for what went wrong, safe to show anyone (no message text)."""
    if isinstance(exc, HttpUnavailable):
        return str(exc)
    response = getattr(exc, "response", None)  # botocore's ClientError
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    cause = exc.__cause__ or exc.__context__
    name = type(exc).__name__
    if cause is not None and name == "TransportError":  # the broker's own error says more
        return f"{name} ({type(cause).__name__})"
    return name


# --- probes -----------------------------------------------------------------------------


def database_probe(engine: Any) -> Probe:
    """`SELECT 1` on a connection of `engine` (a SQLAlchemy Engine)."""

    def probe() -> None:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    return probe


def storage_probe(storage: Any) -> Probe:
    """List the storage root: a missing local root or S3 bucket, or no access, raises."""

    def probe() -> None:
        entries: Iterator[Any] = iter(storage.list(""))
        next(entries, None)

    return probe


def http_probe(url: str, *, timeout_s: float = TIMEOUT_S) -> Probe:
    """GET `url`: any answer below 500 counts (a 404 is an older server that still
    answers); a 5xx or no answer at all does not."""

    def probe() -> None:
        import httpx

        response = httpx.get(url, timeout=timeout_s)
        if response.status_code >= 500:
            raise HttpUnavailable(f"HTTP {response.status_code}")

    return probe


def transport_probe(settings: Any, *, http_url: str | None = None) -> Probe | None:
    """The probe of an API's job transport (JOB_TRANSPORT): the broker, or with `http`
    the worker API at `http_url` (the user API's side); None when there is nothing
    to reach (in-process, or the receiving side of `http`)."""
    if settings.broker_transport:
        from shared.transport.kombu import probe_broker

        url, queue = settings.job_transport, settings.job_transport_queue
        options = settings.job_transport_options or None

        def probe() -> None:
            probe_broker(url, queue, transport_options=options, timeout_s=TIMEOUT_S)

        return probe
    if settings.job_transport == "http" and http_url:
        return http_probe(http_url.rstrip("/") + "/healthz")
    return None


def api_probes(ctx: Any, transport: Probe | None) -> ReadinessProbe:
    """What an API's `/readyz` checks: its database, its storage, its transport."""
    probes: dict[str, Probe] = {
        "database": database_probe(ctx.engine),
        "storage": storage_probe(ctx.storage),
    }
    if transport is not None:
        probes["transport"] = transport
    return ReadinessProbe(probes)


class HttpUnavailable(RuntimeError):
    """The server answered with a 5xx (e.g. 503: not ready itself)."""

    def __str__(self) -> str:  # the status is safe to show
        return self.args[0] if self.args else "HTTP 5xx"


def report(readiness: Readiness) -> dict[str, Any]:
    """The JSON answer of `/readyz`."""
    return {
        "status": "ready" if readiness.ready else "not ready",
        "checks": {
            name: {"ok": check.ok, "error": check.error}
            for name, check in readiness.checks.items()
        },
    }
