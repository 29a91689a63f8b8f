"""How a worker logs in: the token's real expiry, and Cognito's password flow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt

from shared.auth.cognito import CognitoChallenge, cognito_password_login
from worker.errors import AuthError


def token_expiry(token: str, expires_in: Any, now: float) -> float:
    """When ``token`` expires (epoch seconds)."""
    # The JWT's own `exp` is the truth; `expires_in` is the fallback for opaque tokens.
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
        if exp is not None:
            return float(exp)
    except jwt.PyJWTError:
        pass
    try:
        return now + float(expires_in)
    except (TypeError, ValueError):
        return now + 3600.0


def cognito_login(
    client_id: str, client_secret: str | None, region: str | None
) -> Callable[[str, str], tuple[str, Any]]:
    """A login function using Cognito's USER_PASSWORD_AUTH directly, as DECODE's worker does.

    The endpoint is boto3's (AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER points it at
    an emulator). A refused password is an :class:`AuthError`.
    """
    import boto3  # only workers logging in to Cognito need it
    from botocore.exceptions import ClientError

    idp = boto3.client("cognito-idp", region_name=region)

    def login(username: str, password: str) -> tuple[str, Any]:
        try:
            return cognito_password_login(idp, client_id, username, password, client_secret)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise AuthError(f"Cognito login as {username!r} failed: {code}", 401) from None
        except CognitoChallenge as exc:
            raise AuthError(f"Cognito login as {username!r} failed: {exc}", 401) from None

    return login
