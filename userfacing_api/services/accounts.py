"""Local accounts (AUTH=1): registration, password check, token issue."""

from __future__ import annotations

import re
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.api.errors import BadRequest, Conflict, NotFound
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
    if not USERNAME.match(username) or ".." in username:
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
    user = session.get(User, username)
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
