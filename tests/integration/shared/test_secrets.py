"""Secrets given as Secrets Manager ARNs, resolved against moto's server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import boto3
import pytest

from shared import secrets
from shared.logs import configure_logging
from shared.settings import SettingsError
from userfacing_api.settings import load_settings

BASE = dict(_env_file=None, auth=True, auth_token_secret="t" * 40)


@pytest.fixture
def secretsmanager(moto_endpoint: str, aws_env: None,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)  # boto3 honours it: never real AWS
    secrets.clear_cache()
    yield boto3.client("secretsmanager", region_name="eu-central-1", endpoint_url=moto_endpoint)
    secrets.clear_cache()


def test_arns_are_resolved_at_start_up(secretsmanager, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    db = secretsmanager.create_secret(
        Name="lc-db", SecretString=json.dumps({"username": "app", "password": "p@ss/wörd"}))
    key = secretsmanager.create_secret(Name="lc-key", SecretString="internal-key-from-aws-123")
    configure_logging("debug")  # as `labcloud … --log-level debug` does
    with caplog.at_level(logging.DEBUG):
        settings = load_settings(**BASE, database_url="postgresql://app:{}@db:5432/lab",
                                 database_secret=db["ARN"], internal_api_key_secret=key["ARN"])
    assert settings.db_url == "postgresql+psycopg://app:p%40ss%2Fw%C3%B6rd@db:5432/lab"
    assert settings.api_key == "internal-key-from-aws-123"
    assert "p@ss" not in repr(settings) and "internal-key-from-aws" not in repr(settings)
    assert "p@ss" not in caplog.text and "internal-key-from-aws" not in caplog.text


def test_resolved_secrets_are_cached(secretsmanager) -> None:  # type: ignore[no-untyped-def]
    arn = secretsmanager.create_secret(Name="lc-cached", SecretString="cached-value-0123456789")
    assert secrets.resolve(arn["ARN"]) == "cached-value-0123456789"
    secretsmanager.delete_secret(SecretId=arn["ARN"], ForceDeleteWithoutRecovery=True)
    assert secrets.resolve(arn["ARN"]) == "cached-value-0123456789"


def test_an_unreadable_arn_stops_start_up_naming_the_setting(secretsmanager) -> None:  # type: ignore[no-untyped-def]
    missing = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:nope-AbCdEf"
    with pytest.raises(SettingsError) as info:
        load_settings(**BASE, internal_api_key_secret=missing)
    assert "INTERNAL_API_KEY_SECRET" in info.value.message
    assert "ResourceNotFoundException" in info.value.message


def test_json_secret_without_the_expected_key(secretsmanager) -> None:  # type: ignore[no-untyped-def]
    arn = secretsmanager.create_secret(Name="lc-json", SecretString=json.dumps({"a": 1, "b": 2}))
    with pytest.raises(SettingsError, match="DATABASE_SECRET.*without a 'password' key"):
        load_settings(**BASE, internal_api_key_secret="k" * 20,
                      database_url="postgresql://u:{}@h/d", database_secret=arn["ARN"])
