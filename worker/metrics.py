"""The worker's own Prometheus metrics, served on `LABCLOUD_WORKER_METRICS_PORT`.

- `labcloud_worker_running_jobs`: jobs this worker holds now;
- `labcloud_worker_free_slots`: MAX_CONCURRENT_JOBS minus the running jobs;
- `labcloud_worker_jobs_finished_total`, `labcloud_worker_jobs_failed_total`: jobs
  whose final status (`finished`, `error`) this worker reported.

The same server answers `GET /healthz` (the process is alive) and `GET /readyz` (the
worker API answers: 200, else 503), for container health checks.

Each worker has its own registry, so several workers in one process (tests,
`labcloud up`) keep their numbers apart.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.health import ReadinessProbe, report
from shared.jobs.states import JobStatus

log = logging.getLogger(__name__)


class _Slots(Collector):
    """Running jobs and free slots, read from the worker when scraped."""

    def __init__(self, running: Callable[[], int], slots: int) -> None:
        self._running, self._slots = running, slots

    def collect(self) -> Iterator[Metric]:
        running = self._running()
        yield GaugeMetricFamily(
            "labcloud_worker_running_jobs", "Jobs this worker holds now.", value=running
        )
        yield GaugeMetricFamily(
            "labcloud_worker_free_slots",
            "Jobs this worker could still take (MAX_CONCURRENT_JOBS minus running jobs).",
            value=max(self._slots - running, 0),
        )


class WorkerMetrics:
    """A worker's registry, its counters, and the HTTP server that exposes them."""

    def __init__(self, running: Callable[[], int], slots: int) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Slots(running, slots))
        self.finished = Counter(
            "labcloud_worker_jobs_finished",
            "Jobs this worker ran to `finished`.",
            registry=self.registry,
        )
        self.failed = Counter(
            "labcloud_worker_jobs_failed",
            "Jobs this worker reported as `error`.",
            registry=self.registry,
        )
        self._server: Any = None
        self.port: int | None = None

    def job_ended(self, final_status: JobStatus | None) -> None:
        """Count a job whose run is over (None: handed back or taken away, not counted)."""
        if final_status is JobStatus.finished:
            self.finished.inc()
        elif final_status is JobStatus.error:
            self.failed.inc()

    def serve(
        self, port: int, host: str = "127.0.0.1", readiness: ReadinessProbe | None = None
    ) -> None:
        """Serve `GET /metrics`, `/healthz` and `/readyz` (from `readiness`) on
        `host:port` in a daemon thread; port 0 = off.

        A port that cannot be bound is logged; the worker runs on without metrics.
        """
        if not port or self._server is not None:
            return
        app = _health_app(make_wsgi_app(self.registry), readiness)
        try:
            self._server = make_server(
                host, port, app, server_class=_Server, handler_class=_QuietHandler
            )
        except OSError as exc:
            log.error("worker: metrics server on %s:%s not started: %s", host, port, exc)
            return
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.port = self._server.server_address[1]
        log.info("worker: metrics on http://%s:%s/metrics", host, self.port)

    def close(self) -> None:
        """Stop the metrics server, if it runs."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow scraper never holds up the worker's exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - one per scrape
        pass


def _health_app(metrics: Any, readiness: ReadinessProbe | None) -> Any:
    """`/healthz` and `/readyz` in front of prometheus_client's WSGI app."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return _json(start_response, "200 OK", {"status": "ok"})
        if path == "/readyz":
            if readiness is None:
                return _json(start_response, "200 OK", {"status": "ready", "checks": {}})
            state = readiness.check()
            status = "200 OK" if state.ready else "503 Service Unavailable"
            return _json(start_response, status, report(state))
        return metrics(environ, start_response)

    return app


def _json(start_response: Callable[..., Any], status: str, body: object) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]
