"""Settings: defaults, environment variables, and refusing to start when unsafe."""

from __future__ import annotations

import pytest

from shared.settings import SettingsError
from workerfacing_api.settings import WorkerAPISettings, load_settings

GOOD = {
    "_env_file": None,
    "auth": True,
    "auth_token_secret": "s" * 32,
    "internal_api_key_secret": "k" * 16,
}


def settings(**changes: object) -> WorkerAPISettings:
    return load_settings(**{**GOOD, **changes})


def test_defaults() -> None:
    s = settings()
    assert s.database_url == "sqlite:///./labcloud-data/worker.db"
    assert s.userfacing_api_url == "http://127.0.0.1:8000"
    assert (s.lease_timeout, s.sweeper_period, s.max_retries) == (60, 15, 2)
    # a lost job is back in the queue within 75 s (DECODE: 300 s keep-alive + 60 s sweeps)
    assert s.lease_timeout + s.sweeper_period == 75
    assert (s.staging_time_limit, s.upload_time_limit, s.running_grace) == (3600, 3600, 300)
    assert (s.long_poll_seconds, s.long_poll_cap, s.presigned_url_expiry) == (0, 30, 600)
    assert (s.auth_token_issuer, s.auth_token_audience) == ("labcloud", "labcloud")
    assert s.filesystem == "local"


def test_read_from_the_environment_case_insensitively(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH", "1")
    monkeypatch.setenv("auth_token_secret", "e" * 40)
    monkeypatch.setenv("Internal_Api_Key_Secret", "i" * 20)
    monkeypatch.setenv("LEASE_TIMEOUT", "30")
    monkeypatch.setenv("LONG_POLL_SECONDS", "20")
    monkeypatch.setenv("STAGING_TIME_LIMIT", "600")
    monkeypatch.setenv("UPLOAD_TIME_LIMIT", "900")
    monkeypatch.setenv("RUNNING_GRACE", "0")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:{}@db/q")
    monkeypatch.setenv("DATABASE_SECRET", "p@ss")
    s = load_settings(_env_file=None)
    assert (s.lease_timeout, s.long_poll_cap) == (30, 20)
    assert (s.staging_time_limit, s.upload_time_limit, s.running_grace) == (600, 900, 0)
    assert s.api_key == "i" * 20
    assert s.db_url == "postgresql+psycopg://u:p%40ss@db/q"
    assert "e" * 40 not in repr(s)


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"internal_api_key_secret": None}, "INTERNAL_API_KEY_SECRET"),
        ({"internal_api_key_secret": "short"}, "INTERNAL_API_KEY_SECRET"),
        ({"auth_token_secret": "s" * 31}, "AUTH_TOKEN_SECRET"),
        ({"auth": False}, "COGNITO_USER_POOL_ID"),
        ({"filesystem": "s3"}, "S3_BUCKET is required"),
        ({"database_url": "postgresql://u:{}@db/q"}, "DATABASE_SECRET"),
        ({"lease_timeout": 0}, "LEASE_TIMEOUT"),
        ({"max_retries": -1}, "MAX_RETRIES"),
        ({"staging_time_limit": 0}, "STAGING_TIME_LIMIT"),
        ({"upload_time_limit": 0}, "UPLOAD_TIME_LIMIT"),
        ({"running_grace": -1}, "RUNNING_GRACE"),
    ],
)
def test_unsafe_or_missing_settings_stop_start_up(changes: dict[str, object], names: str) -> None:
    with pytest.raises(SettingsError) as err:
        settings(**changes)
    assert names in err.value.message


def test_the_queue_settings_say_what_they_do() -> None:
    fields = WorkerAPISettings.model_fields
    for name in (
        "lease_timeout",
        "sweeper_period",
        "max_retries",
        "staging_time_limit",
        "upload_time_limit",
        "running_grace",
    ):
        assert fields[name].description, name
    assert "75 s" in (fields["lease_timeout"].description or "")


def test_cognito_settings_are_accepted_by_the_settings_class() -> None:
    s = settings(
        auth=False, cognito_user_pool_id="eu-1_abc", cognito_client_id="c", cognito_region="eu-1"
    )
    assert s.cognito_region == "eu-1"


def test_the_app_verifies_cognito_tokens_when_auth_is_off(tmp_path: object) -> None:
    from shared.auth.cognito import CognitoVerifier
    from workerfacing_api.main import create_app

    s = settings(
        auth=False,
        cognito_user_pool_id="eu-1_abc",
        cognito_client_id="c",
        cognito_region="eu-1",
        database_url="sqlite://",
    )
    verifier = create_app(s, run_background=False).state.ctx.verifier
    assert isinstance(verifier, CognitoVerifier)
    assert verifier.issuer == "https://cognito-idp.eu-1.amazonaws.com/eu-1_abc"
