"""The user API on a real database (SQLite file and PostgreSQL), driven over HTTP
semantics with FastAPI's TestClient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.databases import fresh_database
from userfacing_api.db.session import upgrade
from userfacing_api.main import create_app
from userfacing_api.settings import UserAPISettings

REPO = Path(__file__).resolve().parents[3]
API_KEY = "internal-key-for-tests-0123456789"
PASSWORD = "correct-horse-9"


def make_settings(db_url: str, tmp_path: Path, **overrides: object) -> UserAPISettings:
    values: dict[str, object] = dict(
        _env_file=None,
        auth=True,
        auth_token_secret="t" * 40,
        database_url=db_url,
        user_data_root_path=str(tmp_path / "files"),
        internal_api_key_secret=API_KEY,
        application_config_file=str(REPO / "application_config.yaml"),
        frontend_url="http://frontend.test",
    )
    values.update(overrides)
    return UserAPISettings(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        upgrade(url)
        yield url


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> UserAPISettings:
    return make_settings(db_url, tmp_path)


@pytest.fixture
def client(settings: UserAPISettings) -> Iterator[TestClient]:
    app = create_app(settings, run_background=False)
    with TestClient(app) as test_client:
        yield test_client
    app.state.ctx.engine.dispose()


Login = Callable[..., dict[str, str]]


@pytest.fixture
def login(client: TestClient) -> Login:
    """Create an account (once) and return auth headers for it."""

    def _login(
        username: str = "alice@example.org", groups: tuple[str, ...] = ("users",)
    ) -> dict[str, str]:
        client.post(
            "/user",
            headers={"x-api-key": API_KEY},
            data={"username": username, "password": PASSWORD},
            params=[("groups", g) for g in groups],
        )
        response = client.post("/token", data={"username": username, "password": PASSWORD})
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['id_token']}"}

    return _login


@pytest.fixture
def alice(login: Login) -> dict[str, str]:
    return login()


@pytest.fixture
def storage_root(settings: UserAPISettings) -> Path:
    return Path(settings.user_data_root_path)
