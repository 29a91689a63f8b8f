"""Runner interface shared by the container and process runners.

A runner starts one job command, lets the caller poll it, fetch its combined
stdout+stderr, kill it and clean up after it. :func:`run_to_completion` drives a
runner through a whole run (heartbeat ticks, timeout, cancel, log collection).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

#: Characters of log kept in :attr:`RunOutcome.log_tail` (what the API shows as the error).
LOG_TAIL_CHARS = 1000
#: Upper bound of the full log kept in memory / uploaded; older output is dropped.
MAX_LOG_BYTES = 10 * 1024 * 1024

HandleT = TypeVar("HandleT")


@dataclass(frozen=True)
class RunSpec:
    """What to run and with which resources; independent of the runner."""

    job_id: str  # used for container names/labels
    command: str  # one shell string, run as `sh -c <command>`
    files_dir: Path  # host job dir: /files in a container, cwd for a process
    image: str | None = None  # container runners only
    env: dict[str, str] = field(default_factory=dict)
    cpu_cores: int | None = None
    memory_mb: int | None = None
    gpus: int = 0  # number of GPUs requested; 0 = none
    # The host GPUs (nvidia-smi indices or UUIDs) reserved for this run; when set,
    # the run gets exactly these, otherwise any `gpus` of them.
    gpu_ids: tuple[str, ...] = ()
    timeout_s: float | None = None


@dataclass
class RunOutcome:
    """How a run ended, as reported by :func:`run_to_completion`."""

    exit_code: int | None  # None when killed (cancel or timeout) before it exited
    timed_out: bool = False
    killed: bool = False  # killed on request (on_tick returned False)
    log_tail: str = ""  # last LOG_TAIL_CHARS characters of combined stdout+stderr
    log: str = ""  # full combined log, bounded to the last MAX_LOG_BYTES


class Runner(Protocol[HandleT]):
    """Starts and supervises job commands; ``HandleT`` identifies one run."""

    def start(self, spec: RunSpec) -> HandleT:
        """Start ``spec.command`` and return a handle; raise if it cannot be started."""
        ...

    def poll(self, handle: HandleT) -> int | None:
        """Return the exit code once the run has exited, else ``None``."""
        ...

    def logs(self, handle: HandleT, tail_chars: int | None = LOG_TAIL_CHARS) -> str:
        """Return the last ``tail_chars`` characters of combined output.

        ``None`` returns the whole log, bounded to the last :data:`MAX_LOG_BYTES`.
        """
        ...

    def kill(self, handle: HandleT) -> None:
        """Kill the run (all its processes) and wait briefly until it is gone.

        Must not raise if the run has already exited.
        """
        ...

    def cleanup(self, handle: HandleT) -> None:
        """Release everything the run holds (container, temp files); idempotent."""
        ...


def tail_text(data: bytes, tail_chars: int | None) -> str:
    """Decode log bytes leniently and keep the last ``tail_chars`` characters (all if None)."""
    text = data[-MAX_LOG_BYTES:].decode("utf-8", errors="replace")
    return text if tail_chars is None else text[-tail_chars:]


def run_to_completion(
    runner: Runner[HandleT],
    spec: RunSpec,
    *,
    on_tick: Callable[[], bool] | None = None,
    tick_s: float = 1.0,
) -> RunOutcome:
    """Run ``spec`` on ``runner`` until it exits, times out or is cancelled.

    ``on_tick`` is called about every ``tick_s`` seconds while the run is alive
    (the worker heartbeats there); returning False kills the run and the outcome
    has ``killed=True``. ``spec.timeout_s`` kills the run with ``timed_out=True``.
    The runner's resources are always cleaned up, also when this raises.
    """
    handle = runner.start(spec)
    try:
        started = time.monotonic()
        deadline = started + spec.timeout_s if spec.timeout_s is not None else None
        next_tick = started + tick_s
        # Poll quickly at first so short jobs do not pay a whole tick, then back
        # off to tick_s so long container jobs do not hammer the engine API.
        poll_interval = min(0.05, tick_s)
        exit_code: int | None = None
        timed_out = killed = False
        while True:
            exit_code = runner.poll(handle)
            if exit_code is not None:
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                runner.kill(handle)
                timed_out = True
                break
            if now >= next_tick:
                next_tick = now + tick_s
                if on_tick is not None and not on_tick():
                    runner.kill(handle)
                    killed = True
                    break
            wake = min(next_tick, deadline) if deadline is not None else next_tick
            time.sleep(max(0.0, min(poll_interval, wake - now)))
            poll_interval = min(poll_interval * 2, tick_s)
        log = runner.logs(handle, tail_chars=None)
        return RunOutcome(
            exit_code=None if (timed_out or killed) else exit_code,
            timed_out=timed_out,
            killed=killed,
            log_tail=log[-LOG_TAIL_CHARS:],
            log=log,
        )
    finally:
        runner.cleanup(handle)
