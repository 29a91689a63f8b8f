"""The lease sweeper: one round requeues (or fails) every job whose lease ran out."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import sessionmaker

from workerfacing_api.db.models import utcnow
from workerfacing_api.db.session import write_session
from workerfacing_api.services.leases import SweepReport, sweep

log = logging.getLogger(__name__)


def run_once(
    sessions: sessionmaker, *, max_retries: int, now: dt.datetime | None = None
) -> SweepReport:
    """One sweep at `now` (default: the current time). Safe to run concurrently."""
    with write_session(sessions) as session:
        report = sweep(session, now or utcnow(), max_retries)
    if report.requeued or report.failed:
        log.info("lease sweep: requeued %s, failed %s", report.requeued, report.failed)
    return report
