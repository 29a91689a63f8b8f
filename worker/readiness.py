"""Is the worker API there? The worker's `/readyz`, and the wait before its first poll.

A worker is ready when the worker API answers its `/readyz` (a 404 from an older
server, or DECODE's, counts as an answer). At start the worker waits for that before
it polls, so that a worker started with the stack (docker compose, an ECS service)
says plainly what it waits for instead of logging failed polls.
"""

from __future__ import annotations

import logging
import threading

from shared.health import ReadinessProbe, http_probe

log = logging.getLogger(__name__)

#: Longest pause between two looks while waiting, seconds.
MAX_PAUSE_S = 10.0


def api_readiness(api_url: str) -> ReadinessProbe:
    """The worker's readiness: the worker API at `api_url` answers its `/readyz`."""
    return ReadinessProbe({"worker_api": http_probe(api_url.rstrip("/") + "/readyz")})


def wait_for_api(probe: ReadinessProbe, stopping: threading.Event, api_url: str) -> bool:
    """Wait until `probe` passes; False if `stopping` was set first."""
    pause, said = 0.5, False
    while not stopping.is_set():
        readiness = probe.check()
        if readiness.ready:
            if said:
                log.info("worker: the worker API at %s is ready", api_url)
            return True
        if not said:
            error = readiness.checks["worker_api"].error
            log.warning("worker: waiting for the worker API at %s (%s)", api_url, error)
            said = True
        stopping.wait(pause)
        probe.expire()
        pause = min(pause * 2, MAX_PAUSE_S)
    return False
