from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from labcloud.cli import app
from tests.support.databases import fresh_database

runner = CliRunner()


def test_help_lists_every_part() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("user-api", "worker-api", "worker", "up", "db"):
        assert command in result.output


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_db_upgrade_creates_the_user_schema(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fresh_database(kind, tmp_path) as url:
        monkeypatch.setenv("AUTH", "1")
        monkeypatch.setenv("AUTH_TOKEN_SECRET", "c" * 32)
        monkeypatch.setenv("INTERNAL_API_KEY_SECRET", "k" * 16)
        monkeypatch.setenv("DATABASE_URL", url)
        result = runner.invoke(app, ["db", "upgrade", "user"])
        assert result.exit_code == 0, result.output
        engine = sa.create_engine(url)
        tables = set(sa.inspect(engine).get_table_names())
        engine.dispose()
        assert {"users", "jobs", "job_outbox", "notifications"} <= tables
        again = runner.invoke(app, ["db", "upgrade", "user"])  # idempotent
        assert again.exit_code == 0


def test_bad_settings_stop_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTH", raising=False)
    monkeypatch.delenv("COGNITO_USER_POOL_ID", raising=False)
    result = runner.invoke(app, ["db", "upgrade", "user"])
    assert result.exit_code != 0
    assert "no authentication configured" in str(result.exception) + result.output
