"""Secrets given as AWS Secrets Manager ARNs, resolved at start-up and cached.

DECODE's convention: `DATABASE_SECRET`, `INTERNAL_API_KEY_SECRET`, `COGNITO_SECRET`
and `EMAIL_SENDER_SECRET_KEY` may hold the ARN of a secret instead of the value. A
JSON secret gives its `password` key (what RDS-managed secrets hold) or, with a
single key, that key's value; any other secret string is used as it is. Values are
never logged: errors name the setting and the ARN only.
"""

from __future__ import annotations

import json
import threading

from cachetools import TTLCache

ARN_PREFIX = "arn:aws:secretsmanager:"
_cache: TTLCache[str, str] = TTLCache(maxsize=64, ttl=3600)
_lock = threading.Lock()


class SecretUnavailable(ValueError):
    """The ARN could not be resolved (no access, no such secret, no network)."""


def is_arn(value: str | None) -> bool:
    return bool(value) and value.startswith(ARN_PREFIX)  # type: ignore[union-attr]


def resolve(value: str, *, key: str = "password") -> str:
    """`value` itself, or the secret its ARN names (cached for an hour)."""
    if not is_arn(value):
        return value
    with _lock:
        if value in _cache:
            return _cache[value]
    secret = _fetch(value)
    try:
        data = json.loads(secret)
    except ValueError:
        data = None
    if isinstance(data, dict):
        if key in data:
            secret = str(data[key])
        elif len(data) == 1:
            secret = str(next(iter(data.values())))
        else:
            raise SecretUnavailable(f"the secret {value} is JSON without a '{key}' key")
    with _lock:
        _cache[value] = secret
    return secret


def _fetch(arn: str) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    region = arn.split(":")[3]
    try:
        # AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_SECRETS_MANAGER) points boto3 at an emulator.
        client = boto3.client("secretsmanager", region_name=region)
        response = client.get_secret_value(SecretId=arn)
    except (BotoCoreError, ClientError) as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise SecretUnavailable(f"cannot read {arn}: {code}") from None
    if "SecretString" not in response:
        raise SecretUnavailable(f"{arn} holds binary data, not a string")
    return str(response["SecretString"])


def clear_cache() -> None:
    with _lock:
        _cache.clear()
