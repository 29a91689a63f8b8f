"""Cognito ID tokens (RS256), verified against the user pool's published keys (JWKS).

The keys are fetched once and cached by PyJWT's client; an unknown key id makes
it fetch again (Cognito rotates keys rarely).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import jwt

from shared.auth.tokens import InvalidToken, Principal, principal_from_claims


def cognito_issuer(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def cognito_password_login(
    idp: Any, client_id: str, username: str, password: str, client_secret: str | None = None
) -> tuple[str, int]:
    """USER_PASSWORD_AUTH against an app client: the ID token and its lifetime in seconds.

    ``idp`` is a boto3 cognito-idp client; a client with a secret needs SECRET_HASH.
    Raises botocore's ClientError when Cognito refuses, and :class:`CognitoChallenge`
    when it wants more than a password (a new password, MFA).
    """
    params = {"USERNAME": username, "PASSWORD": password}
    if client_secret:
        digest = hmac.new(
            client_secret.encode(), (username + client_id).encode(), hashlib.sha256
        ).digest()
        params["SECRET_HASH"] = base64.b64encode(digest).decode()
    answer = idp.initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=params
    )
    result = answer.get("AuthenticationResult")
    if not result:
        raise CognitoChallenge(answer.get("ChallengeName") or "an unknown challenge")
    return result["IdToken"], int(result["ExpiresIn"])


class CognitoChallenge(Exception):
    """Cognito answered a password login with a challenge (e.g. NEW_PASSWORD_REQUIRED)."""

    def __init__(self, challenge: str) -> None:
        super().__init__(f"Cognito asks for {challenge} before this account can log in")
        self.challenge = challenge


class CognitoVerifier:
    does_io = True  # fetches the pool's keys (JWKS) when a token names an unknown key

    def __init__(
        self, region: str, user_pool_id: str, client_id: str, jwks_url: str | None = None
    ) -> None:
        self.issuer = cognito_issuer(region, user_pool_id)
        self.client_id = client_id
        self._jwks = jwt.PyJWKClient(
            jwks_url or f"{self.issuer}/.well-known/jwks.json",
            cache_keys=True,
            lifespan=3600,
            timeout=10,
        )

    def verify(self, token: str) -> Principal:
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self.client_id,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=5,
            )
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            raise InvalidToken(str(exc)) from exc
        if claims.get("token_use") != "id":
            raise InvalidToken("not an ID token")
        return principal_from_claims(claims)
