"""3. Claim cost against queue depth: the time of one claim with 100, 10,000 and 100,000
queued jobs (mixed requirements). Target: at 100,000 no more than 2× the time at 100.

The claim is the worker API's own `queue.claim` (select, lease, attempt, outbox
event, flush) on a database filled directly through the models; each timed claim is
rolled back, so the depth stays exactly what it says. The query plan at the
deepest queue is kept with the figures: a sequential scan or a sort of every
queued job is what makes the cost grow with the depth.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

import sqlalchemy as sa

from bench import seed
from bench.config import BenchConfig
from bench.result import Figure, Target, figure, percentile, rounded
from bench.stack import DB_NAMES, databases
from shared import db
from shared.jobs.specs import Environment
from workerfacing_api.db.models import utcnow
from workerfacing_api.db.session import upgrade
from workerfacing_api.services import queue

NAME = "claim_depth"
RATIO_TARGET = Target("<=", 2.0)


def run(cfg: BenchConfig) -> list[Figure]:
    return cfg.per_db(NAME, lambda kind: measure(cfg, kind))


def offers() -> dict[str, queue.WorkerOffer]:
    """A big worker (matches most jobs) and a narrow one (one GPU model, little memory)."""
    return {
        "big": queue.WorkerOffer(
            worker_id="depth-big",
            environment=Environment.local,
            memory=64000,
            cpu_cores=8,
            groups=("lab-a",),
        ),
        "narrow": queue.WorkerOffer(
            worker_id="depth-narrow",
            environment=Environment.cloud,
            memory=4000,
            cpu_cores=2,
            gpu_mem=16000,
            gpu_model="T4",
            gpus=1,
        ),
    }


def time_claims(sessions: Any, offer: queue.WorkerOffer, count: int) -> list[float]:
    """Seconds per claim of one job, each rolled back."""
    times = []
    for _ in range(count):
        with sessions() as session:
            began = time.perf_counter()
            queue.claim(session, offer, 1, 60, utcnow())
            times.append(time.perf_counter() - began)
            session.rollback()
    return times


def plan(engine: sa.Engine, offer: queue.WorkerOffer) -> list[str]:
    """The database's plan for each SELECT that one claim sends (caught on the wire, so
    it is the query the code runs, whatever its shape)."""
    sent: list[tuple[str, Any]] = []

    def catch(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "queued_jobs" in statement:
            sent.append((statement, params))

    sessions = db.make_sessionmaker(engine)
    sa.event.listen(engine, "before_cursor_execute", catch)
    try:
        with sessions() as session:
            queue.claim(session, offer, 1, 60, utcnow())
            session.rollback()
    finally:
        sa.event.remove(engine, "before_cursor_execute", catch)
    explain = "EXPLAIN " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    lines: list[str] = []
    with engine.connect() as conn:
        for n, (statement, params) in enumerate(sent, 1):
            lines.append(f"query {n}:")
            rows = conn.exec_driver_sql(explain + statement, params).all()
            lines += [str(row[-1])[:160] for row in rows]
    return lines


def measure(cfg: BenchConfig, kind: str) -> list[Figure]:
    depths = cfg.size((100, 1_000, 10_000), (100, 10_000, 100_000))
    claims = cfg.size(20, 60)
    rng = random.Random(7)
    per_depth: dict[int, dict[str, list[float]]] = {}
    plans: dict[str, list[str]] = {}
    with databases(kind, cfg.workdir(f"{NAME}-{kind}")) as (_, url):
        upgrade(url)
        engine = db.make_engine(url)
        sessions = db.make_sessionmaker(engine)
        try:
            seeded = 0
            for depth in depths:
                ids = range(seeded + 1, depth + 1)
                seed.queued_jobs(url, ids, [seed.mixed(rng) for _ in ids])
                seeded = depth
                per_depth[depth] = {}
                for label, offer in offers().items():
                    time_claims(sessions, offer, 3)  # warm the caches
                    runs = [
                        statistics.median(time_claims(sessions, offer, claims))
                        for _ in range(cfg.runs)
                    ]
                    per_depth[depth][label] = runs
                cfg.say(
                    f"  {depth:>7} queued: one claim "
                    f"{statistics.median(per_depth[depth]['big']) * 1000:.2f} ms (big worker), "
                    f"{statistics.median(per_depth[depth]['narrow']) * 1000:.2f} ms (narrow)"
                )
            plans = {label: plan(engine, offer) for label, offer in offers().items()}
        finally:
            engine.dispose()
    name = DB_NAMES[kind]
    shallow, deep = depths[0], depths[-1]
    figures = [
        figure(
            f"{NAME}.{kind}.{depth}",
            f"claim depth: one claim, {depth:,} queued ({name})",
            "ms",
            [t * 1000 for t in per_depth[depth]["big"]],
            None,
            narrow_worker_ms=[rounded(t * 1000) for t in per_depth[depth]["narrow"]],
            claims_per_run=claims,
        )
        for depth in depths
    ]
    ratios = [d / s for d, s in zip(per_depth[deep]["big"], per_depth[shallow]["big"], strict=True)]
    narrow = [
        d / s for d, s in zip(per_depth[deep]["narrow"], per_depth[shallow]["narrow"], strict=True)
    ]
    figures.append(
        figure(
            f"{NAME}.{kind}.ratio",
            f"claim depth: {deep:,} vs {shallow:,} queued, time ratio ({name})",
            "×",
            ratios,
            RATIO_TARGET,
            narrow_worker_ratio=rounded(percentile(narrow, 50)),
            plan_big_worker=plans.get("big"),
            plan_narrow_worker=plans.get("narrow"),
        )
    )
    return figures
