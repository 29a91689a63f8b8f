"""Sign-in throttling with the default limit (10 failures in 15 minutes) over real HTTP:
two user-API processes' worth of apps on one database (SQLite file, PostgreSQL), clients
on distinct loopback addresses (127.0.0.x) so that per-address counting is real."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.integration.userfacing_api.conftest import API_KEY, PASSWORD, make_settings
from tests.support.databases import fresh_database
from tests.support.http_server import serve_in_thread
from userfacing_api.db.session import upgrade
from userfacing_api.main import create_app

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
WRONG = "Wrong-pass-1"


@dataclass
class Twins:
    """Two user APIs on one database, as two processes behind a load balancer would be."""

    urls: tuple[str, str]
    apps: tuple[FastAPI, FastAPI]

    def sign_in(self, name: str, password: str, address: str, which: int = 0) -> httpx.Response:
        transport = httpx.HTTPTransport(local_address=address)
        with httpx.Client(base_url=self.urls[which], transport=transport, timeout=60) as http:
            return http.post("/token", data={"username": name, "password": password})

    def register(self, name: str, groups: tuple[str, ...] = ("users",)) -> None:
        answer = httpx.post(
            f"{self.urls[0]}/user",
            data={"username": name, "password": PASSWORD},
            params=[("groups", g) for g in groups],
            headers={"x-api-key": API_KEY},
        )
        assert answer.status_code == 201, answer.text

    def time_passes(self, seconds: float) -> None:
        """Move both processes' throttle clocks on (the failures stay where they were)."""
        for app in self.apps:
            app.state.ctx.signins.throttle.clock = lambda: time.time() + seconds


@pytest.fixture(params=KINDS)
def twins(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Twins]:
    with fresh_database(request.param, tmp_path) as url:
        upgrade(url)
        settings = make_settings(url, tmp_path, password_hash_workers=2)
        apps = (
            create_app(settings, run_background=False),
            create_app(settings, run_background=False),
        )
        with serve_in_thread(apps[0]) as first, serve_in_thread(apps[1]) as second:
            yield Twins((first, second), apps)
        for app in apps:
            app.state.ctx.engine.dispose()


def assert_throttled(answer: httpx.Response) -> int:
    assert answer.status_code == 429, answer.text
    assert "too many failed sign-ins" in answer.json()["detail"]
    retry_after = int(answer.headers["retry-after"])
    assert 0 < retry_after <= 900
    return retry_after


def test_an_account_is_throttled_after_ten_failures_whatever_the_address(twins: Twins) -> None:
    twins.register("dora")
    # 16 wrong passwords at once, from 16 addresses, through both processes: the count is
    # shared and kept exactly, so 10 are checked (and fail) and 6 are refused unchecked
    with ThreadPoolExecutor(16) as pool:
        answers = list(
            pool.map(
                lambda n: twins.sign_in("dora", WRONG, f"127.0.0.{n + 2}", which=n % 2),
                range(16),
            )
        )
    assert sorted(a.status_code for a in answers) == [400] * 10 + [429] * 6
    # the right password is refused too, from a fresh address, by either process
    for which in (0, 1):
        retry_after = assert_throttled(twins.sign_in("dora", PASSWORD, "127.0.0.40", which))
    # another account at those addresses is not affected
    twins.register("emil")
    assert twins.sign_in("emil", PASSWORD, "127.0.0.2").status_code == 201
    # once the oldest failure has left the window, dora may sign in again
    twins.time_passes(retry_after)
    assert twins.sign_in("dora", PASSWORD, "127.0.0.41").status_code == 201


def test_an_address_is_throttled_after_ten_failures_whatever_the_account(twins: Twins) -> None:
    twins.register("fay", groups=("users", "tes"))
    for n in range(10):
        wrong = twins.sign_in(f"nobody-{n}", WRONG, "127.0.0.50", which=n % 2)
        assert wrong.status_code == 400
    assert_throttled(twins.sign_in("fay", PASSWORD, "127.0.0.50"))
    # TES Basic logins count alike
    basic = base64.b64encode(f"fay:{PASSWORD}".encode()).decode()
    transport = httpx.HTTPTransport(local_address="127.0.0.50")
    with httpx.Client(base_url=twins.urls[1], transport=transport) as http:
        assert_throttled(
            http.get("/ga4gh/tes/v1/tasks", headers={"Authorization": f"Basic {basic}"})
        )
    # another address is not affected, and a success does not reset the address
    assert twins.sign_in("fay", PASSWORD, "127.0.0.51").status_code == 201
    assert_throttled(twins.sign_in("fay", PASSWORD, "127.0.0.50"))


def test_a_success_clears_its_accounts_failures(twins: Twins) -> None:
    twins.register("gil")
    for n in range(9):
        assert twins.sign_in("gil", WRONG, f"127.0.0.{60 + n}").status_code == 400
    assert twins.sign_in("gil", PASSWORD, "127.0.0.70").status_code == 201
    for n in range(9):  # nine more, from fresh addresses: still under the limit
        assert twins.sign_in("gil", WRONG, f"127.0.0.{80 + n}").status_code == 400
    assert twins.sign_in("gil", PASSWORD, "127.0.0.90").status_code == 201
