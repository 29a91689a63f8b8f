"""Whether a validly signed token still counts: its account may be closed, disabled or
re-created since the token was issued.

A signature proves who issued a token, not that its account still stands. Each API
keeps, per account name, the account's standing (`AccountState`): the user API in its
users table (the authority), the worker API a copy that the user API sends it after
every change (`PUT /_accounts/{username}`). A token counts when

- its account is not closed (a token of a later account of that name, with another
  `sub`, is that later account's);
- it carries the account's `sub`: registering a name again starts a new account with
  a new `sub`, so the old account's tokens stay dead;
- the account is not disabled; and
- it was issued (`iat`) at or after the account's `tokens_valid_after`, which closing
  and disabling move past every token issued so far (re-enabling does not move it back).

An API that has no state for a name accepts its tokens (the worker API hears of an
account only once it changes), unless it is told that it knows every account
(`require_account`: the user API with local accounts).

The check runs on every request, so each process remembers what it read for
`ttl` seconds (ACCOUNT_CACHE_SECONDS) and forgets an account at once when it changes
it itself; `check_async` answers from memory on the event loop and reads the
database in the thread pool only when it must.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from shared.auth.tokens import InvalidToken, Principal

Standing = Literal["active", "disabled", "closed"]
MAX_CACHED = 10_000


class AccountState(BaseModel):
    """An account's standing; also the user API's message to the worker API. Read from
    either API's table row with `AccountState.model_validate(row)`."""

    model_config = ConfigDict(from_attributes=True)

    username: str = Field(min_length=1, max_length=128)
    subject: str | None = Field(
        default=None, max_length=255, description="the `sub` of its tokens; null: not known"
    )
    standing: Standing
    tokens_valid_after: int = Field(
        ge=0, le=2**53, description="unix seconds: tokens issued (`iat`) before it are refused"
    )
    revision: int = Field(
        ge=1, le=2**31 - 1, description="grows with every change; a copy keeps the highest"
    )


def revocation_time(now: float | None = None) -> int:
    """`tokens_valid_after` for a change made now: past every token issued so far.

    Token times are whole seconds, so a token issued later in this same second would
    also be refused; local tokens are stamped no earlier than this (`issued_at`).
    """
    return math.floor(time.time() if now is None else now) + 1


def refusal(state: AccountState | None, claims: Mapping[str, Any]) -> str | None:
    """Why a token with these claims no longer counts for `state`'s account; None if it does."""
    if state is None:
        return None
    subject = claims.get("sub")
    iat = claims.get("iat")
    issued = iat if isinstance(iat, int | float) else 0
    if state.standing == "closed":
        if state.subject is not None:
            return "this account was closed" if subject == state.subject else None
        return "this account was closed" if issued < state.tokens_valid_after else None
    if state.subject is not None and subject != state.subject:
        return "this token is of an earlier account of the same name; sign in again"
    if state.standing == "disabled":
        return "this account is disabled; ask an administrator"
    if issued < state.tokens_valid_after:
        return "this token was revoked; sign in again"
    return None


class AccountGate:
    """Refuses tokens whose account no longer stands, remembering what it read a while.

    `load(principal)` reads the account's state (may do I/O, so it is called from a
    thread). `writes(state, principal)`: whether `load` would record something for this
    principal (the user API records Cognito accounts as they come), in which case what
    is remembered is not enough. Thread-safe.
    """

    def __init__(
        self,
        load: Callable[[Principal], AccountState | None],
        ttl: float,
        *,
        require_account: bool = False,
        writes: Callable[[AccountState | None, Principal], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load, self._ttl, self._clock = load, ttl, clock
        self._require_account, self._writes = require_account, writes
        self._cache: dict[str, tuple[float, AccountState | None]] = {}
        self._lock = threading.Lock()

    def _cached(self, principal: Principal) -> tuple[bool, AccountState | None]:
        with self._lock:
            hit = self._cache.get(principal.username)
        if hit is None or hit[0] <= self._clock():
            return False, None
        if self._writes is not None and self._writes(hit[1], principal):
            return False, None
        return True, hit[1]

    def _remember(self, username: str, state: AccountState | None) -> None:
        if self._ttl <= 0:
            return
        now = self._clock()
        with self._lock:
            if len(self._cache) >= MAX_CACHED:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                if len(self._cache) >= MAX_CACHED:
                    self._cache.clear()
            self._cache[username] = (now + self._ttl, state)

    def _judge(self, principal: Principal, state: AccountState | None) -> None:
        if state is None and self._require_account:
            raise InvalidToken("no such account")
        reason = refusal(state, principal.claims)
        if reason is not None:
            raise InvalidToken(reason)

    def _load_and_judge(self, principal: Principal) -> None:
        state = self._load(principal)
        self._remember(principal.username, state)
        self._judge(principal, state)

    def check(self, principal: Principal) -> None:
        """Raise InvalidToken if the principal's account no longer accepts this token.
        May read the database: call it from a thread, or use `check_async`."""
        known, state = self._cached(principal)
        if known:
            self._judge(principal, state)
        else:
            self._load_and_judge(principal)

    async def check_async(self, principal: Principal) -> None:
        """`check` for the event loop: from memory when it can, else in the thread pool."""
        known, state = self._cached(principal)
        if known:
            self._judge(principal, state)
        else:
            await run_in_threadpool(self._load_and_judge, principal)

    def forget(self, username: str) -> None:
        """Drop what this process remembers of `username` (after changing it)."""
        with self._lock:
            self._cache.pop(username, None)
