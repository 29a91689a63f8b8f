"""Who is calling: the principal behind a bearer token, and the verifier interface.

Both APIs verify tokens through a `TokenVerifier`; local accounts (PyJWT, HS256)
and Cognito (JWKS, RS256) are two implementations of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class InvalidToken(Exception):
    """The token is missing, malformed, expired, or not meant for us."""


@dataclass(frozen=True)
class Principal:
    username: str
    email: str | None = None
    groups: tuple[str, ...] = ()
    token_id: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def in_group(self, group: str) -> bool:
        return group in self.groups


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """Read a principal from ID-token claims, in labcloud's or Cognito's spelling."""
    username = claims.get("cognito:username") or claims.get("username") or claims.get("sub")
    if not username:
        raise InvalidToken("token names no user")
    groups = claims.get("cognito:groups") or claims.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise InvalidToken("token groups must be a list of strings")
    email = claims.get("email")
    if not email and "@" in str(username):
        email = str(username)  # DECODE's accounts are named by their email address
    return Principal(
        username=str(username),
        email=email,
        groups=tuple(groups),
        token_id=claims.get("jti"),
        claims=dict(claims),
    )


class TokenVerifier(Protocol):
    """Checks a bearer token (signature, expiry, issuer, audience).

    `does_io`: whether `verify` may wait on the network (fetching signing keys); the APIs
    then run it in the thread pool, and otherwise on the event loop, saving a hop.
    """

    does_io: bool

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; raises InvalidToken otherwise."""
