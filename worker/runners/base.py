"""Runner interface shared by the container, process and cloud runners.

A runner starts one job command, lets the caller poll it, fetch its combined
stdout+stderr, kill it and clean up after it. What a runner can do beyond that
it declares in ``capabilities`` (see :class:`Capability`), each capability with
the protocol of the calls it adds; callers look there, never probe for methods.
:func:`run_to_completion` drives a runner through a whole run (heartbeat ticks,
timeout, cancel, log collection).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

#: Characters of log kept in :attr:`RunOutcome.log_tail` (what the API shows as the error).
LOG_TAIL_CHARS = 1000
#: How much of the end of a running job's log each live-log read takes.
LIVE_WINDOW_CHARS = 256 * 1024
#: Upper bound of the full log kept in memory / uploaded; older output is dropped.
MAX_LOG_BYTES = 10 * 1024 * 1024

HandleT = TypeVar("HandleT")

log = logging.getLogger(__name__)


class Capability(StrEnum):
    """What a runner can do beyond the :class:`Runner` calls (its ``capabilities``)."""

    #: Runs may wait (for cloud capacity) before they start: :class:`QueuingRunner`.
    QUEUES = "queues"
    #: Fetches an image before the run, while the job still says `preprocessing`:
    #: :class:`ImagePullingRunner`.
    PULLS_IMAGES = "pulls_images"
    #: Finds and stops the runs an earlier start of this worker left: :class:`ReapingRunner`.
    REAPS = "reaps"
    #: Runs :attr:`RunSpec.argv` as it is, without a shell (else only ``sh -c command``).
    ARGV = "argv"
    #: Binds :attr:`RunSpec.mounts`, and leaves ``/files`` out when ``mount_files`` is off.
    MOUNTS = "mounts"
    #: Publishes a port of the run where the worker's services can reach it (sessions).
    PORTS = "ports"


@dataclass(frozen=True)
class Mount:
    """An extra bind mount of a host path into a container (GA4GH TES tasks)."""

    host: Path
    target: str  # absolute container path
    read_only: bool = False


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
    # Container runners (TES tasks): run this argv as it is, with no shell (the
    # image's entrypoint replaced by argv[0]); `command` is then unused.
    argv: tuple[str, ...] | None = None
    workdir: str | None = None  # the container's working directory; None: the image's
    mounts: tuple[Mount, ...] = ()  # more bind mounts
    mount_files: bool = True  # bind `files_dir` at /files


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

    #: What this runner can do beyond these calls.
    capabilities: frozenset[Capability]

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


class QueuingRunner(Runner[HandleT], Protocol[HandleT]):
    """A runner whose runs may wait (for cloud capacity) before they start
    (:attr:`Capability.QUEUES`)."""

    def started(self, handle: HandleT) -> bool:
        """True once the run's command has begun (as of the last :meth:`poll`)."""
        ...


class ImagePullingRunner(Runner[HandleT], Protocol[HandleT]):
    """A runner that fetches images itself (:attr:`Capability.PULLS_IMAGES`)."""

    def ensure_image(self, image: str) -> None:
        """Make ``image`` available for runs (pull it unless present); raise if it cannot."""
        ...


class ReapingRunner(Runner[HandleT], Protocol[HandleT]):
    """A runner whose runs may outlive the worker (:attr:`Capability.REAPS`)."""

    def reap(self) -> list[tuple[str, int | None]]:
        """Stop the runs an earlier start of this worker left; their (job id, attempt)."""
        ...


def can(runner: Runner[Any], capability: Capability) -> bool:
    """Whether ``runner`` declares ``capability``."""
    return capability in runner.capabilities


def missing(runner: Runner[Any], needed: frozenset[Capability]) -> frozenset[Capability]:
    """The capabilities of ``needed`` that ``runner`` lacks."""
    return needed - runner.capabilities


def _started(runner: Runner[HandleT], handle: HandleT) -> bool:
    if not can(runner, Capability.QUEUES):
        return True  # a run that cannot queue has begun once it was started
    return bool(cast(QueuingRunner[HandleT], runner).started(handle))


def tail_text(data: bytes, tail_chars: int | None) -> str:
    """Decode log bytes leniently and keep the last ``tail_chars`` characters (all if None)."""
    text = data[-MAX_LOG_BYTES:].decode("utf-8", errors="replace")
    return text if tail_chars is None else text[-tail_chars:]


def run_to_completion(
    runner: Runner[HandleT],
    spec: RunSpec,
    *,
    on_tick: Callable[[], bool] | None = None,
    on_start: Callable[[], None] | None = None,
    tick_s: float = 1.0,
    on_output: Callable[[str], None] | None = None,
    output_every: float = 10.0,
    on_end: Callable[[HandleT], object] | None = None,
) -> RunOutcome:
    """Run ``spec`` on ``runner`` until it exits, times out or is cancelled.

    ``on_tick`` is called about every ``tick_s`` seconds while the run is alive
    (the worker heartbeats there); returning False kills the run and the outcome
    has ``killed=True``. ``on_start`` is called once the command has begun: at
    once for a local run, when the service starts it for a queued cloud run.
    ``spec.timeout_s``, counted from then, kills the run with ``timed_out=True``.
    ``on_output`` gets the end of the run's log (LIVE_WINDOW_CHARS) about every ``output_every``
    seconds once it has begun (live logs; it must not block); a log that cannot be
    read then is skipped. ``on_end(handle)`` is called once the run has ended,
    before the runner cleans up (e.g. to save its output streams). The runner's
    resources are always cleaned up, also when this raises.
    """
    handle = runner.start(spec)
    try:
        output = (on_output, output_every) if on_output is not None else None
        outcome = _supervise(runner, handle, spec, on_tick, on_start, tick_s, output)
        if on_end is not None:
            on_end(handle)
        return outcome
    except BaseException:
        runner.kill(handle)  # e.g. the service failed the run: leave nothing behind
        raise
    finally:
        runner.cleanup(handle)


def _supervise(
    runner: Runner[HandleT],
    handle: HandleT,
    spec: RunSpec,
    on_tick: Callable[[], bool] | None,
    on_start: Callable[[], None] | None,
    tick_s: float,
    output: tuple[Callable[[str], None], float] | None = None,
) -> RunOutcome:
    has_started = False
    deadline: float | None = None
    next_tick = time.monotonic() + tick_s
    next_output = time.monotonic()
    # Poll quickly at first so short jobs do not pay a whole tick, then back
    # off to tick_s so long container jobs do not hammer the engine API.
    poll_interval = min(0.05, tick_s)
    exit_code: int | None = None
    timed_out = killed = False
    while True:
        exit_code = runner.poll(handle)
        if not has_started and (exit_code is not None or _started(runner, handle)):
            has_started = True
            if spec.timeout_s is not None:
                deadline = time.monotonic() + spec.timeout_s
            if on_start is not None:
                on_start()
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
            if output is not None and has_started and now >= next_output:
                next_output = now + output[1]
                _pass_output(runner, handle, output[0])
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


def _pass_output(
    runner: Runner[HandleT], handle: HandleT, on_output: Callable[[str], None]
) -> None:
    try:
        # Only the end: reading a long run's whole log every few seconds would cost
        # more and more; the live log finds its place in the window (worker.live_log).
        text = runner.logs(handle, tail_chars=LIVE_WINDOW_CHARS)
    except Exception as exc:  # noqa: BLE001 - live logs are best effort; the run goes on
        log.warning("live log: reading the run's output failed: %s", exc)
        return
    on_output(text)
