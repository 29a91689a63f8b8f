"""Matching and claim order: the Python rules, and the SQL the claim runs agreeing with them
(on an in-memory SQLite database; no server needed; the PostgreSQL claim is exercised by
the integration tests of the claim)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.jobs.specs import Environment
from workerfacing_api.db.models import Base, QueuedJob
from workerfacing_api.services.queue import (
    WorkerOffer,
    candidates,
    matches,
    order_key,
)

NOW = dt.datetime(2030, 1, 1, 12, 0, 0)


def job(id: int = 1, **columns: Any) -> QueuedJob:
    values: dict[str, Any] = dict(
        id=id,
        job_id=id,
        spec={},
        paths_upload={},
        environment="any",
        group=None,
        priority=5,
        cpu_cores=None,
        memory=None,
        gpu_mem=None,
        gpu_model=None,
        gpu_archi=None,
        gpus=0,
        runner="docker",
        status="queued",
        attempt=0,
        created_at=NOW - dt.timedelta(seconds=10),
        updated_at=NOW,
        tried_workers=[],
    )
    values.update(columns)
    return QueuedJob(**values)


def offer(**fields: Any) -> WorkerOffer:
    values: dict[str, Any] = dict(
        worker_id="w", environment=Environment.local, memory=8000, cpu_cores=4, gpu_mem=0
    )
    values.update(fields)
    return WorkerOffer(**values)


@pytest.mark.parametrize(
    ("column", "needs", "has", "ok"),
    [
        ("cpu_cores", 4, 4, True),
        ("cpu_cores", 5, 4, False),
        ("cpu_cores", None, 0, True),
        ("memory", 8000, 8000, True),
        ("memory", 8001, 8000, False),
        ("gpu_mem", 0, 0, True),
        ("gpu_mem", 1, 0, False),
        ("gpu_mem", None, 0, True),
        ("gpu_model", "A100", "A100", True),
        ("gpu_model", "A100", "V100", False),
        ("gpu_model", "A100", None, False),
        ("gpu_model", None, "A100", True),
        ("gpu_archi", "ampere", "ampere", True),
        ("gpu_archi", "ampere", None, False),
    ],
)
def test_hardware(column: str, needs: Any, has: Any, ok: bool) -> None:
    assert matches(job(**{column: needs}), offer(**{column: has}), NOW) is ok


@pytest.mark.parametrize(
    ("job_env", "worker_env", "age", "older_than", "ok"),
    [
        ("local", Environment.local, 0, 0, True),
        ("local", Environment.local, 0, 600, True),  # own environment: no waiting
        ("cloud", Environment.local, 10_000, 0, False),  # never the other environment
        ("local", Environment.cloud, 10_000, 0, False),
        ("any", Environment.cloud, 0, 0, True),
        ("any", Environment.cloud, 59, 60, False),  # head start for the others
        ("any", Environment.cloud, 60, 60, True),
    ],
)
def test_environment(
    job_env: str, worker_env: Environment, age: int, older_than: int, ok: bool
) -> None:
    queued = job(environment=job_env, created_at=NOW - dt.timedelta(seconds=age))
    assert matches(queued, offer(environment=worker_env, older_than=older_than), NOW) is ok


@pytest.mark.parametrize(
    ("group", "groups", "ok"),
    [
        (None, (), True),
        (None, ("a",), True),
        ("a", (), False),
        ("a", ("b",), False),
        ("a", ("b", "a"), True),
    ],
)
def test_groups(group: str | None, groups: tuple[str, ...], ok: bool) -> None:
    assert matches(job(group=group), offer(groups=groups), NOW) is ok


@pytest.mark.parametrize("status", ["pulled", "running", "finished", "canceled"])
def test_only_queued_jobs(status: str) -> None:
    assert not matches(job(status=status), offer(), NOW)


def test_order_group_then_priority_then_untried_then_age() -> None:
    w = offer(groups=("g",))
    old, young = NOW - dt.timedelta(hours=1), NOW - dt.timedelta(minutes=1)
    jobs = [
        job(1, priority=5, created_at=old),
        job(2, priority=5, created_at=young),
        job(3, priority=5, created_at=old, tried_workers=["w"]),
        job(4, priority=1, created_at=old, group="g"),
        job(5, priority=9, created_at=young),
        job(6, priority=5, created_at=young, tried_workers=["other"]),
        job(7, priority=5, created_at=old),  # same age as 1: queue id breaks the tie
    ]
    assert [j.id for j in sorted(jobs, key=lambda j: order_key(j, w))] == [4, 5, 1, 7, 2, 6, 3]


# --- the SQL agrees with the Python -------------------------------------------


def in_memory_session() -> Iterator[Session]:
    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        yield s
    engine.dispose()


session = pytest.fixture(in_memory_session, scope="module", name="session")


def job_grid() -> list[QueuedJob]:
    """Jobs over every combination of the values that matter, a few of each."""
    rows = []
    combos = itertools.product(
        ["local", "cloud", "any"],
        [None, "g"],
        [None, 2, 8],
        [None, 4000, 9000],
        [None, 0, 2000],
        [None, "A100"],
        [None, "ampere"],
        [0, 5],
    )
    for n, (env, group, cpu, mem, gmem, model, archi, prio) in enumerate(combos, start=1):
        tried = ["w"] if n % 5 == 0 else (['x_y%z"q'] if n % 7 == 0 else [])
        rows.append(
            job(
                n,
                environment=env,
                group=group,
                cpu_cores=cpu,
                memory=mem,
                gpu_mem=gmem,
                gpu_model=model,
                gpu_archi=archi,
                priority=prio,
                gpus=n % 3,
                runner="process" if n % 7 == 3 else "docker",
                created_at=NOW - dt.timedelta(seconds=(n * 7919) % 300),
                tried_workers=tried,
                attempt=len(tried),  # a job someone tried has had an attempt
                status="queued" if n % 11 else "running",
            )
        )
    return rows


OFFERS = [
    offer(),
    offer(environment=Environment.cloud, older_than=120),
    offer(
        cpu_cores=8, memory=9000, gpu_mem=4000, gpu_model="A100", gpu_archi="ampere", groups=("g",)
    ),
    offer(worker_id='x_y%z"q', gpu_model="A100", older_than=1000),
    offer(cpu_cores=0, memory=0, gpu_mem=0),
    offer(gpus=0),
    offer(cpu_cores=8, memory=9000, gpus=1, groups=("g",)),
    offer(runners=("process",)),
    offer(runners=("process", "docker"), older_than=30),
    offer(groups=("h", "g"), memory=9000, gpu_model="A100"),
]


@pytest.mark.parametrize("limit", [1, 7, 10_000])
@pytest.mark.parametrize("worker", OFFERS, ids=lambda o: f"{o.environment.value}-{o.cpu_cores}")
def test_sql_selects_and_orders_like_python(
    session: Session, worker: WorkerOffer, limit: int
) -> None:
    """The claim's index passes pick exactly the first `limit` jobs of `order_key`."""
    grid = job_grid()
    if not session.scalar(sa.select(sa.func.count()).select_from(QueuedJob)):
        session.add_all(job_grid())
        session.commit()
    expected = [
        j.id
        for j in sorted(
            (j for j in grid if matches(j, worker, NOW)), key=lambda j: order_key(j, worker)
        )
    ]
    got = [j.id for j in candidates(session, worker, limit, NOW)]
    assert expected, "the grid should hold some matching jobs"
    assert len(expected) < len(grid), "and some that do not match"
    assert got == expected[:limit]


fresh = pytest.fixture(in_memory_session, name="fresh")  # one per test


def test_a_tried_group_job_beats_a_tried_job_without_group_of_higher_priority(
    fresh: Session,
) -> None:
    fresh.add_all(
        [
            job(1, group="g", priority=0, tried_workers=["w"], attempt=1),
            job(2, group=None, priority=9, tried_workers=["w"], attempt=1),
        ]
    )
    fresh.flush()
    assert [j.id for j in candidates(fresh, offer(groups=("g",)), 1, NOW)] == [1]


def test_a_group_listed_twice_gives_each_job_once(fresh: Session) -> None:
    fresh.add_all([job(1, group="g"), job(2, group="g")])
    fresh.flush()
    assert [j.id for j in candidates(fresh, offer(groups=("g", "g")), 5, NOW)] == [1, 2]
