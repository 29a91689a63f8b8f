"""Prometheus metrics both APIs share: HTTP request metrics, gauges read from the
database at scrape time, and the `GET /metrics` route.

Each app has its own `CollectorRegistry` (never prometheus_client's global one), so
apps built side by side (tests, `labcloud up`) do not share or clash over metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from shared.auth.api_key import HEADER, api_key_matches

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
UNMATCHED_ROUTE = "<unmatched>"  # requests no route served: one label, whatever the path


class HttpMetrics:
    """Request count and duration by method, route template and status code."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("method", "route", "status")
        self.requests = Counter(
            "labcloud_http_requests",
            "HTTP requests served, by method, route template and status code.",
            labels,
            registry=registry,
        )
        self.duration = Histogram(
            "labcloud_http_request_duration_seconds",
            "Time to serve an HTTP request (until its last byte), by method, route template "
            "and status code; long polls count their wait.",
            labels,
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route, str(status)).observe(seconds)


def route_template(scope: dict[str, Any]) -> str:
    """The template of the route that served the request (`/jobs/{job_id}/status`), so
    that ids in paths do not make a label value each."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else UNMATCHED_ROUTE


class HttpMetricsMiddleware:
    """ASGI middleware feeding :class:`HttpMetrics` (pure ASGI: streams stay streams)."""

    def __init__(self, app: Any, metrics: HttpMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.observe(
                scope["method"], route_template(scope), status, time.perf_counter() - started
            )


GaugeReader = Callable[[Session], Iterable[Metric]]


class DatabaseCollector(Collector):
    """Gauges computed from the database when Prometheus scrapes: `read(session)` yields
    the metric families (its queries should be indexed counts). If the database cannot
    be read, the families are left out and `labcloud_database_up` is 0."""

    def __init__(
        self, sessions: sessionmaker, read: GaugeReader, describe: Callable[[], Iterable[Metric]]
    ) -> None:
        self._sessions, self._read, self._describe = sessions, read, describe

    def describe(self) -> Iterable[Metric]:
        yield from self._describe()
        yield _database_up(None)

    def collect(self) -> Iterator[Metric]:
        try:
            with self._sessions() as session:
                families = list(self._read(session))
        except Exception as exc:  # noqa: BLE001 - a scrape must answer, and say the DB is down
            log.warning("metrics: cannot read the database: %s", exc)
            yield _database_up(0)
            return
        yield from families
        yield _database_up(1)


def _database_up(value: float | None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "labcloud_database_up", "1 if the last scrape could read this API's database."
    )
    if value is not None:
        family.add_metric([], value)
    return family


def labelled_gauge(
    name: str, documentation: str, label: str, counts: dict[str, int], keys: Iterable[str] = ()
) -> GaugeMetricFamily:
    """A gauge with one sample per `keys` (0 when absent from `counts`) and per other key
    of `counts`."""
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key in dict.fromkeys([*keys, *sorted(counts)]):
        family.add_metric([key], counts.get(key, 0))
    return family


def gauge(name: str, documentation: str, value: float | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation)
    if value is not None:
        family.add_metric([], value)
    return family


def add_metrics_route(app: FastAPI, registry: CollectorRegistry, api_key: str | None) -> None:
    """`GET /metrics` in Prometheus' text format; with `api_key`, only for callers that
    present it (`x-api-key`, or `Authorization: Bearer <key>` as Prometheus sends it)."""

    @app.get(METRICS_PATH, include_in_schema=False)
    def metrics(request: Request) -> Response:  # plain def: the collectors query the DB
        if api_key is not None and not _authorised(request, api_key):
            raise HTTPException(401, "this endpoint needs the internal API key")
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _authorised(request: Request, api_key: str) -> bool:
    given = request.headers.get(HEADER)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        given = given or token
    return api_key_matches(given, api_key)


def install(app: FastAPI, registry: CollectorRegistry, http: HttpMetrics, settings: Any) -> None:
    """Serve `GET /metrics` from `registry` and count every request in `http`, as the
    API's settings say (`METRICS_ENABLED`, `METRICS_REQUIRE_API_KEY`)."""
    if not settings.metrics_enabled:
        return
    add_metrics_route(app, registry, settings.api_key if settings.metrics_require_api_key else None)
    app.add_middleware(HttpMetricsMiddleware, metrics=http)


def seconds_since(then: Any, now: Any) -> float:
    """`now - then` in seconds, never negative (clocks of two processes may differ)."""
    return max((now - then).total_seconds(), 0.0)
