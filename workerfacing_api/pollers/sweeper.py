"""The lease sweeper: one round requeues (or fails) every job whose lease ran out or
that overstayed the time limit of its state."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import sessionmaker

from workerfacing_api.db.models import utcnow
from workerfacing_api.db.session import write_session
from workerfacing_api.services.leases import SweepReport, TimeLimits, sweep
from workerfacing_api.settings import WorkerAPISettings

log = logging.getLogger(__name__)

__all__ = ["SweepReport", "TimeLimits", "run_once", "time_limits"]


def time_limits(settings: WorkerAPISettings) -> TimeLimits:
    """The per-state time limits the settings give (STAGING_TIME_LIMIT, …)."""
    return TimeLimits(
        staging=settings.staging_time_limit,
        upload=settings.upload_time_limit,
        running_grace=settings.running_grace,
    )


def run_once(
    sessions: sessionmaker,
    *,
    max_retries: int,
    limits: TimeLimits,
    now: dt.datetime | None = None,
) -> SweepReport:
    """One sweep at `now` (default: the current time). Safe to run concurrently."""
    with write_session(sessions) as session:
        report = sweep(session, now or utcnow(), max_retries, limits)
    if report.requeued or report.failed:
        log.info("lease sweep: requeued %s, failed %s", report.requeued, report.failed)
    return report
