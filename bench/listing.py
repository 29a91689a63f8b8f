"""8. Listing: `GET /jobs` with 100,000 jobs in the database, the first page and a deep
page, p50.

All 100,000 jobs belong to the user who lists them (the worst case for a deep
page), inserted directly through the models (`bench.seed`), ended (`finished`),
one millisecond apart. Pages are DECODE's default size (100); the deep page is
the last one (`offset` = 99,900). One client asks for the same page repeatedly.
"""

from __future__ import annotations

import time

from bench import seed
from bench.config import BenchConfig
from bench.result import Figure, figure, percentile, rounded
from bench.stack import DB_NAMES, platform

NAME = "listing"
PAGE = 100
USER = "listing@example.org"


def run(cfg: BenchConfig) -> list[Figure]:
    return cfg.per_db(NAME, lambda kind: measure(cfg, kind))


def measure(cfg: BenchConfig, kind: str) -> list[Figure]:
    jobs = cfg.size(5_000, 100_000)
    requests = cfg.size(10, 50)
    pages = {"first": 0, "deep": jobs - PAGE}
    times: dict[str, list[float]] = {label: [] for label in pages}
    with platform(kind, cfg.workdir(f"{NAME}-{kind}"), worker_api=False) as stack:
        http = stack.user_client(USER)
        began = time.monotonic()
        seed.user_jobs(stack.user_db, range(1, jobs + 1), user=USER, status="finished")
        cfg.say(f"  {jobs:,} jobs inserted in {time.monotonic() - began:.1f} s")
        for r in range(cfg.runs):
            for label, offset in pages.items():
                params = {"offset": offset, "limit": PAGE}
                for _ in range(3):  # warm
                    http.get("/jobs", params=params).raise_for_status()
                samples = []
                with cfg.profiling(stack, f"{NAME}-{kind}-{label}-run{r}", "user-api"):
                    for _ in range(requests):
                        t0 = time.perf_counter()
                        response = http.get("/jobs", params=params)
                        samples.append(time.perf_counter() - t0)
                        response.raise_for_status()
                        if len(response.json()) != PAGE:
                            raise RuntimeError(f"{label} page: {len(response.json())} jobs")
                times[label].append(percentile(samples, 50) * 1000)
        cfg.say(
            f"  first page p50 {times['first'][-1]:.1f} ms, "
            f"deep page p50 {times['deep'][-1]:.1f} ms"
        )
    return [
        figure(
            f"{NAME}.{kind}.{label}",
            f"listing: GET /jobs {label} page (offset {offset:,}), {jobs:,} jobs, p50 "
            f"({DB_NAMES[kind]})",
            "ms",
            times[label],
            None,
            requests_per_run=requests,
            page_size=PAGE,
            spread_ms=[rounded(t) for t in times[label]],
        )
        for label, offset in pages.items()
    ]
