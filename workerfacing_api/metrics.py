"""The worker API's Prometheus metrics (served at `GET /metrics`, see `shared.metrics`).

Read from the queue database at scrape time:
- `labcloud_queue_depth{environment}`: queued jobs by environment (local, cloud, any);
- `labcloud_queue_oldest_age_seconds{environment}`: how long the job queued longest
  has waited since it was (last) queued, by environment (0 when none waits);
- `labcloud_leased_jobs{status}`: jobs a worker holds, by status;
- `labcloud_status_outbox_backlog`, `labcloud_status_outbox_oldest_age_seconds`:
  status changes the user API has not yet acknowledged, and how long the oldest
  has waited (0 when none).

Observed in this process:
- `labcloud_claim_duration_seconds{outcome}`: one claim transaction of `GET /jobs`
  (`claimed` at least one job, or `empty`); `labcloud_jobs_claimed_total`;
- `labcloud_job_start_latency_seconds{retry}`: from submission (the job's
  `date_created`) to its run starting (`running`), observed when the move is
  committed; `retry="false"` for the job's first lease, `"true"` for later ones;
- `labcloud_submission_conflicts_total`: submissions refused because their job id is
  known from another submission (the user API's database was reset or restored);
- `labcloud_http_requests_total`, `labcloud_http_request_duration_seconds`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import Metric
from sqlalchemy import event, func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from shared import metrics
from shared.jobs.specs import Environment
from shared.jobs.states import JobStatus
from shared.metrics import DatabaseCollector, HttpMetrics, gauge, labelled_gauge, seconds_since
from shared.settings import APISettings
from shared.transport.base import MessageHandler, TransportMessage
from workerfacing_api.db.models import QueuedJob, StatusOutbox, utcnow
from workerfacing_api.services.inbox import SubmissionConflict
from workerfacing_api.services.leases import LEASED_VALUES

# Seconds: a job may start at once on an idle platform or wait hours for a GPU.
START_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
_STARTS = "labcloud.metrics.starts"  # Session.info key: start latencies awaiting commit

_QUEUE = ("labcloud_queue_depth", "Queued jobs by environment (worker database).")
_QUEUE_AGE = (
    "labcloud_queue_oldest_age_seconds",
    "Seconds the job queued longest has waited since it was queued, by environment "
    "(0 when none waits).",
)
_LEASED = ("labcloud_leased_jobs", "Jobs held by a worker, by status.")
_OUTBOX = (
    "labcloud_status_outbox_backlog",
    "Status changes the user API has not yet acknowledged.",
)
_OUTBOX_AGE = (
    "labcloud_status_outbox_oldest_age_seconds",
    "Seconds the oldest unacknowledged status change has waited (0 when there is none).",
)


@dataclass
class ClaimTiming:
    jobs: int = 0  # how many jobs the claim leased: set by the caller


class WorkerAPIMetrics:
    """The worker API's registry and the metrics its code paths feed."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http = HttpMetrics(self.registry)
        self.claim_duration = Histogram(
            "labcloud_claim_duration_seconds",
            "Time of one claim transaction of GET /jobs (claimed: at least one job leased).",
            ["outcome"],
            registry=self.registry,
        )
        self.jobs_claimed = Counter(
            "labcloud_jobs_claimed", "Jobs leased to workers.", registry=self.registry
        )
        self.start_latency = Histogram(
            "labcloud_job_start_latency_seconds",
            "Seconds from a job's submission to its run starting (running); retry=true "
            "for a start after the job's first lease.",
            ["retry"],
            buckets=START_BUCKETS,
            registry=self.registry,
        )
        self.submission_conflicts = Counter(
            "labcloud_submission_conflicts",
            "Submissions refused because their job id is known from another submission "
            "(the user API's database was reset or restored).",
            registry=self.registry,
        )

    def counting_conflicts(self, handler: MessageHandler) -> MessageHandler:
        """`handler`, counting the submissions it refuses as id collisions."""

        def handle(message: TransportMessage) -> None:
            try:
                handler(message)
            except SubmissionConflict:
                self.submission_conflicts.inc()
                raise

        return handle

    def install(self, app: FastAPI, sessions: sessionmaker, settings: APISettings) -> None:
        """Serve `GET /metrics` on `app` (unless METRICS_ENABLED is off), with the gauges
        read from the database behind `sessions`."""
        if settings.metrics_enabled:
            self.watch(sessions)
            metrics.install(app, self.registry, self.http, settings)

    def watch(self, sessions: sessionmaker) -> None:
        """Read the gauges from the database behind `sessions` at each scrape, and observe
        the start latency of every job that a commit of `sessions` moves to `running`."""
        self.registry.register(DatabaseCollector(sessions, read_gauges, describe_gauges))
        _watch_starts(sessions, self.start_latency)

    @contextlib.contextmanager
    def timing_claim(self) -> Iterator[ClaimTiming]:
        """Time the claim inside the block; the caller sets `.jobs` to what it leased."""
        timing = ClaimTiming()
        started = time.perf_counter()
        try:
            yield timing
        finally:
            outcome = "claimed" if timing.jobs else "empty"
            self.claim_duration.labels(outcome).observe(time.perf_counter() - started)
            self.jobs_claimed.inc(timing.jobs)


