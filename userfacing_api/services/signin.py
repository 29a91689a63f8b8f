"""Password sign-ins (`/token`, `/login`, TES Basic) and registrations: throttled, and
their password work kept in a bounded pool.

Checking a password is slow on purpose (argon2: about 0.2 s of one core and 64 MiB; or
a round trip to Cognito). Run in the request thread pool, a flood of sign-ins would
take every thread and every core, and every other request would wait. Here the work
runs in a pool of its own (PASSWORD_HASH_WORKERS threads), awaited from the event loop
so that a waiting sign-in holds no request thread; at most SIGNIN_MAX_PENDING sign-ins
and registrations are under way at once, and the next is answered "busy" (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from shared.api.errors import ServiceError
from userfacing_api.services.accounts import AccountStore
from userfacing_api.services.signin_throttle import SignInThrottle

T = TypeVar("T")


class SignInBusy(Exception):
    """SIGNIN_MAX_PENDING sign-ins are under way: try again in a moment."""


class SignIns:
    """Sign-ins and registrations of an :class:`AccountStore` (see the module's docstring).
    Its methods are called on the event loop."""

    def __init__(
        self, accounts: AccountStore, throttle: SignInThrottle, workers: int, max_pending: int
    ) -> None:
        self.accounts, self.throttle = accounts, throttle
        self._workers, self._max_pending = workers, max_pending
        self._pool: ThreadPoolExecutor | None = None
        self._pending = 0  # touched on the event loop only

    async def token(self, username: str, password: str, address: str) -> tuple[str, int]:
        """An ID token and its lifetime; Throttled, SignInBusy, or the store's refusal."""
        with self._slot():
            attempt = await run_in_threadpool(self.throttle.begin, username, address)
            try:
                result = await self._in_pool(self.accounts.token, username, password)
            except ServiceError:  # wrong password, unknown or disabled account: it counts
                raise
            except Exception:  # the check broke down (database, Cognito): it does not
                # (a cancelled request still counts: hanging up must not undo a failure)
                await run_in_threadpool(self.throttle.cancelled, attempt)
                raise
            await run_in_threadpool(self.throttle.succeeded, attempt)
            return result

    async def register(
        self, username: str, password: str, groups: Iterable[str]
    ) -> tuple[str, list[str]]:
        """Create an account (hashing its password in the pool)."""
        with self._slot():
            return await self._in_pool(self.accounts.register, username, password, list(groups))

    def close(self) -> None:
        """Stop the pool's threads (the app's shutdown); a later call starts a new pool."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def _in_pool(self, fn: Callable[..., T], *args: object) -> T:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="password-check")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args))

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        """One of the SIGNIN_MAX_PENDING places, held while a sign-in is under way."""
        if self._pending >= self._max_pending:
            raise SignInBusy("too many sign-ins at once; try again in a moment")
        self._pending += 1
        try:
            yield
        finally:
            self._pending -= 1
