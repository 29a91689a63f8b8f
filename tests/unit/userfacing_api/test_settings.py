import pytest

from shared.settings import SettingsError, database_url
from userfacing_api.settings import load_settings

GOOD = dict(_env_file=None, auth=True, auth_token_secret="x" * 32, internal_api_key_secret="k" * 16)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AUTH",
        "AUTH_TOKEN_SECRET",
        "INTERNAL_API_KEY_SECRET",
        "DATABASE_URL",
        "COGNITO_USER_POOL_ID",
        "FILESYSTEM",
        "S3_BUCKET",
        "EMAIL_SENDER_SERVICE",
    ):
        monkeypatch.delenv(name, raising=False)


def test_good_settings_load() -> None:
    settings = load_settings(**GOOD)
    assert settings.api_key == "k" * 16
    assert "x" * 32 not in repr(settings)  # secrets never printed


def test_no_auth_configured_refuses_to_start() -> None:
    with pytest.raises(SettingsError, match="no authentication configured.*AUTH=1"):
        load_settings(**{**GOOD, "auth": False})


@pytest.mark.parametrize(
    "change,message",
    [
        ({"auth_token_secret": "short"}, "AUTH_TOKEN_SECRET"),
        ({"auth_token_secret": None}, "AUTH_TOKEN_SECRET"),
        ({"internal_api_key_secret": None}, "INTERNAL_API_KEY_SECRET"),
        ({"internal_api_key_secret": "short"}, "INTERNAL_API_KEY_SECRET"),
        ({"filesystem": "s3"}, "S3_BUCKET is required"),
        ({"frontend_url": "*"}, "FRONTEND_URL"),
        ({"job_transport": "carrier-pigeon://x"}, "JOB_TRANSPORT"),
        ({"frontend_url": "https://ok.example,*"}, "FRONTEND_URL"),
        ({"filesystem": "ftp"}, "FILESYSTEM"),
        ({"email_sender_service": "mailjet"}, "EMAIL_SENDER_ADDRESS"),
        ({"database_url": "postgresql://u:{}@h/db"}, "DATABASE_SECRET"),
    ],
)
def test_missing_or_unsafe_settings_are_named(change: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(**{**GOOD, **change})


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH", "1")
    monkeypatch.setenv("AUTH_TOKEN_SECRET", "e" * 32)
    monkeypatch.setenv("INTERNAL_API_KEY_SECRET", "f" * 16)
    monkeypatch.setenv("FRONTEND_URL", "https://a.example, https://b.example")
    settings = load_settings(_env_file=None)
    assert settings.auth and settings.cors_origins == ["https://a.example", "https://b.example"]


def test_database_secret_fills_the_placeholder() -> None:
    assert database_url("postgresql://app:{}@db:5432/x", "p@ss/word") == (
        "postgresql+psycopg://app:p%40ss%2Fword@db:5432/x"
    )
    assert database_url("sqlite:///./a.db", None) == "sqlite:///./a.db"
