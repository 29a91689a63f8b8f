"""HTTP Basic logins with the accounts of `/token` (several TES clients only do Basic).

A username and password are checked as `/token` checks them (the same sign-ins:
throttled, the password work in the bounded pool), and the resulting token is
verified like any bearer token, so a Basic caller is the same principal with the
same groups, whose account is checked like any token's (a remembered login too). A
password check is slow on purpose, and TES clients poll: a successful login is
remembered for a short while, keyed by a hash of the credentials, never the password.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from shared.api.errors import Forbidden, ServiceError
from shared.auth.accounts import AccountGate
from shared.auth.tokens import InvalidToken, Principal, TokenVerifier
from userfacing_api.services.accounts import WRONG_LOGIN


class PasswordSignIns(Protocol):
    async def token(self, username: str, password: str, address: str) -> tuple[str, int]:
        """An ID token and its lifetime (see `SignIns.token`)."""


#: Seconds a successful Basic login is remembered.
CACHE_SECONDS = 60.0
_MAX_ENTRIES = 1024


class BasicLoginFailed(Exception):
    """Wrong or unusable credentials; the message is fit for the client."""


class BasicLogins:
    """Checks Basic credentials with the sign-ins of `/token`, with a short cache."""

    def __init__(
        self,
        signins: PasswordSignIns | None,
        verifier: TokenVerifier,
        *,
        gate: AccountGate | None = None,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._signins, self._verifier, self._gate = signins, verifier, gate
        self._ttl, self._clock = ttl, clock
        self._salt = os.urandom(32)
        self._cache: dict[bytes, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    async def login(self, username: str, password: str, address: str) -> Principal:
        """The principal of these credentials; BasicLoginFailed otherwise (the sign-in's
        Throttled and SignInBusy pass through)."""
        if self._signins is None:
            raise BasicLoginFailed("this server has no password logins (AUTH=0): use a token")
        key = hmac.new(self._salt, f"{username}\x00{password}".encode(), "sha256").digest()
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            try:
                if self._gate is not None:
                    await self._gate.check_async(cached[1])
                return cached[1]
            except InvalidToken:  # the account changed since: closed, disabled, re-created
                with self._lock:
                    self._cache.pop(key, None)
        try:
            token, _ = await self._signins.token(username, password, address)
            if getattr(self._verifier, "does_io", True):
                principal = await run_in_threadpool(self._verifier.verify, token)
            else:
                principal = self._verifier.verify(token)
        except Forbidden as exc:
            raise BasicLoginFailed(str(exc)) from None
        except (ServiceError, InvalidToken):
            raise BasicLoginFailed(WRONG_LOGIN) from None
        with self._lock:
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                if len(self._cache) >= _MAX_ENTRIES:
                    self._cache.clear()
            self._cache[key] = (now + self._ttl, principal)
        return principal
