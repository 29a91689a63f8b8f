"""What a kind of run is, and the small context a run of it is given.

A kind (a DECODE job, a GA4GH TES task, later an interactive session) says which
specs are its own, why a spec cannot run at all, what it needs of a runner, and
how to execute one leased spec. It is given a :class:`RunContext`: its lease
(status, heartbeat, live log, downloads, uploads), its runner, its folders, the
GPUs reserved for it, the worker's settings and the cancellation check; never
the worker itself. The lease's lifecycle around it (checks, resources, folders,
the final status or the hand-back) is :mod:`worker.run`'s, the same for every kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from shared.jobs.specs import JobSpecs
from shared.jobs.states import JobStatus
from worker import staging
from worker.client import ApiError, AuthError, FileMissing, JobGone
from worker.lease import Lease
from worker.runners.base import Capability, ImagePullingRunner, Runner, can
from worker.settings import WorkerSettings


class JobFailed(Exception):
    """The job cannot go on; the message is what the user sees as runtime_details."""


class Aborted(Exception):
    """The run must end without a final status: cancelled by the server, or killed by a
    hard stop (the job is then handed back, which costs it no attempt)."""


class Lost(Aborted):
    """The run was lost through no fault of the job's nor of a stop (a cloud service
    dropped it): the job is handed back as a failed attempt, to be retried."""


@dataclass(frozen=True)
class Ending:
    """How a run ended: the final status to report, and its details."""

    status: JobStatus  # finished or error
    details: str | None = None


@dataclass(frozen=True)
class RunContext:
    """What one run of a kind may use."""

    spec: JobSpecs
    lease: Lease
    runner: Runner[Any]
    runner_kind: str  # what runs it here: docker, process, batch, ecs
    jobdir: Path  # the job's files (`/files` in a container)
    private: Path  # the worker's own folder for the run, out of the job's reach
    gpus: int  # GPUs the run asked for
    gpu_ids: tuple[str, ...]  # the GPUs reserved for it (empty: none reserved)
    settings: WorkerSettings
    aborted: Callable[[], bool]  # true once the run must stop (cancel or hard stop)

    @property
    def job_id(self) -> str:
        return self.lease.job_id

    @property
    def attempt(self) -> int | None:
        return self.lease.attempt

    def check(self) -> None:
        """Raise :class:`Aborted` once the run must stop."""
        if self.aborted():
            raise Aborted()


class RunKind(Protocol):
    """One kind of leased work. Kinds are stateless; each run gets its own context."""

    #: What the registry and the logs call it ("job", "tes", "session").
    name: str
    #: What the runner must be able to do for this kind.
    requires: frozenset[Capability]
    #: The error of a run whose runner lacks one of ``requires``; ``{runner}`` is its kind.
    unsupported: str

    def accepts(self, spec: JobSpecs) -> bool:
        """Whether ``spec`` is of this kind."""
        ...

    def refusal(self, spec: JobSpecs) -> str | None:
        """Why ``spec`` cannot run at all (checked before anything is reported), or None."""
        ...

    def execute(self, ctx: RunContext) -> Ending:
        """Run the leased spec, from `preprocessing` on, and say how it ended.

        Raises :class:`JobFailed` (the job ends in `error` with its message),
        :class:`Aborted`, or the client's JobGone / AuthError.
        """
        ...


def pull_image(runner: Runner[Any], image: str) -> None:
    """Have a runner that pulls images fetch ``image`` now (while the job still says
    `preprocessing`, with heartbeats going); JobFailed if it cannot."""
    if not can(runner, Capability.PULLS_IMAGES):
        return
    try:
        cast(ImagePullingRunner[Any], runner).ensure_image(image)
    except Exception as exc:  # noqa: BLE001 - any engine error means: no image
        # Docker's `explanation` is the engine's own words, without the request URL.
        reason = getattr(exc, "explanation", None) or exc
        raise JobFailed(f"image {image} could not be obtained: {reason}") from None


@contextmanager
def input_errors(where: str) -> Iterator[None]:
    """Turn what can go wrong placing a run's inputs into the job's error message;
    ``where`` names what held the bad path ("job spec", "task")."""
    try:
        yield
    except staging.UnsafePath as exc:
        raise JobFailed(f"unsafe path in the {where}: {exc}") from None
    except FileMissing as exc:
        raise JobFailed(f"input missing: {exc}") from None
    except (JobGone, AuthError):
        raise
    except ApiError as exc:
        raise JobFailed(f"could not download the inputs: {exc}") from None
