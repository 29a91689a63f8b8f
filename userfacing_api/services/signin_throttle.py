"""Sign-in throttling: at most `max_failures` failed sign-ins per account and per client
address within any `window` seconds; further attempts, the right password included, are
refused (429) until the oldest failure leaves the window.

The failures are kept in the user database, so that every API process on it counts
alike. Each attempt reserves a failure before its password is checked, under a row lock
(PostgreSQL `FOR UPDATE`; SQLite has one writer), so that concurrent attempts cannot go
past the limit; a successful attempt gives its reservation back and clears its account's
failures (not its address's: an attacker's own account must not reset the count), and
one whose check broke down (not the caller's doing) gives it back too.

Keys are hashes, so that a password typed into the username field is never stored; an
IPv6 address counts by its /64 network, which one client usually holds whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from shared.db import begin_write, upsert
from userfacing_api.db.models import SignInFailures, utcnow


class Throttled(Exception):
    """Too many failed sign-ins for this account or from this address."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Attempt:
    """A sign-in in progress: the failure it reserved, under both keys."""

    account_key: str
    address_key: str
    at: float


def _digest(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}\x00{value}".encode()).hexdigest()


def account_key(username: str) -> str:
    return _digest("account", username.strip().lower())


def address_key(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return _digest("address", address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _digest("address", str(ip.ipv4_mapped))
        return _digest("address", str(ipaddress.IPv6Network((ip, 64), strict=False)))
    return _digest("address", str(ip))


class SignInThrottle:
    """Counts failed sign-ins in the user database (see the module's docstring)."""

    def __init__(
        self,
        sessions: sessionmaker,
        max_failures: int,
        window_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions, self.max_failures, self.window_s = sessions, max_failures, window_s
        self.clock = clock

    def begin(self, username: str, address: str) -> Attempt:
        """Reserve a failure for an attempt; Throttled (nothing reserved) if over the limit."""
        now = self.clock()
        attempt = Attempt(account_key(username), address_key(address), now)
        keys = sorted({attempt.account_key, attempt.address_key})
        with self._sessions() as session:
            rows = self._locked(session, keys)
            since = now - self.window_s
            recent = {key: [t for t in rows[key].failures if t > since] for key in keys}
            waits = [
                sorted(times)[len(times) - self.max_failures] + self.window_s - now
                for times in recent.values()
                if len(times) >= self.max_failures
            ]
            if waits:
                session.rollback()
                raise Throttled(max(1, math.ceil(max(waits))))
            for key in keys:
                rows[key].failures = [*recent[key], now]
                rows[key].updated_at = utcnow()
            session.commit()
            self._purge(session)
        return attempt

    def _purge(self, session: Session) -> None:
        """Drop keys nobody has failed with for a whole window, holding no other lock and
        skipping rows another attempt holds (so that two attempts never wait on each other)."""
        stale = (
            select(SignInFailures.key)
            .where(SignInFailures.updated_at < utcnow() - dt.timedelta(seconds=self.window_s))
            .limit(100)
            .with_for_update(skip_locked=True)
        )
        session.execute(
            delete(SignInFailures).where(SignInFailures.key.in_(stale.scalar_subquery()))
        )
        session.commit()

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: clear the account's failures, give the address's back."""
        self._settle(attempt, clear_account=True)

    def cancelled(self, attempt: Attempt) -> None:
        """The check itself broke down: give the reservation back."""
        self._settle(attempt, clear_account=False)

    def _settle(self, attempt: Attempt, *, clear_account: bool) -> None:
        keys = sorted({attempt.account_key, attempt.address_key})
        with self._sessions() as session:
            rows = self._locked(session, keys)
            for key, row in rows.items():
                failures = list(row.failures)
                if key == attempt.account_key and clear_account:
                    failures = []
                elif attempt.at in failures:
                    failures.remove(attempt.at)
                row.failures = failures
            session.commit()

    @staticmethod
    def _locked(session: Session, keys: list[str]) -> dict[str, SignInFailures]:
        """The rows of `keys`, made if missing, locked in key order (no deadlocks)."""
        begin_write(session)
        session.execute(
            upsert(session, SignInFailures)
            .values([{"key": k, "failures": [], "updated_at": utcnow()} for k in keys])
            .on_conflict_do_nothing(index_elements=["key"])
        )
        found = session.scalars(
            select(SignInFailures)
            .where(SignInFailures.key.in_(keys))
            .order_by(SignInFailures.key)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {row.key: row for row in found}
