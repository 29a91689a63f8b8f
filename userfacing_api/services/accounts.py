"""Local accounts (AUTH=1): registration, password check, token issue."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.api.errors import BadRequest, Conflict, NotFound
from shared.auth.local import LocalTokens
from userfacing_api.db.models import User

_hasher = PasswordHasher()
# A user id becomes a folder name: keep it to characters that are safe everywhere.
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def check_password_strength(password: str, min_length: int) -> None:
    """A password must be long enough and mix letters with digits or symbols."""
    if len(password) < min_length:
        raise BadRequest(f"password must be at least {min_length} characters long")
    if not re.search(r"[A-Za-z]", password) or not re.search(r"[^A-Za-z]", password):
        raise BadRequest("password must contain letters and at least one digit or symbol")


def register(
    session: Session, username: str, password: str, groups: Iterable[str], min_length: int
) -> User:
    """Create a local account; the username doubles as email when it is one."""
    if not USERNAME.fullmatch(username) or ".." in username:
        raise BadRequest(
            "username must be 1-128 characters: letters, digits and . _ @ + - "
            "(not starting with a symbol)"
        )
    check_password_strength(password, min_length)
    user = User(
        username=username,
        email=username if EMAIL.match(username) else None,
        password_hash=_hasher.hash(password),
        groups=sorted(set(groups)),
    )
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict("user already exists") from None
    return user


def authenticate(session: Session, username: str, password: str) -> User:
    """The account if the password matches; NotFound / BadRequest as DECODE answers."""
    # A name no account can have (NUL, say, which PostgreSQL refuses) is nobody's.
    user = session.get(User, username) if USERNAME.fullmatch(username) else None
    if user is None:
        raise NotFound("user not found")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        raise BadRequest("incorrect username or password") from None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        session.commit()
    return user


class AccountStore(Protocol):
    """Where `/user` and `/token` keep and check accounts."""

    def register(
        self, username: str, password: str, groups: Iterable[str]
    ) -> tuple[str, list[str]]:
        """Create an account; its email (or name) and groups."""

    def token(self, username: str, password: str) -> tuple[str, int]:
        """An ID token and its lifetime in seconds; NotFound / BadRequest otherwise."""


class LocalAccounts:
    """Accounts in the user database, tokens signed here (AUTH=1 without Cognito)."""

    def __init__(self, sessions: Any, tokens: LocalTokens, min_length: int) -> None:
        self._sessions, self._tokens, self._min_length = sessions, tokens, min_length

    def register(
        self, username: str, password: str, groups: Iterable[str]
    ) -> tuple[str, list[str]]:
        with self._sessions() as session:
            user = register(session, username, password, groups, self._min_length)
            return user.email or user.username, list(user.groups)

    def token(self, username: str, password: str) -> tuple[str, int]:
        with self._sessions() as session:
            user = authenticate(session, username, password)
            return self._tokens.issue(
                user.username, user.email, user.groups
            ), self._tokens.lifetime_s
