"""Wakeup: notify from any thread, wait on the loop; notifications are not lost."""

from __future__ import annotations

import asyncio
import threading
import time

from shared.wakeup import Wakeup


def test_wait_times_out_without_notify() -> None:
    async def main() -> tuple[bool, float]:
        wakeup = Wakeup()
        start = time.monotonic()
        woken = await wakeup.wait(0.1)
        return woken, time.monotonic() - start

    woken, elapsed = asyncio.run(main())
    assert not woken and elapsed >= 0.09


def test_notify_from_a_thread_wakes_every_waiter() -> None:
    async def main() -> list[bool]:
        wakeup = Wakeup()
        wakeup.bind(asyncio.get_running_loop())
        waiters = [asyncio.create_task(wakeup.wait(5)) for _ in range(3)]
        await asyncio.sleep(0.05)
        threading.Thread(target=wakeup.notify).start()
        start = time.monotonic()
        results = await asyncio.gather(*waiters)
        assert time.monotonic() - start < 1
        return results

    assert asyncio.run(main()) == [True, True, True]


def test_a_notify_while_nobody_waits_is_remembered_once() -> None:
    async def main() -> tuple[bool, bool]:
        wakeup = Wakeup()
        wakeup.bind(asyncio.get_running_loop())
        wakeup.notify()
        first = await wakeup.wait(1)
        second = await wakeup.wait(0.05)
        return first, second

    assert asyncio.run(main()) == (True, False)


def test_notify_without_a_loop_does_not_fail() -> None:
    Wakeup().notify()
