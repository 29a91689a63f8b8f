"""One leased spec in its own thread, whatever its kind: the lease's lifecycle.

A :class:`LeaseRun` checks that the spec can run here (its runner is enabled,
it fits the machine, its kind does not refuse it), gets its runner (which must
have what the kind requires), says `preprocessing`, waits for resources if it
was leased without, makes the job's folders, and hands a
:class:`~worker.kinds.base.RunContext` to its kind (:mod:`worker.kinds.registry`).
The kind's :class:`~worker.kinds.base.Ending` becomes the final status;
:class:`~worker.kinds.base.JobFailed` (or a bug) ends the job in `error`. A 404
on any call means the job is no longer ours: the run is killed, its folders
removed, and nothing more is said about the job. A run that ends without a final
status (hard stop) hands its job back with ``POST /jobs/{id}/release``, which costs
the job no attempt; one whose run was lost (:class:`~worker.kinds.base.Lost`) hands it
back as a failed attempt.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shared.jobs.specs import JobSpecs
from shared.jobs.states import JobStatus
from shared.log_context import bind_job
from worker import staging
from worker.client import JobGone, WorkerClient, lease_attempt
from worker.hardware import Grant, Needs, Resources
from worker.kinds.base import Aborted, Ending, JobFailed, Lost, RunContext, RunKind
from worker.kinds.registry import kind_for
from worker.lease import Lease
from worker.runners.pool import RunnerPool, RunnerUnavailable
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Facilities:
    """What a run uses of the worker it runs on (never the worker itself)."""

    client: WorkerClient
    settings: WorkerSettings
    resources: Resources
    runners: RunnerPool
    scratch: Path  # this worker's scratch folder: the job folders go there
    killing: threading.Event  # a hard stop: every run ends now and hands its job back


class LeaseRun:
    """One leased spec, from `preprocessing` to its final status, in its own thread."""

    def __init__(
        self,
        facilities: Facilities,
        job_id: str,
        spec: JobSpecs,
        needs: Needs,
        grant: Grant | None,
        on_done: Callable[[LeaseRun], object],
        kind: RunKind | None = None,
    ) -> None:
        self._f, self.spec, self.needs, self.grant = facilities, spec, needs, grant
        self.kind = kind or kind_for(spec)
        # Every call about the job carries the lease's attempt (fencing).
        attempt = lease_attempt(spec.meta.extra)
        self.lease = Lease(
            facilities.client, job_id, attempt, facilities.settings.heartbeat_interval
        )
        self.waiting = grant is None  # leased, waiting for resources to free up
        self._on_done = on_done
        self._dirs: list[Path] = []  # job dir and private dir, removed at the end
        self._lost = False  # the run was lost: handed back as a failed attempt
        self.thread = threading.Thread(target=self._main, daemon=True, name=f"job-{job_id}")

    @property
    def job_id(self) -> str:
        return self.lease.job_id

    @property
    def attempt(self) -> int | None:
        return self.lease.attempt

    @property
    def final_status(self) -> JobStatus | None:
        """The final status reported, once the server took it."""
        return self.lease.final_status

    def aborted(self) -> bool:
        """True once the run must stop: cancelled by the server or killed by a hard stop."""
        return self.lease.gone.is_set() or self._f.killing.is_set()

    def _main(self) -> None:
        bind_job(self.job_id, self.attempt)  # this thread's log lines are about the job
        try:
            ending = self._execute()
            self._finish(ending.status, ending.details)
        except JobGone:
            self.lease.gone.set()
        except Lost:
            self._lost = True
        except Aborted:
            pass
        except JobFailed as exc:
            self._finish(JobStatus.error, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must not leave the job hanging
            log.exception("job %s: worker error", self.job_id)
            self._finish(JobStatus.error, f"worker error: {type(exc).__name__}: {exc}")
        finally:
            try:
                self._clean_up()
            finally:  # even if cleaning up failed, the worker must not wait for us
                self._on_done(self)

    def _execute(self) -> Ending:
        spec, f = self.spec, self._f
        name = spec.handler.runner
        if name not in f.settings.allowed_runners:
            raise JobFailed(
                f"runner '{name}' is not enabled on this worker "
                f"(enabled: {', '.join(f.settings.allowed_runners)})"
            )
        if reason := f.resources.never_fits(self.needs):
            raise JobFailed(f"the job {reason}")
        if reason := self.kind.refusal(spec):
            raise JobFailed(reason)
        try:
            runner = f.runners.get(name)
        except RunnerUnavailable as exc:
            raise JobFailed(str(exc)) from None
        self.lease.set_status(JobStatus.preprocessing)
        if self.kind.requires - runner.capabilities:
            raise JobFailed(self.kind.unsupported.format(runner=f.runners.kind(name)))
        if self.grant is None:
            self.grant = f.resources.reserve(self.needs, give_up=self.aborted)
            self.waiting = False
            self._check()
        jobdir = staging.create_job_dir(f.scratch, self.job_id)
        self._dirs.append(jobdir)
        # The runner log is written outside the job dir, where the job cannot touch it.
        private = Path(tempfile.mkdtemp(prefix=".private-", dir=f.scratch))
        self._dirs.append(private)
        ctx = RunContext(
            spec=spec,
            lease=self.lease,
            runner=runner,
            runner_kind=f.runners.kind(name),
            jobdir=jobdir,
            private=private,
            gpus=self.needs.gpus,
            # The GPUs reserved for this run, so runs side by side never share one.
            gpu_ids=tuple(str(i) for i in self.grant.gpu_indices) if self.grant else (),
            settings=f.settings,
            aborted=self.aborted,
        )
        return self.kind.execute(ctx)

    def _check(self) -> None:
        if self.aborted():
            raise Aborted()

    def _finish(self, status: JobStatus, details: str | None) -> None:
        """Send the final status (unless the job is gone or being handed back)."""
        if self.aborted():
            self.lease.stop_heartbeat()
            return
        self.lease.finish(status, details)

    def _clean_up(self) -> None:
        self.lease.stop_heartbeat()
        if self.lease.gone.is_set():
            log.warning("job %s: the server no longer knows it as ours; dropped", self.job_id)
        elif not self.lease.final_sent:
            self.lease.release(failed=self._lost)
        for path in self._dirs:
            staging.remove_job_dir(path)
        if self.grant is not None:
            self._f.resources.release(self.grant)
