"""Both APIs in the test process, each on a fresh database of one backend, sharing one
storage root; the background rounds (user outbox relay, worker status relay) are run
by the test, one call at a time, so nothing happens behind its back."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from shared.auth.api_key import HEADER
from shared.auth.local import LocalTokens
from shared.transport.base import JobTransport
from shared.transport.http import HttpTransport
from shared.transport.memory import MemoryTransport
from tests.support.databases import fresh_database
from userfacing_api.db.session import upgrade as upgrade_user_db
from userfacing_api.main import create_app as create_user_app
from userfacing_api.pollers import outbox_relay
from userfacing_api.settings import UserAPISettings
from workerfacing_api.db.session import upgrade as upgrade_worker_db
from workerfacing_api.main import create_app as create_worker_app
from workerfacing_api.pollers import relay
from workerfacing_api.settings import WorkerAPISettings

REPO = Path(__file__).resolve().parents[2]
API_KEY = "internal-key-for-tests-0123456789"
TOKEN_SECRET = "t" * 40
PASSWORD = "correct-horse-9"
KEY = {HEADER: API_KEY}
DEMO = {"application": "demo", "version": "v1", "entrypoint": "run"}


def _common(db_url: str, root: Path) -> dict[str, object]:
    """The settings both APIs share: one database each, one storage root, one key."""
    return {
        "_env_file": None,
        "auth": True,
        "auth_token_secret": TOKEN_SECRET,
        "database_url": db_url,
        "user_data_root_path": str(root),
        "internal_api_key_secret": API_KEY,
    }


def user_settings(db_url: str, root: Path) -> UserAPISettings:
    return UserAPISettings(
        **_common(db_url, root),  # type: ignore[arg-type]
        application_config_file=str(REPO / "application_config.yaml"),
        frontend_url="http://frontend.test",
    )


def worker_settings(db_url: str, root: Path) -> WorkerAPISettings:
    return WorkerAPISettings(
        **_common(db_url, root),  # type: ignore[arg-type]
        lease_timeout=60,
        decode_lease_timeout=60,
    )


@dataclass
class WorkerSide:
    app: Any
    client: TestClient
    tokens: LocalTokens

    @property
    def ctx(self) -> Any:
        return self.app.state.ctx

    def headers(self, username: str, worker_id: str | None = None) -> dict[str, str]:
        """A worker's credentials: a token of `username` in `workers` (plus X-Worker-Id)."""
        headers = {"Authorization": f"Bearer {self.tokens.issue(username, None, ('workers',))}"}
        if worker_id is not None:
            headers["X-Worker-Id"] = worker_id
        return headers

    def relay(self, user_client: TestClient) -> relay.RelayReport:
        """One call of the status relay, to the user API behind `user_client`."""
        return relay.run_once(self.ctx.sessions, user_client)


@dataclass
class UserSide:
    app: Any
    client: TestClient
    transport: JobTransport
    relay_client: TestClient  # what the worker API's relay talks to
    _accounts: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def ctx(self) -> Any:
        return self.app.state.ctx

    def login(self, username: str = "alice@example.org") -> dict[str, str]:
        """Auth headers of `username` (the account is created on first use)."""
        if username not in self._accounts:
            form = {"username": username, "password": PASSWORD}
            self.client.post("/user", headers=KEY, data=form, params=[("groups", "users")])
            response = self.client.post("/token", data=form)
            assert response.status_code == 201, response.text
            self._accounts[username] = {"Authorization": f"Bearer {response.json()['id_token']}"}
        return self._accounts[username]

    def submit(self, name: str, user: str = "alice@example.org", **attributes: Any) -> int:
        """`POST /jobs` of the demo application; the new job's id."""
        body = {
            "job_name": name,
            "application": DEMO,
            "attributes": {"files_down": attributes.pop("files_down", {}), "env_vars": None},
            **attributes,
        }
        response = self.client.post("/jobs", headers=self.login(user), json=body)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def job(self, job_id: int, user: str = "alice@example.org") -> dict[str, Any]:
        response = self.client.get(f"/jobs/{job_id}", headers=self.login(user))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def relay(self) -> bool:
        """One round of the job outbox relay, through this side's transport."""
        return outbox_relay.relay_once(self.ctx.sessions, self.transport)


def http_transport(worker_client: TestClient) -> HttpTransport:
    """DECODE's transport (`POST /_jobs`), to the worker API app behind `worker_client`."""
    transport = HttpTransport("http://testserver", API_KEY)
    transport._client.close()
    transport._client = TestClient(worker_client.app, headers=KEY)  # type: ignore[assignment]
    return transport


@contextlib.contextmanager
def user_side(
    kind: str,
    tmp_path: Path,
    root: Path,
    worker: WorkerSide,
    *,
    http: bool = False,
    transport: JobTransport | None = None,
) -> Iterator[UserSide]:
    """A user API on a fresh database whose jobs go to `worker` (in-process, over
    `POST /_jobs` with `http`, or through `transport`). Call it again for a user API
    whose database was reset."""
    with fresh_database(kind, tmp_path) as url:
        upgrade_user_db(url)
        if transport is None:
            transport = (
                http_transport(worker.client)
                if http
                else MemoryTransport(worker.ctx.handle_message)
            )
        app = create_user_app(user_settings(url, root), transport=transport, run_background=False)
        with (
            TestClient(app) as client,
            TestClient(app, headers=KEY, raise_server_exceptions=False) as relay_client,
        ):
            yield UserSide(app, client, transport, relay_client)
        app.state.ctx.engine.dispose()


@contextlib.contextmanager
def worker_side(kind: str, tmp_path: Path, root: Path) -> Iterator[WorkerSide]:
    """A worker API on a fresh database."""
    with fresh_database(kind, tmp_path) as url:
        upgrade_worker_db(url)
        settings = worker_settings(url, root)
        app = create_worker_app(settings, run_background=False)
        tokens = LocalTokens(
            TOKEN_SECRET, issuer=settings.auth_token_issuer, audience=settings.auth_token_audience
        )
        with TestClient(app) as client:
            yield WorkerSide(app, client, tokens)
        app.state.ctx.engine.dispose()