def start_latency(job: QueuedJob) -> float:
    """Seconds from the job's submission to its last status change (its start)."""
    submitted = job.created_at  # when this API got it, if the spec does not say
    created = (job.spec.get("job") or {}).get("meta", {}).get("date_created")
    if isinstance(created, str):
        try:
            parsed = dt.datetime.fromisoformat(created)
        except ValueError:
            parsed = None
        if parsed is not None:
            if parsed.tzinfo is not None:  # the database keeps naive UTC
                parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
            submitted = parsed
    return seconds_since(submitted, job.status_changed_at or utcnow())


def _watch_starts(sessions: sessionmaker, histogram: Histogram) -> None:
    # Noted at flush (while the change history is there), observed only after the commit.
    @event.listens_for(sessions, "after_flush")
    def _note(session: Session, _context: object) -> None:
        for obj in session.dirty:
            if isinstance(obj, QueuedJob):
                if JobStatus.running.value in inspect(obj).attrs.status.history.added:
                    retry = "true" if obj.attempt > 1 else "false"
                    session.info.setdefault(_STARTS, []).append((retry, start_latency(obj)))

    @event.listens_for(sessions, "after_commit")
    def _observe(session: Session) -> None:
        for retry, seconds in session.info.pop(_STARTS, ()):
            histogram.labels(retry).observe(seconds)

    @event.listens_for(sessions, "after_rollback")
    def _forget(session: Session) -> None:
        session.info.pop(_STARTS, None)


def describe_gauges() -> Iterable[Metric]:
    yield labelled_gauge(*_QUEUE, "environment", {})
    yield labelled_gauge(*_QUEUE_AGE, "environment", {})
    yield labelled_gauge(*_LEASED, "status", {})
    yield gauge(*_OUTBOX)
    yield gauge(*_OUTBOX_AGE)


def read_gauges(session: Session) -> Iterator[Metric]:
    """The gauges, from counts the claim and relay indexes serve."""
    now = utcnow()
    queued = session.execute(
        select(QueuedJob.environment, func.count(), func.min(QueuedJob.status_changed_at))
        .where(QueuedJob.status == JobStatus.queued.value)
        .group_by(QueuedJob.environment)
    ).all()
    environments = [e.value for e in Environment]
    depth = {env: count for env, count, _oldest in queued}
    yield labelled_gauge(*_QUEUE, "environment", depth, environments)
    ages = {env: seconds_since(oldest, now) for env, _count, oldest in queued if oldest}
    yield labelled_gauge(*_QUEUE_AGE, "environment", ages, environments)  # type: ignore[arg-type]
    leased = session.execute(
        select(QueuedJob.status, func.count())
        .where(QueuedJob.status.in_(LEASED_VALUES))
        .group_by(QueuedJob.status)
    ).all()
    yield labelled_gauge(*_LEASED, "status", dict(leased), LEASED_VALUES)  # type: ignore[arg-type]
    backlog, oldest = session.execute(
        select(func.count(), func.min(StatusOutbox.created_at)).where(
            StatusOutbox.delivered_at.is_(None)
        )
    ).one()
    yield gauge(*_OUTBOX, backlog)
    yield gauge(*_OUTBOX_AGE, seconds_since(oldest, now) if oldest else 0.0)
