"""9. Sign-in flood: other requests' latency while 32 clients send wrong passwords at
once. Target: their p50 stays within 2× of idle (with argon2 in the request thread pool
it went from about 10 ms to about 1 s).

The user API runs as a process (`labcloud user-api`) with SIGNIN_MAX_FAILURES raised so
far that no attempt is throttled: a flood from many addresses looks like this, and
per-address throttling alone does not stop it. A probe sends `GET /jobs` (a bearer
token, a database read) one at a time and times each: idle, then while 32 threads keep
posting wrong passwords to `/token`. Also reported: sign-ins answered per second during
the flood, and, idle, the time of a wrong password and of an unknown user, which should
be alike (both check the password against a hash); in full mode, the flood once more
with PASSWORD_HASH_WORKERS=32, about how the password checks ran before (in the
request thread pool), for comparison.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import httpx

from bench.config import BenchConfig
from bench.result import Figure, Target, figure, percentile, rounded
from bench.stack import DB_NAMES, platform

NAME = "signin"
FLOODERS = 32
RATIO_TARGET = Target("<=", 2.0)
WRONG = "Wrong-pass-1"


def run(cfg: BenchConfig) -> list[Figure]:
    return cfg.per_db(NAME, lambda kind: measure(cfg, kind))


def probe(http: httpx.Client, samples: int) -> list[float]:
    """Seconds each of `samples` `GET /jobs`, one at a time, took."""
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        http.get("/jobs").raise_for_status()
        times.append(time.perf_counter() - began)
        time.sleep(0.01)
    return times


def sign_in_times(url: str, username: str, samples: int) -> list[float]:
    times = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(samples):
            began = time.perf_counter()
            answer = http.post("/token", data={"username": username, "password": WRONG})
            times.append(time.perf_counter() - began)
            assert answer.status_code == 400, answer.text
    return times


@contextlib.contextmanager
def flood(url: str, username: str) -> Iterator[dict[int, int]]:
    """FLOODERS threads posting wrong passwords until the block ends; yields the count of
    answers by status (filled in as they come)."""
    answers: dict[int, int] = {}
    lock, stop = threading.Lock(), threading.Event()

    def flooder() -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            while not stop.is_set():
                status = http.post(
                    "/token", data={"username": username, "password": WRONG}
                ).status_code
                with lock:
                    answers[status] = answers.get(status, 0) + 1

    threads = [threading.Thread(target=flooder, daemon=True) for _ in range(FLOODERS)]
    for thread in threads:
        thread.start()
    try:
        yield answers
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)


def _flooded(cfg: BenchConfig, kind: str, workers: int, samples: int) -> dict[str, float]:
    """One measurement on a fresh platform: idle and flooded p50, sign-ins per second."""
    env = {"SIGNIN_MAX_FAILURES": "100000000", "PASSWORD_HASH_WORKERS": str(workers)}
    with platform(
        kind, cfg.workdir(f"{NAME}-{kind}-{workers}"), worker_api=False, user_env=env
    ) as stack:
        http = stack.user_client("probe@example.org")
        stack.register_user("flood@example.org")
        probe(http, 5)  # warm
        idle = probe(http, samples)
        wrong = sign_in_times(stack.user_url, "flood@example.org", cfg.size(5, 20))
        unknown = sign_in_times(stack.user_url, "nobody@example.org", cfg.size(5, 20))
        with flood(stack.user_url, "flood@example.org") as answers:
            time.sleep(1.0)  # every flooder is under way
            began, before = time.monotonic(), sum(answers.values())
            busy = probe(http, samples)
            rate = (sum(answers.values()) - before) / (time.monotonic() - began)
        if set(answers) != {400}:
            raise RuntimeError(f"the flood got answers other than 400: {answers}")
    return {
        "idle": percentile(idle, 50) * 1000,
        "idle_p99": percentile(idle, 99) * 1000,
        "busy": percentile(busy, 50) * 1000,
        "busy_p99": percentile(busy, 99) * 1000,
        "rate": rate,
        "wrong": percentile(wrong, 50) * 1000,
        "unknown": percentile(unknown, 50) * 1000,
    }


def measure(cfg: BenchConfig, kind: str) -> list[Figure]:
    samples = cfg.size(40, 300)
    runs = []
    for r in range(cfg.runs):
        runs.append(_flooded(cfg, kind, workers=1, samples=samples))
        cfg.say(
            f"  run {r + 1}: GET /jobs p50 idle {runs[-1]['idle']:.1f} ms, with "
            f"{FLOODERS} wrong sign-ins at once {runs[-1]['busy']:.1f} ms "
            f"({runs[-1]['rate']:.1f} sign-ins/s)"
        )
    name = DB_NAMES[kind]
    details = {
        "samples_per_run": samples,
        "idle_p99_ms": rounded(max(r["idle_p99"] for r in runs)),
        "flood_p99_ms": rounded(max(r["busy_p99"] for r in runs)),
        "password_hash_workers": 1,
    }
    figures = [
        figure(
            f"{NAME}.{kind}.idle.p50",
            f"sign-in flood: GET /jobs p50, idle ({name})",
            "ms",
            [r["idle"] for r in runs],
            **details,
        ),
        figure(
            f"{NAME}.{kind}.flood.p50",
            f"sign-in flood: GET /jobs p50, {FLOODERS} wrong sign-ins at once ({name})",
            "ms",
            [r["busy"] for r in runs],
            **details,
        ),
        figure(
            f"{NAME}.{kind}.ratio",
            f"sign-in flood: p50 flooded / idle ({name})",
            "×",
            [r["busy"] / r["idle"] for r in runs],
            RATIO_TARGET,
        ),
        figure(
            f"{NAME}.{kind}.rate",
            f"sign-in flood: wrong sign-ins answered ({name})",
            "/s",
            [r["rate"] for r in runs],
        ),
        figure(
            f"{NAME}.{kind}.wrong",
            f"sign-in: wrong password p50, idle ({name})",
            "ms",
            [r["wrong"] for r in runs],
        ),
        figure(
            f"{NAME}.{kind}.unknown",
            f"sign-in: unknown user p50, idle ({name})",
            "ms",
            [r["unknown"] for r in runs],
        ),
    ]
    if not cfg.quick:  # for comparison: password checks as parallel as before
        before = _flooded(cfg, kind, workers=FLOODERS, samples=samples)
        figures.append(
            figure(
                f"{NAME}.{kind}.flood_32_workers.p50",
                f"sign-in flood: GET /jobs p50 with PASSWORD_HASH_WORKERS={FLOODERS} ({name})",
                "ms",
                [before["busy"]],
                idle_p50_ms=rounded(before["idle"]),
                ratio=rounded(before["busy"] / before["idle"]),
            )
        )
    return figures
