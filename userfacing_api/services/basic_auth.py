"""HTTP Basic logins with the accounts of `/token` (several TES clients only do Basic).

A username and password are checked the way `/token` checks them (local
accounts or the Cognito pool), and the resulting token is verified like any
bearer token, so a Basic caller is the same principal with the same groups. A
password check is slow on purpose (argon2, or a round trip to Cognito), and TES
clients poll: a successful login is remembered for a short while, keyed by a
hash of the credentials, never the password itself.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from collections.abc import Callable

from shared.api.errors import ServiceError
from shared.auth.tokens import InvalidToken, Principal, TokenVerifier
from userfacing_api.services.accounts import AccountStore

#: Seconds a successful Basic login is remembered.
CACHE_SECONDS = 60.0
_MAX_ENTRIES = 1024


class BasicLoginFailed(Exception):
    """Wrong or unusable credentials; the message is fit for the client."""


class BasicLogins:
    """Checks Basic credentials against an :class:`AccountStore`, with a short cache."""

    def __init__(
        self,
        accounts: AccountStore | None,
        verifier: TokenVerifier,
        *,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accounts, self._verifier = accounts, verifier
        self._ttl, self._clock = ttl, clock
        self._salt = os.urandom(32)
        self._cache: dict[bytes, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def login(self, username: str, password: str) -> Principal:
        """The principal of these credentials; BasicLoginFailed otherwise."""
        if self._accounts is None:
            raise BasicLoginFailed("this server has no password logins (AUTH=0): use a token")
        key = hmac.new(self._salt, f"{username}\x00{password}".encode(), "sha256").digest()
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] > now:
                return cached[1]
        try:
            token, _ = self._accounts.token(username, password)
            principal = self._verifier.verify(token)
        except (ServiceError, InvalidToken):
            raise BasicLoginFailed("incorrect username or password") from None
        with self._lock:
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                if len(self._cache) >= _MAX_ENTRIES:
                    self._cache.clear()
            self._cache[key] = (now + self._ttl, principal)
        return principal
