"""The user API's Prometheus metrics (served at `GET /metrics`, see `shared.metrics`).

Read from the user database at scrape time:
- `labcloud_jobs{status}`: jobs by status (every status, 0 included);
- `labcloud_job_outbox_backlog`, `labcloud_job_outbox_oldest_age_seconds`: job
  specs and cancels not yet accepted by the worker API, and how long the oldest
  has waited (0 when none);
- `labcloud_emails{state}`: job emails `due`, being sent (`sending`) and given up
  on (`failed`).

Counted in this process:
- `labcloud_emails_sent_total`, `labcloud_email_failures_total{reason}`: sends,
  and failed attempts (`retry_later`: deferred, e.g. rate-limited; `error`: given up);
- `labcloud_http_requests_total`, `labcloud_http_request_duration_seconds`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shared import metrics
from shared.email.base import EmailSender, RetryLater
from shared.jobs.states import JobStatus
from shared.metrics import DatabaseCollector, HttpMetrics, gauge, labelled_gauge, seconds_since
from shared.settings import APISettings
from userfacing_api.db.models import Job, Notification, OutboxMessage, utcnow

EMAIL_STATES = ("due", "sending", "failed")  # not `sent`: that count only ever grows

_JOBS = ("labcloud_jobs", "Jobs by status (user database).")
_OUTBOX = (
    "labcloud_job_outbox_backlog",
    "Job specs and cancels the worker API has not yet accepted.",
)
_OUTBOX_AGE = (
    "labcloud_job_outbox_oldest_age_seconds",
    "Seconds the oldest message of the job outbox has waited (0 when it is empty).",
)
_EMAILS = ("labcloud_emails", "Job emails by state: due, sending, failed (given up).")


class UserAPIMetrics:
    """The user API's registry and the metrics its code paths feed."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http = HttpMetrics(self.registry)
        self.emails_sent = Counter(
            "labcloud_emails_sent", "Job emails sent by this process.", registry=self.registry
        )
        self.email_failures = Counter(
            "labcloud_email_failures",
            "Failed email sends by this process: retry_later (deferred, retried) or "
            "error (given up).",
            ["reason"],
            registry=self.registry,
        )
        for reason in ("retry_later", "error"):
            self.email_failures.labels(reason)

    def install(self, app: FastAPI, sessions: sessionmaker, settings: APISettings) -> None:
        """Serve `GET /metrics` on `app` (unless METRICS_ENABLED is off), with the gauges
        read from the database behind `sessions`."""
        if settings.metrics_enabled:
            self.watch(sessions)
            metrics.install(app, self.registry, self.http, settings)

    def watch(self, sessions: sessionmaker) -> None:
        """Read the gauges from the database behind `sessions` at each scrape."""
        self.registry.register(DatabaseCollector(sessions, read_gauges, describe_gauges))

    def count_emails(self, sender: EmailSender | None) -> EmailSender | None:
        """`sender`, counting its sends and failures here."""
        return None if sender is None else CountingEmailSender(sender, self)


class CountingEmailSender:
    """An EmailSender that counts what the one it wraps does."""

    def __init__(self, inner: EmailSender, metrics: UserAPIMetrics) -> None:
        self.inner, self._metrics = inner, metrics

    def send(self, to: str, subject: str, body: str) -> None:
        try:
            self.inner.send(to, subject, body)
        except RetryLater:
            self._metrics.email_failures.labels("retry_later").inc()
            raise
        except Exception:  # EmailError, or a bug in the sender: counted, then raised
            self._metrics.email_failures.labels("error").inc()
            raise
        self._metrics.emails_sent.inc()


def describe_gauges() -> Iterable[Metric]:
    yield labelled_gauge(*_JOBS, "status", {})
    yield gauge(*_OUTBOX)
    yield gauge(*_OUTBOX_AGE)
    yield labelled_gauge(*_EMAILS, "state", {})


def read_gauges(session: Session) -> Iterator[Metric]:
    """The gauges, from indexed counts: jobs by status, the pending outbox, open emails."""
    now = utcnow()
    jobs = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    yield labelled_gauge(*_JOBS, "status", dict(jobs), [s.value for s in JobStatus])  # type: ignore[arg-type]
    backlog, oldest = session.execute(
        select(func.count(), func.min(OutboxMessage.created_at)).where(
            OutboxMessage.delivered_at.is_(None)
        )
    ).one()
    yield gauge(*_OUTBOX, backlog)
    yield gauge(*_OUTBOX_AGE, seconds_since(oldest, now) if oldest else 0.0)
    emails = session.execute(
        select(Notification.state, func.count())
        .where(Notification.state.in_(EMAIL_STATES))
        .group_by(Notification.state)
    ).all()
    yield labelled_gauge(*_EMAILS, "state", dict(emails), EMAIL_STATES)  # type: ignore[arg-type]
