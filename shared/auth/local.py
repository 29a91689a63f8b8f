"""Local accounts' ID tokens: JWTs signed with a shared secret (HS256).

The user API issues them (`POST /token`); both APIs verify them with the same
secret, issuer and audience.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

import jwt

from shared.auth.tokens import InvalidToken, Principal, principal_from_claims

ALGORITHM = "HS256"
MIN_SECRET_LENGTH = 32


class LocalTokens:
    """Issues and verifies local-account ID tokens."""

    does_io = False  # an HMAC check: CPU only, microseconds

    def __init__(self, secret: str, issuer: str, audience: str, lifetime_s: int = 3600) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"the token secret must be at least {MIN_SECRET_LENGTH} characters")
        self._secret = secret
        self.issuer = issuer
        self.audience = audience
        self.lifetime_s = lifetime_s

    def issue(
        self,
        username: str,
        email: str | None,
        groups: Iterable[str],
        *,
        subject: str | None = None,
        not_before: int = 0,
    ) -> str:
        """A token for the account; `subject` (its `sub`) names this account of the name
        (default: the name), and `iat` is no earlier than `not_before` (the account's
        `tokens_valid_after`, which may lie up to a second ahead)."""
        now = max(int(time.time()), not_before)
        claims = {
            "sub": subject or username,
            "username": username,
            "email": email,
            "groups": list(groups),
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.lifetime_s,
            "jti": uuid.uuid4().hex,
            "token_use": "id",
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=5,
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        return principal_from_claims(claims)
