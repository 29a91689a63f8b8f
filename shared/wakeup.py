"""Waking asyncio waiters from any thread.

Database commits happen in worker threads (plain `def` endpoints, pollers run
through `asyncio.to_thread`, the in-process transport's thread); the waiters
(the status relay's loop, long-polling `GET /jobs`) live on the event loop.
A wakeup only shortens a wait: every waiter also polls, so a lost wakeup costs
latency, never correctness.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class Wakeup:
    """A level-triggered signal: `notify()` from any thread, `await wait()` on the loop.

    A notify that arrives while nobody waits is remembered, so the next `wait`
    returns at once (the relay must not sleep a whole period on an event that
    was committed while it was busy delivering).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Future[None]] = set()
        self._pending = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the loop the waiters run on (done by the app's lifespan)."""
        with self._lock:
            self._loop = loop

    def notify(self) -> None:
        """Wake every current waiter, or the next one if none waits. Thread-safe, non-blocking."""
        with self._lock:
            loop = self._loop
            if loop is None or loop.is_closed():
                self._pending = True  # no loop yet: the first wait will see it
                return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        # On the loop thread, like `wait`: no race between the two.
        if not self._waiters:
            self._pending = True
            return
        for fut in list(self._waiters):
            if not fut.done():
                fut.set_result(None)

    async def wait(self, timeout: float) -> bool:
        """Wait until notified or `timeout` seconds passed; True when notified."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._loop is None:
                self._loop = loop
            if self._pending:
                self._pending = False
                return True
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.add(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return False
        finally:
            self._waiters.discard(fut)
        return True
