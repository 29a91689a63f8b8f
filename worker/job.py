"""One leased job in its own thread: stage, run, upload, report; with its heartbeat.

A :class:`JobRun` takes a job from ``preprocessing`` to its final status; a
:class:`Heartbeat` thread beside it re-sends the job's current status (the
keep-alive that extends the lease). Every call about the job carries the
lease's attempt number, so a run that lost its lease is fenced off. A 404 on
any call means the job is no longer ours: the run is killed, the job dir
removed, and nothing more is said about the job. A job that ends without a
final status (hard stop) is handed back with ``POST /jobs/{id}/release``.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.jobs.specs import JobSpecs
from shared.jobs.states import JobStatus
from shared.log_context import bind_job
from worker import staging
from worker.client import ApiError, AuthError, FileMissing, JobGone, WorkerClient, lease_attempt
from worker.hardware import Grant, Needs
from worker.live_log import LiveLog
from worker.runners import Runner, RunOutcome, RunSpec, run_to_completion
from worker.runners.aws import CloudRunError, RunLost

if TYPE_CHECKING:
    from worker.loop import Worker

log = logging.getLogger(__name__)

#: How often a running job checks for cancel/kill, per runner: a local process is
#: cheap to poll; a container costs an engine API call per poll; a cloud run a
#: rate-limited Describe call.
TICK_S = {"process": 0.25, "batch": 5.0, "ecs": 5.0}
_DEFAULT_TICK_S = 1.0
#: Rounds of the client's retries spent on a job's final status before giving up.
_FINAL_STATUS_ROUNDS = 3


class JobFailed(Exception):
    """The job cannot go on; the message is what the user sees as runtime_details."""


class _Aborted(Exception):
    """The job was cancelled by the server or killed by a hard stop."""


class Heartbeat:
    """Sends a job's status transitions and re-sends the current one every ``interval``,
    with the new part of the run's output (``live_log``, labcloud's live logs).

    One lock orders transitions and keep-alives, so a slow keep-alive can never
    land after (and undo) a newer status. A transition that cannot be delivered
    is not fatal: the next keep-alive carries the new status.
    """

    def __init__(
        self,
        client: WorkerClient,
        job_id: str,
        interval: float,
        on_gone: Callable[[], object],
        attempt: int | None = None,
        live_log: LiveLog | None = None,
    ) -> None:
        self._client, self._job_id, self._interval = client, job_id, interval
        self._on_gone, self._attempt = on_gone, attempt
        self._live_log = live_log
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.status: JobStatus | None = None

    def set(self, status: JobStatus) -> None:
        """Move to ``status`` now; raises :class:`JobGone` if the job is no longer ours."""
        with self._lock:
            self.status = status
            try:
                self._client.set_status(self._job_id, status, attempt=self._attempt)
            except JobGone:
                raise
            except ApiError as exc:
                log.warning("job %s: %s not reported yet: %s", self._job_id, status.value, exc)
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._beat, daemon=True, name=f"heartbeat-{self._job_id}"
            )
            self._thread.start()

    def stop(self) -> None:
        """No keep-alive is sent once this returns."""
        self._stopped.set()
        with self._lock:  # waits for a keep-alive in flight
            pass

    def _beat(self) -> None:
        bind_job(self._job_id, self._attempt)  # this thread's log lines are about the job
        while not self._stopped.wait(self._interval):
            with self._lock:
                if self._stopped.is_set() or self.status is None:
                    return
                try:
                    self._client.set_status(self._job_id, self.status, attempt=self._attempt)
                    if self._live_log is not None:
                        self._live_log.ship()
                except JobGone:
                    self._on_gone()
                    return
                except Exception as exc:  # noqa: BLE001 - keep beating; the lease may survive
                    log.warning("job %s: heartbeat failed: %s", self._job_id, exc)


class JobRun:
    """One leased job, from ``preprocessing`` to its final status, in its own thread."""

    final_status: JobStatus | None = None  # the final status reported, once it was taken

    def __init__(
        self, worker: Worker, job_id: str, spec: JobSpecs, needs: Needs, grant: Grant | None
    ) -> None:
        self.worker, self.job_id, self.spec = worker, job_id, spec
        self.needs, self.grant = needs, grant
        self.attempt = lease_attempt(spec.meta.extra)  # fences every call about the job
        self.gone = threading.Event()  # the server said 404: drop the job silently
        self.waiting = grant is None  # leased, waiting for resources to free up
        self._live_log = LiveLog(worker.client, job_id, self.attempt)
        self._heartbeat = Heartbeat(
            worker.client,
            job_id,
            worker.settings.heartbeat_interval,
            on_gone=self.gone.set,
            attempt=self.attempt,
            live_log=self._live_log,
        )
        self._final_sent = False
        self._dirs: list[Path] = []  # job dir and private dir, removed at the end
        self.thread = threading.Thread(target=self._main, daemon=True, name=f"job-{job_id}")

    def aborted(self) -> bool:
        """True once the job must stop: cancelled by the server or killed by a hard stop."""
        return self.gone.is_set() or self.worker.killing.is_set()

    def _main(self) -> None:
        bind_job(self.job_id, self.attempt)  # this thread's log lines are about the job
        try:
            self._execute()
        except JobGone:
            self.gone.set()
        except _Aborted:
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
                self.worker.job_done(self)

    def _clean_up(self) -> None:
        self._heartbeat.stop()
        if self.gone.is_set():
            log.warning("job %s: the server no longer knows it as ours; dropped", self.job_id)
        elif not self._final_sent:
            self.release()
        for path in self._dirs:
            staging.remove_job_dir(path)
        if self.grant is not None:
            self.worker.resources.release(self.grant)

    def _execute(self) -> None:
        spec, settings = self.spec, self.worker.settings
        name = spec.handler.runner
        if name not in settings.allowed_runners:
            raise JobFailed(
                f"runner '{name}' is not enabled on this worker "
                f"(enabled: {', '.join(settings.allowed_runners)})"
            )
        if reason := self.worker.resources.never_fits(self.needs):
            raise JobFailed(f"the job {reason}")
        if name == "docker" and not spec.handler.image_url:
            raise JobFailed("the entrypoint names no container image")
        runner = self.worker.runner_for(name)
        self._heartbeat.set(JobStatus.preprocessing)
        if self.grant is None:
            self.grant = self.worker.resources.reserve(self.needs, give_up=self.aborted)
            self.waiting = False
            self._check()
        jobdir = staging.create_job_dir(self.worker.scratch, self.job_id)
        self._dirs.append(jobdir)
        # The runner log is written outside the job dir, where the job cannot touch it.
        private = Path(tempfile.mkdtemp(prefix=".private-", dir=self.worker.scratch))
        self._dirs.append(private)
        if spec.handler.tes is not None:  # a GA4GH TES task: its executors, in order
            from worker import tes  # imported here: worker.tes uses this module

            return tes.run(self, runner, jobdir, private)
        try:
            staging.make_output_dirs(jobdir, spec.handler.files_up)
            staging.stage_inputs(jobdir, spec.handler.files_down, self._download, self.aborted)
            staging.share_with_container(jobdir)
        except staging.StagingCancelled:
            raise _Aborted() from None
        except staging.UnsafePath as exc:
            raise JobFailed(f"unsafe path in the job spec: {exc}") from None
        except FileMissing as exc:
            raise JobFailed(f"input missing: {exc}") from None
        except (JobGone, AuthError):
            raise
        except ApiError as exc:
            raise JobFailed(f"could not download the inputs: {exc}") from None
        self._prepare_image(runner)
        self._check()
        outcome = self._run(runner, jobdir)
        self._check()
        self._heartbeat.set(JobStatus.postprocessing)
        self._upload(jobdir, private, outcome)
        if outcome.exit_code == 0:
            self._finish(JobStatus.finished, None)
        else:
            if outcome.timed_out:
                reason = f"timeout after {spec.handler.timeout} s"
            else:
                reason = f"exit code {outcome.exit_code}"
            tail = outcome.log_tail
            self._finish(JobStatus.error, f"{reason}\n{tail}" if tail else reason)

    def _check(self) -> None:
        if self.aborted():
            raise _Aborted()

    def _download(self, uri: str, dest: Path) -> int:
        return self.worker.client.download_input(uri, dest, attempt=self.attempt)

    def _prepare_image(self, runner: Runner[Any]) -> None:
        # Pulling happens while we still say `preprocessing`, with heartbeats going.
        ensure_image = getattr(runner, "ensure_image", None)
        image = self.spec.handler.image_url
        if ensure_image is None or not image:
            return
        try:
            ensure_image(image)
        except Exception as exc:  # noqa: BLE001 - any engine error means: no image
            # Docker's `explanation` is the engine's own words, without the request URL.
            reason = getattr(exc, "explanation", None) or exc
            raise JobFailed(f"image {image} could not be obtained: {reason}") from None

    def _run(self, runner: Runner[Any], jobdir: Path) -> RunOutcome:
        spec = self.spec
        run_spec = RunSpec(
            job_id=self.job_id,
            command=" ".join(spec.app.cmd),
            files_dir=jobdir,
            image=spec.handler.image_url,
            # The job's own variables, plus which job and lease this run is (an
            # application may record them next to its results).
            env={
                **spec.app.env,
                "LABCLOUD_JOB_ID": str(self.job_id),
                **({"LABCLOUD_ATTEMPT": str(self.attempt)} if self.attempt else {}),
            },
            cpu_cores=spec.hardware.cpu_cores,
            memory_mb=spec.hardware.memory,
            gpus=self.needs.gpus,
            # The GPUs reserved for this job, so jobs side by side never share one.
            gpu_ids=tuple(str(i) for i in self.grant.gpu_indices) if self.grant else (),
            timeout_s=spec.handler.timeout,
        )
        try:
            outcome = run_to_completion(
                runner,
                run_spec,
                on_tick=lambda: not self.aborted(),
                # `running` once the command runs: a cloud run may first wait for capacity.
                on_start=self._started,
                tick_s=TICK_S.get(self.worker.runner_kind(spec.handler.runner), _DEFAULT_TICK_S),
                # The heartbeats send what is new of it (live logs).
                on_output=self._live_log.update,
                output_every=self.worker.settings.heartbeat_interval,
            )
        except RunLost as exc:
            # The service lost the run (not the job's fault): hand it back for a retry.
            log.warning("job %s: %s; handing it back", self.job_id, exc)
            raise _Aborted() from None
        except CloudRunError as exc:
            raise JobFailed(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - runner/engine errors: the job cannot start
            raise JobFailed(f"could not start the job: {exc}") from None
        if outcome.killed:
            raise _Aborted()
        # The last lines, before the job moves on: its live log ends as its output did.
        self._live_log.update(outcome.log)
        self._live_log.ship()
        log.info(
            "job %s: exit code %s, timed out: %s", self.job_id, outcome.exit_code, outcome.timed_out
        )
        return outcome

    def _started(self) -> None:
        try:
            self._heartbeat.set(JobStatus.running)
        except JobGone:
            self.gone.set()  # the next tick kills the run

    def _upload(self, jobdir: Path, private: Path, outcome: RunOutcome) -> None:
        files_up = self.spec.handler.files_up
        uploads = staging.collect_outputs(jobdir, files_up)
        uploads.append(staging.write_job_log(files_up, uploads, private, outcome.log))
        for item in uploads:
            self._check()
            try:
                self.worker.client.upload_output(
                    self.job_id, item.kind, item.base_path, item.path, attempt=self.attempt
                )
            except (JobGone, AuthError):
                raise
            except (ApiError, OSError) as exc:
                reason = f"uploading {item.base_path}/{item.path.name} failed: {exc}"
                if outcome.exit_code:
                    reason += f"; the job had failed with exit code {outcome.exit_code}"
                raise JobFailed(reason) from None
        log.info("job %s: uploaded %d file(s)", self.job_id, len(uploads))

    def _finish(self, status: JobStatus, details: str | None) -> None:
        """Send the final status (unless the job is gone or being handed back)."""
        self._heartbeat.stop()
        if self.aborted():
            return
        for round_ in range(1, _FINAL_STATUS_ROUNDS + 1):
            try:
                self.worker.client.set_status(self.job_id, status, details, attempt=self.attempt)
            except JobGone:
                self.gone.set()
                return
            except ApiError as exc:
                log.error(
                    "job %s: %s not reported (try %d): %s", self.job_id, status.value, round_, exc
                )
                continue
            self._final_sent = True
            self.final_status = status
            first_line = f" ({details.splitlines()[0]})" if details else ""
            log.info("job %s: %s%s", self.job_id, status.value, first_line)
            return
        # Undeliverable: the lease will expire and the server requeues the job.
        self._final_sent = True

    def release(self) -> None:
        """Hand the job back to the queue (or let its lease expire on an older server)."""
        try:
            released = self.worker.client.release(self.job_id, attempt=self.attempt)
        except ApiError as exc:
            log.warning("job %s: release failed (%s); its lease will expire", self.job_id, exc)
            return
        if released:
            log.info("job %s: handed back to the queue", self.job_id)
        else:
            log.info("job %s: the server cannot release jobs; its lease will expire", self.job_id)
