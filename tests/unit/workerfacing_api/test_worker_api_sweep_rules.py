"""The sweep's rules: which jobs are overdue and why (`verdict`, in Python), and the SQL
that finds them (`due_clause`) agreeing with it (on an in-memory SQLite database; the
PostgreSQL form is exercised by the integration tests)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from workerfacing_api.db.models import Base, QueuedJob
from workerfacing_api.services.leases import LEASED_VALUES, TimeLimits, due_clause, verdict

NOW = dt.datetime(2030, 1, 1, 12, 0, 0)
LIMITS = TimeLimits(staging=100, upload=200, running_grace=30)


def ago(seconds: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=seconds)


def job(id: int = 1, **columns: Any) -> QueuedJob:
    values: dict[str, Any] = dict(
        id=id,
        job_id=id,
        spec={},
        paths_upload={},
        environment="any",
        priority=5,
        status="running",
        attempt=1,
        attempt_base=0,
        worker_id="w",
        created_at=ago(5000),
        updated_at=NOW,
        status_changed_at=ago(1),
        lease_expires_at=NOW + dt.timedelta(seconds=60),
        timeout_s=None,
        tried_workers=["w"],
    )
    values.update(columns)
    return QueuedJob(**values)


@pytest.mark.parametrize("status", ["pulled", "preprocessing"])
def test_staging_longer_than_its_limit_is_stuck(status: str) -> None:
    assert verdict(job(status=status, status_changed_at=ago(99)), NOW, LIMITS) is None
    found = verdict(job(status=status, status_changed_at=ago(101.5)), NOW, LIMITS)
    assert found is not None
    assert (found.cause, found.outcome, found.final) == (
        f"stuck in {status} for 101 s on worker w",
        "stuck",
        False,
    )


def test_uploading_has_its_own_limit() -> None:
    assert verdict(job(status="postprocessing", status_changed_at=ago(150)), NOW, LIMITS) is None
    found = verdict(job(status="postprocessing", status_changed_at=ago(201)), NOW, LIMITS)
    assert found is not None and found.outcome == "stuck"


def test_running_is_limited_only_by_the_jobs_timeout() -> None:
    assert verdict(job(status_changed_at=ago(10**6)), NOW, LIMITS) is None  # no timeout
    assert verdict(job(timeout_s=600, status_changed_at=ago(629)), NOW, LIMITS) is None
    found = verdict(job(timeout_s=600, status_changed_at=ago(640)), NOW, LIMITS)
    assert found is not None
    assert (found.cause, found.outcome, found.final) == (
        "timeout: still running 40 s after its 600 s limit",
        "timeout",
        True,
    )


def test_an_expired_lease_is_lost() -> None:
    found = verdict(job(lease_expires_at=ago(1)), NOW, LIMITS)
    assert found is not None
    assert (found.cause, found.outcome, found.final) == (
        "lease expired on worker w",
        "expired",
        False,
    )


@pytest.mark.parametrize(
    ("columns", "outcome"),
    [
        # lease out at -50, staging limit reached at -20: the lease decides
        (
            {"status": "preprocessing", "status_changed_at": ago(120), "lease_expires_at": ago(50)},
            "expired",
        ),
        # staging limit reached at -50, lease out at -5: stuck
        ({"status": "pulled", "status_changed_at": ago(150), "lease_expires_at": ago(5)}, "stuck"),
        # running: timeout at -70 (600 + 30 after -700), lease out at -10: timeout
        ({"timeout_s": 600, "status_changed_at": ago(700), "lease_expires_at": ago(10)}, "timeout"),
        # lease out at -100, timeout at -70: lost, not overrun
        (
            {"timeout_s": 600, "status_changed_at": ago(700), "lease_expires_at": ago(100)},
            "expired",
        ),
    ],
)
def test_the_cause_that_fell_due_first_decides(columns: dict[str, Any], outcome: str) -> None:
    found = verdict(job(**columns), NOW, LIMITS)
    assert found is not None and found.outcome == outcome


@pytest.fixture
def session() -> Iterator[Session]:
    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


def test_the_sql_finds_exactly_the_jobs_the_rules_act_on(session: Session) -> None:
    statuses = [*LEASED_VALUES, "queued", "error"]
    in_state = [0.5, 50, 99.5, 101, 150, 199, 201.5, 400, 629.5, 631, 1000]
    timeouts = [None, 0, 60, 600]
    leases: list[float | None] = [-10, 10, None]
    jobs = [
        job(
            id=n,
            status=status,
            status_changed_at=ago(age),
            timeout_s=timeout,
            lease_expires_at=None if lease is None else NOW + dt.timedelta(seconds=lease),
        )
        for n, (status, age, timeout, lease) in enumerate(
            itertools.product(statuses, in_state, timeouts, leases), start=1
        )
    ]
    session.add_all(jobs)
    session.flush()
    found = set(
        session.scalars(
            sa.select(QueuedJob.id).where(
                QueuedJob.status.in_(LEASED_VALUES), due_clause(NOW, LIMITS, "sqlite")
            )
        )
    )
    expected = {j.id for j in jobs if j.status in LEASED_VALUES and verdict(j, NOW, LIMITS)}
    assert found == expected
    assert 0 < len(expected) < len(jobs)
