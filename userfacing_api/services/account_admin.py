"""Closing, disabling and enabling accounts — one's own (`DELETE /user`) or any, by an
administrator — everywhere an account lives: labcloud's account book (with its jobs),
the Cognito pool when labcloud keeps its accounts there, the user's files, and this
process's token check; the worker API hears of it through the account sync."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import sessionmaker

from shared.auth.accounts import AccountGate, AccountState, Standing
from shared.auth.tokens import Principal
from shared.storage.base import Storage
from userfacing_api.db.models import User
from userfacing_api.services import account_book
from userfacing_api.services.accounts import AccountStore
from userfacing_api.services.files import UserFiles


def remove_files(storage: Storage, username: str) -> None:
    """Delete everything below the user's folder (fine if there is none)."""
    try:
        root = UserFiles(storage, username).root
    except ValueError:  # a name that cannot own files has none
        return
    storage.delete(root)


def fresh_folders(storage: Storage, username: str) -> None:
    """A new account's folders: empty, whatever an earlier account of the name left."""
    remove_files(storage, username)
    UserFiles(storage, username).init()


def token_gate(
    sessions: sessionmaker, ttl: float, *, local: bool, on_write: Callable[[], None]
) -> AccountGate:
    """The user API's token check. With local accounts the book knows every account (a
    token of an unknown one is refused); with Cognito it records accounts as they come."""

    def load(principal: Principal) -> AccountState | None:
        with sessions() as session:
            state, wrote = account_book.load_for_token(session, principal, enrol=not local)
        if wrote:
            on_write()
        return state

    if local:
        return AccountGate(load, ttl, require_account=True)
    return AccountGate(load, ttl, writes=account_book.enrols)


@dataclass
class AccountAdmin:
    """See the module's docstring. `pool` is where passwords are kept (None with AUTH=0);
    `authoritative`: the book knows every account (local accounts), so an unknown name is
    NotFound rather than recorded."""

    sessions: sessionmaker
    storage: Storage
    pool: AccountStore | None
    authoritative: bool
    gate: AccountGate
    account_changed: Callable[[], None]  # wakes the account sync
    jobs_changed: Callable[[], None]  # wakes the job outbox (cancels)

    def close(self, username: str, subject: str | None = None) -> None:
        """Close the account: its tokens, password, jobs and files go at once (running
        jobs are cancelled at the worker API). Idempotent."""
        if self.pool is not None:
            self.pool.remove(username)  # first: a retry finds it gone
        with self.sessions() as session:
            account_book.close_account(
                session, username, subject=subject, create=not self.authoritative
            )
        self._changed(username)
        self.jobs_changed()
        remove_files(self.storage, username)

    def set_standing(self, username: str, standing: Standing) -> User:
        """Disable (tokens refused, no sign-in) or enable (sign-in allowed again)."""
        with self.sessions() as session:
            user = account_book.set_standing(
                session, username, standing, create=not self.authoritative
            )
        if standing == "active":
            # Token times are whole seconds: one issued in the second the account was
            # disabled would be refused. Let that second pass before sign-ins resume.
            time.sleep(max(0.0, user.tokens_valid_after - time.time()))
        if self.pool is not None:
            self.pool.set_enabled(username, standing == "active")
        self._changed(username)
        return user

    def find(self, username: str) -> User:
        with self.sessions() as session:
            return account_book.find(session, username)

    def list(self, standing: Standing | None, offset: int, limit: int) -> list[User]:
        with self.sessions() as session:
            return account_book.list_accounts(session, standing, offset, limit)

    def _changed(self, username: str) -> None:
        self.gate.forget(username)
        self.account_changed()
