"""Local accounts (AUTH=1): registration, password check, token issue; and the
`AccountStore` protocol, which the Cognito pool's accounts implement too."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterable
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from shared.api.errors import BadRequest, Forbidden
from shared.auth.local import LocalTokens
from userfacing_api.db.models import User
from userfacing_api.services import account_book

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
    """Create a local account (or a new one on a closed account's name); the username
    doubles as email when it is one. Each account's tokens carry a `sub` of its own."""
    if not USERNAME.fullmatch(username) or ".." in username:
        raise BadRequest(
            "username must be 1-128 characters: letters, digits and . _ @ + - "
            "(not starting with a symbol)"
        )
    check_password_strength(password, min_length)
    return account_book.open_account(
        session,
        username,
        subject=uuid.uuid4().hex,
        groups=groups,
        email=username if EMAIL.match(username) else None,
        password_hash=_hasher.hash(password),
    )


WRONG_LOGIN = "incorrect username or password"
_dummy_hash: list[str] = []  # computed on first use: hashing takes a while


def _hash_to_check(user: User | None) -> str:
    if user is not None and user.password_hash:
        return user.password_hash
    if not _dummy_hash:
        _dummy_hash.append(_hasher.hash(secrets.token_urlsafe(32)))
    return _dummy_hash[0]


def authenticate(session: Session, username: str, password: str) -> User:
    """The account if the password matches. An unknown or closed account gets the answer
    of a wrong password, after the same work (the password checked against a dummy
    hash), so that neither the answer nor its time tells whether a name exists. A
    disabled account (with its right password) is Forbidden."""
    user = session.get(User, username)
    stored = _hash_to_check(user)
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        raise BadRequest(WRONG_LOGIN) from None
    if user is None or user.password_hash != stored:  # the dummy never matches; be sure
        raise BadRequest(WRONG_LOGIN)
    if user.standing == "disabled":
        raise Forbidden("this account is disabled; ask an administrator")
    if _hasher.check_needs_rehash(stored):
        user.password_hash = _hasher.hash(password)
        session.commit()
    return user


class AccountStore(Protocol):
    """Where `/user` and `/token` keep and check accounts' passwords: the user database
    or the Cognito pool. labcloud's own record of every account is the account book."""

    def register(
        self, username: str, password: str, groups: Iterable[str]
    ) -> tuple[str, list[str]]:
        """Create an account; its email (or name) and groups."""

    def token(self, username: str, password: str) -> tuple[str, int]:
        """An ID token and its lifetime in seconds; BadRequest / Forbidden otherwise."""

    def remove(self, username: str) -> None:
        """Delete the account where its password is kept (idempotent)."""

    def set_enabled(self, username: str, enabled: bool) -> None:
        """Let the account sign in, or not, where its password is kept."""


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
            token = self._tokens.issue(
                user.username,
                user.email,
                user.groups,
                subject=user.subject,
                not_before=user.tokens_valid_after,
            )
            return token, self._tokens.lifetime_s

    def remove(self, username: str) -> None:
        """Nothing to do: closing the account in the book forgets its password."""

    def set_enabled(self, username: str, enabled: bool) -> None:
        """Nothing to do: `authenticate` reads the account's standing."""
