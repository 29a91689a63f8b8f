"""Background work in an API process: plain `run_once` functions driven by asyncio.

Each round runs in a thread (the functions use the synchronous database driver)
and the loop never blocks. A round is repeated every `period` seconds, or at once
when its `Wakeup` is notified; a failing round is logged and retried next time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from shared.wakeup import Wakeup

log = logging.getLogger(__name__)


@dataclass
class Periodic:
    name: str
    run_once: Callable[[], object]
    period: float
    wakeup: Wakeup | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Repeat `run_once` until `stop` is set."""
        if self.wakeup is not None:
            self.wakeup.bind(asyncio.get_running_loop())
        while not stop.is_set():
            try:
                busy = await asyncio.to_thread(self.run_once)
            except Exception:
                log.exception("background task %s failed; retrying", self.name)
                busy = False
            if busy:  # a round that did work may have left more: go again at once
                await asyncio.sleep(0)
                continue
            if self.wakeup is not None:
                await self.wakeup.wait(self.period)
            else:
                try:
                    await asyncio.wait_for(stop.wait(), self.period)
                except TimeoutError:
                    pass


class BackgroundTasks:
    """Starts and stops a set of `Periodic` loops (from an app's lifespan)."""

    def __init__(
        self, loops: list[Periodic], closers: list[Callable[[], object]] | None = None
    ) -> None:
        self.loops = loops
        self.closers = closers or []  # run after the loops stopped (HTTP clients, …)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._stop = asyncio.Event()
        self._tasks = [asyncio.create_task(p.run(self._stop), name=p.name) for p in self.loops]

    async def stop(self) -> None:
        self._stop.set()
        for loop in self.loops:
            if loop.wakeup is not None:
                loop.wakeup.notify()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for close in self.closers:
            close()
