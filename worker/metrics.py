"""The worker's own Prometheus metrics, served on `LABCLOUD_WORKER_METRICS_PORT`.

- `labcloud_worker_running_jobs`: jobs this worker holds now;
- `labcloud_worker_free_slots`: MAX_CONCURRENT_JOBS minus the running jobs;
- `labcloud_worker_jobs_finished_total`, `labcloud_worker_jobs_failed_total`: jobs
  whose final status (`finished`, `error`) this worker reported.

Each worker has its own registry, so several workers in one process (tests,
`labcloud up`) keep their numbers apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve `GET /metrics` on `host:port` in a daemon thread; port 0 = off.

        A port that cannot be bound is logged; the worker runs on without metrics.
        """
        if not port or self._server is not None:
            return
        try:
            self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            log.error("worker: metrics server on %s:%s not started: %s", host, port, exc)
            return
        self.port = self._server.server_address[1]
        log.info("worker: metrics on http://%s:%s/metrics", host, self.port)

    def close(self) -> None:
        """Stop the metrics server, if it runs."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
