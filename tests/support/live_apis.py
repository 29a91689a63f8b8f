"""Both APIs as real HTTP servers on loopback (uvicorn in threads), each with its own fresh
database of one kind and their background rounds running, sharing a storage root: the
user API relays jobs and account changes to the worker API, which relays statuses back.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from tests.integration.userfacing_api.conftest import API_KEY, PASSWORD, make_settings
from tests.support.databases import fresh_database
from tests.support.http_server import serve_in_thread
from tests.support.processes import free_port
from userfacing_api.db.session import upgrade as upgrade_user_db
from userfacing_api.main import create_app as create_user_app
from workerfacing_api.db.session import upgrade as upgrade_worker_db
from workerfacing_api.main import create_app as create_worker_app
from workerfacing_api.settings import WorkerAPISettings


@dataclass
class TwoAPIs:
    user_url: str
    worker_url: str
    user_app: FastAPI
    worker_app: FastAPI
    files: Path  # the storage root

    def register(
        self, name: str, groups: tuple[str, ...] = ("users",), password: str = PASSWORD
    ) -> httpx.Response:
        """`POST /user` (with the internal key, which other groups than users need)."""
        return httpx.post(
            f"{self.user_url}/user",
            data={"username": name, "password": password},
            params=[("groups", g) for g in groups],
            headers={"x-api-key": API_KEY},
            timeout=30,
        )

    def sign_in(self, name: str, password: str = PASSWORD) -> httpx.Response:
        return httpx.post(
            f"{self.user_url}/token", data={"username": name, "password": password}, timeout=30
        )

    def bearer(self, name: str, password: str = PASSWORD) -> dict[str, str]:
        """Auth headers of a fresh token of `name`."""
        answer = self.sign_in(name, password)
        assert answer.status_code == 201, answer.text
        return {"Authorization": f"Bearer {answer.json()['id_token']}"}

    def user_api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.user_url}{path}", timeout=30, **kwargs)

    def worker_api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.worker_url}{path}", timeout=30, **kwargs)


def eventually(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Wait for what a background round delivers (a relay, a sync); fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def two_apis(kind: str, tmp: Path, **user_settings: object) -> Iterator[TwoAPIs]:
    """Both APIs on fresh `kind` databases (sqlite | postgres); `user_settings` override
    the user API's settings."""
    user_port, worker_port = free_port(), free_port()
    user_url, worker_url = f"http://127.0.0.1:{user_port}", f"http://127.0.0.1:{worker_port}"
    files = tmp / "files"
    with fresh_database(kind, tmp) as user_db, fresh_database(kind, tmp) as worker_db:
        upgrade_user_db(user_db)
        upgrade_worker_db(worker_db)
        settings = make_settings(
            user_db, tmp, workerfacing_api_url=worker_url, outbox_relay_period=0.5, **user_settings
        )
        worker_settings = WorkerAPISettings(
            _env_file=None,  # type: ignore[call-arg]
            auth=True,
            auth_token_secret=settings.auth_token_secret,
            database_url=worker_db,
            user_data_root_path=str(files),
            internal_api_key_secret=API_KEY,
            userfacing_api_url=user_url,
            status_relay_period=0.5,
        )
        user_app, worker_app = create_user_app(settings), create_worker_app(worker_settings)
        try:
            with (
                serve_in_thread(worker_app, worker_port),
                serve_in_thread(user_app, user_port),
            ):
                yield TwoAPIs(user_url, worker_url, user_app, worker_app, files)
        finally:
            user_app.state.ctx.engine.dispose()
            worker_app.state.ctx.engine.dispose()
