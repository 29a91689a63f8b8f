"""Entry point of the worker agent: settings, logging, signals, then the loop.

The `labcloud worker` command calls :func:`run_worker`.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from shared.logs import configure_logging
from shared.settings import SettingsError
from worker.loop import Worker
from worker.settings import WorkerSettings, load_settings

log = logging.getLogger(__name__)

#: Exit codes of :func:`run_worker`.
EXIT_OK, EXIT_FATAL, EXIT_CONFIG = 0, 1, 2


def run_worker(settings: WorkerSettings | None = None) -> int:
    """Run a worker until SIGTERM/SIGINT (or a rejected login); return the exit code.

    The first signal stops leasing and lets running jobs finish within
    DRAIN_TIMEOUT; a second one kills them at once and hands them back (which costs
    them no attempt).
    Signal handlers are installed only when called from the main thread.
    """
    if settings is None:
        try:
            settings = load_settings()
        except SettingsError as exc:
            print(exc.message, file=sys.stderr)
            return EXIT_CONFIG
    _configure_logging(settings.log_level, settings.log_format)
    try:
        worker = Worker(settings)
    except Exception as exc:  # noqa: BLE001 - e.g. an unusable scratch dir: say it plainly
        log.error("worker: cannot start: %s", exc)
        return EXIT_FATAL
    with _signals(worker):
        worker.run()
    if worker.fatal_error:
        log.error("worker: stopped: %s", worker.fatal_error)
        return EXIT_FATAL
    return EXIT_OK


def _configure_logging(level: str, fmt: str = "text") -> None:
    # basicConfig is a no-op when the host (e.g. `labcloud up`) configured logging already.
    configure_logging(level, fmt)
    if level.upper() != "DEBUG":
        # One line per heartbeat and poll drowns what matters; our own logs say enough.
        logging.getLogger("httpx").setLevel(logging.WARNING)


@contextmanager
def _signals(worker: Worker) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = 0

    def handle(signum: int, _frame: FrameType | None) -> None:
        nonlocal received
        received += 1
        name = signal.Signals(signum).name
        if received == 1:
            log.info(
                "worker: %s: taking no new jobs; finishing running jobs (again to stop them "
                "and hand them back to the queue)",
                name,
            )
            worker.stop(drain=True)
        else:
            log.info("worker: %s: stopping running jobs; handing them back to the queue", name)
            worker.stop(drain=False)

    previous: dict[signal.Signals, Callable[..., Any] | int | None] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
