"""labcloud's record of accounts (the users table): opening, closing, disabling and
enabling them, and the state the token check reads (see shared.auth.accounts).

Every change bumps the account's `revision` and makes it due for the worker API
(`sync_due_at`), which the account-sync round then tells.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.api.errors import Conflict, NotFound
from shared.auth.accounts import AccountState, Standing, refusal, revocation_time
from shared.auth.tokens import Principal
from shared.db import begin_write
from userfacing_api.db.models import Job, StorageQuota, User, UserPreference, utcnow
from userfacing_api.services.jobs import remove_job

MAX_PAGE = 1000


def state_of(user: User) -> AccountState:
    return AccountState.model_validate(user)


def _a_change() -> dict[str, Any]:
    """The columns every change sets: a new revision, due for the worker API."""
    return {"revision": User.revision + 1, "sync_due_at": utcnow()}


def open_account(
    session: Session,
    username: str,
    *,
    subject: str | None,
    groups: Iterable[str],
    email: str | None,
    password_hash: str | None,
) -> User:
    """A new account of this name, committed: a new row, or a closed account's row taken
    over (a new subject; the old account's tokens stay refused). Conflict if in use."""
    fields: dict[str, Any] = {
        "subject": subject,
        "groups": sorted(set(groups)),
        "email": email,
        "password_hash": password_hash,
        "standing": "active",
        "created_at": utcnow(),
    }
    begin_write(session)
    previous = session.get(User, username)
    if previous is None:
        session.add(
            User(
                username=username,
                tokens_valid_after=0,
                revision=1,
                sync_due_at=utcnow(),
                **fields,
            )
        )
    else:
        if subject is not None:  # the subject alone tells the old account's tokens apart
            fields["tokens_valid_after"] = 0
        taken_over = session.execute(
            update(User)
            .where(
                User.username == username,
                User.standing == "closed",
                User.revision == previous.revision,
            )
            .values(**fields, **_a_change())
        )
        if taken_over.rowcount != 1:
            session.rollback()
            raise Conflict("user already exists")
        _remove_jobs(session, username)  # one submitted while the old account closed
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict("user already exists") from None
    session.expire_all()
    user = session.get(User, username)
    assert user is not None
    return user


def find(session: Session, username: str) -> User:
    """A known account (closed ones included); NotFound otherwise."""
    user = session.get(User, username)
    if user is None:
        raise NotFound(f"no account named '{username}'")
    return user


def set_standing(session: Session, username: str, standing: Standing, *, create: bool) -> User:
    """Disable or enable an account, committed. Disabling also revokes every token issued
    so far; enabling does not revive them. `create`: an account labcloud has not seen yet
    (Cognito) gets a row in that standing. NotFound for an unknown or closed account."""
    begin_write(session)
    values: dict[str, Any] = {"standing": standing, **_a_change()}
    if standing == "disabled":
        revoked = revocation_time()
        values["tokens_valid_after"] = case(
            (User.tokens_valid_after < revoked, revoked), else_=User.tokens_valid_after
        )
    changed = session.execute(
        update(User).where(User.username == username, User.standing != "closed").values(**values)
    )
    if changed.rowcount != 1:
        if not create or session.get(User, username) is not None:
            session.rollback()
            raise NotFound(f"no open account named '{username}'")
        session.add(_recorded(username, standing))
    session.commit()
    session.expire_all()
    return find(session, username)


def _recorded(username: str, standing: Standing, subject: str | None = None) -> User:
    """A row for an account of the pool that labcloud had not seen."""
    return User(
        username=username,
        groups=[],
        subject=subject,
        standing=standing,
        tokens_valid_after=revocation_time() if standing != "active" else 0,
        revision=1,
        sync_due_at=utcnow(),
    )


def close_account(session: Session, username: str, *, subject: str | None, create: bool) -> None:
    """Close an account, committed: refuse its tokens for good, forget its password and
    preferences, and remove its jobs (cancelling live ones at the worker API through the
    outbox) and its storage quota override. Its files are the caller's to delete.
    `subject`: the `sub` of its tokens, if known. Idempotent; NotFound for an unknown name
    unless `create` (Cognito)."""
    begin_write(session)
    user = session.get(User, username)
    if user is None:
        if not create:
            session.rollback()
            raise NotFound(f"no account named '{username}'")
        session.add(_recorded(username, "closed", subject))
    elif user.standing != "closed":
        session.execute(
            update(User)
            .where(User.username == username)
            .values(
                standing="closed",
                password_hash=None,
                subject=user.subject or subject,
                tokens_valid_after=max(user.tokens_valid_after, revocation_time()),
                **_a_change(),
            )
        )
    session.execute(delete(UserPreference).where(UserPreference.user_id == username))
    # a name registered again is a new account: it inherits no quota either
    session.execute(
        delete(StorageQuota).where(StorageQuota.kind == "user", StorageQuota.name == username)
    )
    _remove_jobs(session, username)
    session.commit()


def _remove_jobs(session: Session, username: str) -> None:
    for job in session.scalars(select(Job).where(Job.user_id == username)).all():
        remove_job(session, job)


def list_accounts(
    session: Session, standing: Standing | None, offset: int, limit: int
) -> list[User]:
    """Accounts by name; closed ones only when asked for by `standing`."""
    query = select(User).order_by(User.username).offset(offset).limit(min(limit, MAX_PAGE))
    if standing is None:
        query = query.where(User.standing != "closed")
    else:
        query = query.where(User.standing == standing)
    return list(session.scalars(query))


def enrols(state: AccountState | None, principal: Principal) -> bool:
    """Whether `load_for_token(enrol=True)` records something for this principal: a first
    sight, a new account of a closed name, or the `sub` of an account recorded without."""
    subject = principal.claims.get("sub")
    if not isinstance(subject, str) or not subject:
        return False
    if state is None:
        return True
    if state.standing == "closed":
        return refusal(state, principal.claims) is None
    return state.subject is None


def load_for_token(
    session: Session, principal: Principal, *, enrol: bool
) -> tuple[AccountState | None, bool]:
    """The state the token check compares `principal` with, and whether it was written.

    `enrol` (Cognito, where the pool creates accounts): an account seen for the first
    time is recorded with its `sub`, and a token of a new account of a closed name (a new
    `sub`) reopens the row for it; either is then told to the worker API.
    """
    user = session.get(User, principal.username)
    current = state_of(user) if user is not None else None
    if not enrol or not enrols(current, principal):
        return current, False
    session.rollback()  # read again under the write lock (SQLite), then write
    begin_write(session)
    user = session.get(User, principal.username)
    current = state_of(user) if user is not None else None
    if not enrols(current, principal):
        session.rollback()
        return current, False
    subject = principal.claims["sub"]
    if user is None:
        session.add(
            User(
                username=principal.username,
                email=principal.email,
                groups=sorted(principal.groups),
                subject=subject,
                standing="active",
                tokens_valid_after=0,
                revision=1,
                sync_due_at=utcnow(),
            )
        )
    elif user.standing == "closed":
        # A new account of the name: the old one's tokens carry another subject.
        session.execute(
            update(User)
            .where(User.username == user.username, User.revision == user.revision)
            .values(
                subject=subject,
                standing="active",
                tokens_valid_after=0,
                email=principal.email,
                groups=sorted(principal.groups),
                created_at=utcnow(),
                **_a_change(),
            )
        )
        _remove_jobs(session, user.username)
    else:
        session.execute(
            update(User)
            .where(User.username == user.username, User.subject.is_(None))
            .values(subject=subject, **_a_change())
        )
    try:
        session.commit()
    except IntegrityError:  # another request recorded it first
        session.rollback()
    session.expire_all()
    user = session.get(User, principal.username)
    return (state_of(user) if user is not None else None), True
