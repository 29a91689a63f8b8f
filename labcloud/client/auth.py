"""Logging in: the user API's `/token` (local accounts, and Cognito accounts the API
proxies), or Cognito directly when the server only publishes a Cognito pool.

boto3 is needed only for the direct Cognito login, and imported only then.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from typing import Any

from labcloud.client.config import Session
from labcloud.client.errors import AuthError, ConnectionFailed, LabcloudError, ServerError
from labcloud.client.http import Connection

ENV_COGNITO_ENDPOINT = "LABCLOUD_COGNITO_ENDPOINT_URL"


def token_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT (read, not verified: only to know when to log in again)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def login_method(info: dict[str, Any]) -> str:
    """`local` when the server takes passwords at /token, `cognito` when it only names a
    Cognito pool; AuthError when it offers neither."""
    if info.get("local"):
        return "local"
    cognito = info.get("cognito") or {}
    if cognito.get("user_pool_id") and cognito.get("client_id"):
        return "cognito"
    raise AuthError("this server offers no password login (no /token and no Cognito pool)")


# wrong password or unknown user (400; DECODE: 404 for the latter), disabled (403),
# too many failed sign-ins (429: the detail says when to try again)
REFUSED_LOGIN = (400, 401, 403, 404, 429)


def token_login(conn: Connection, username: str, password: str) -> Session:
    """`POST /token` with the OAuth2 password form."""
    response = conn.request(
        "POST",
        "/token",
        auth=False,
        ok=REFUSED_LOGIN,
        data={"username": username, "password": password},
    )
    if response.status_code in REFUSED_LOGIN:
        try:
            detail = response.json().get("detail")
        except (ValueError, AttributeError):
            detail = response.text[:200]
        raise AuthError(
            f"login to {conn.url} as {username} refused: {detail}",
            status_code=response.status_code,
            detail=detail,
            method="POST",
            path="/token",
        )
    body = response.json()
    token = str(body["id_token"])
    expires_in = body.get("expires_in")
    expires_at = time.time() + float(expires_in) if expires_in else token_expiry(token)
    return Session(conn.url, token, username=username, expires_at=expires_at, method="local")


def cognito_login(
    url: str,
    cognito: dict[str, Any],
    username: str,
    password: str,
    *,
    client_secret: str | None = None,
    endpoint_url: str | None = None,
) -> Session:
    """USER_PASSWORD_AUTH against the pool's app client, as DECODE's frontend does
    (SECRET_HASH when the client has a secret). The session holds the ID token."""
    try:
        import boto3
        import botocore
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise LabcloudError(
            "this server uses Cognito: logging in needs boto3 (pip install boto3)"
        ) from None
    client_id, region = str(cognito["client_id"]), cognito.get("region")
    idp = boto3.client(
        "cognito-idp",
        region_name=region or str(cognito["user_pool_id"]).split("_")[0],
        endpoint_url=endpoint_url or os.environ.get(ENV_COGNITO_ENDPOINT) or None,
        config=Config(signature_version=botocore.UNSIGNED),  # InitiateAuth needs no AWS keys
    )
    params = {"USERNAME": username, "PASSWORD": password}
    if client_secret:
        digest = hmac.new(
            client_secret.encode(), (username + client_id).encode(), hashlib.sha256
        ).digest()
        params["SECRET_HASH"] = base64.b64encode(digest).decode()
    try:
        answer = idp.initiate_auth(
            ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=params
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), error.get("Message", str(exc))
        if code in ("NotAuthorizedException", "UserNotFoundException"):
            raise AuthError(f"Cognito refused the login as {username}: {message}") from None
        raise ServerError(f"Cognito answered {code}: {message}") from None
    except BotoCoreError as exc:
        raise ConnectionFailed(f"cannot reach Cognito: {exc}") from None
    result = answer.get("AuthenticationResult")
    if not result:
        challenge = answer.get("ChallengeName") or "an unknown challenge"
        raise AuthError(f"Cognito asks for {challenge} before {username} can log in")
    token = str(result["IdToken"])
    expires_at = time.time() + float(result.get("ExpiresIn") or 3600)
    return Session(url, token, username=username, expires_at=expires_at, method="cognito")
