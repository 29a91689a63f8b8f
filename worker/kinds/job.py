"""A DECODE job: stage its inputs, run its command, upload its outputs and log.

The inputs (``handler.files_down``) are fetched through the worker API into the
job dir, the command runs there as ``sh -c`` (in the entrypoint's image for the
container runners, which may pull it first), and the output folders
(``handler.files_up``) go up with the run's combined output as ``job.log``.
A non-zero exit or a timeout ends the job in ``error`` with the log's tail.
"""

from __future__ import annotations

import logging

from shared.jobs.specs import JobSpecs
from shared.jobs.states import JobStatus
from worker import staging
from worker.client import ApiError, AuthError, JobGone
from worker.kinds.base import (
    Aborted,
    Ending,
    JobFailed,
    Lost,
    RunContext,
    input_errors,
    pull_image,
)
from worker.runners import Capability, RunOutcome, RunSpec, run_to_completion
from worker.runners.aws import CloudRunError, RunLost
from worker.runners.base import can

log = logging.getLogger(__name__)

#: How often a running job checks for cancel/kill, per runner: a local process is
#: cheap to poll; a container costs an engine API call per poll; a cloud run a
#: rate-limited Describe call.
TICK_S = {"process": 0.25, "batch": 5.0, "ecs": 5.0}
_DEFAULT_TICK_S = 1.0
#: How often a local run's output is read for the live log, so it shows from the
#: first second (a cloud run's log is a rate-limited service call: read at heartbeats).
LIVE_READ_S = 1.0


class DecodeJob:
    """The kind of every spec no other kind claims: DECODE's job."""

    name = "job"
    requires: frozenset[Capability] = frozenset()  # `sh -c` in the job dir: any runner
    unsupported = ""

    def accepts(self, spec: JobSpecs) -> bool:
        return True

    def refusal(self, spec: JobSpecs) -> str | None:
        if spec.handler.runner == "docker" and not spec.handler.image_url:
            return "the entrypoint names no container image"
        return None

    def execute(self, ctx: RunContext) -> Ending:
        handler = ctx.spec.handler
        try:
            with input_errors("job spec"):
                staging.make_output_dirs(ctx.jobdir, handler.files_up)
                staging.stage_inputs(
                    ctx.jobdir, handler.files_down, ctx.lease.download, ctx.aborted
                )
                staging.share_with_container(ctx.jobdir)
        except staging.StagingCancelled:
            raise Aborted() from None
        if handler.image_url:
            pull_image(ctx.runner, handler.image_url)
        ctx.check()
        outcome = _run(ctx)
        ctx.check()
        ctx.lease.set_status(JobStatus.postprocessing)
        _upload(ctx, outcome)
        if outcome.exit_code == 0:
            return Ending(JobStatus.finished)
        if outcome.timed_out:
            reason = f"timeout after {handler.timeout} s"
        else:
            reason = f"exit code {outcome.exit_code}"
        tail = outcome.log_tail
        return Ending(JobStatus.error, f"{reason}\n{tail}" if tail else reason)


def _run(ctx: RunContext) -> RunOutcome:
    spec = ctx.spec
    run_spec = RunSpec(
        job_id=ctx.job_id,
        command=" ".join(spec.app.cmd),
        files_dir=ctx.jobdir,
        image=spec.handler.image_url,
        # The job's own variables, plus which job and lease this run is (an
        # application may record them next to its results).
        env={
            **spec.app.env,
            "LABCLOUD_JOB_ID": str(ctx.job_id),
            **({"LABCLOUD_ATTEMPT": str(ctx.attempt)} if ctx.attempt else {}),
        },
        cpu_cores=spec.hardware.cpu_cores,
        memory_mb=spec.hardware.memory,
        gpus=ctx.gpus,
        # The GPUs reserved for this job, so jobs side by side never share one.
        gpu_ids=ctx.gpu_ids,
        timeout_s=spec.handler.timeout,
    )
    try:
        outcome = run_to_completion(
            ctx.runner,
            run_spec,
            on_tick=lambda: not ctx.aborted(),
            # `running` once the command runs: a cloud run may first wait for capacity.
            on_start=ctx.lease.running,
            tick_s=TICK_S.get(ctx.runner_kind, _DEFAULT_TICK_S),
            # The heartbeat thread sends what is new of it (live logs).
            on_output=ctx.lease.live_log.update,
            output_every=ctx.settings.heartbeat_interval
            if can(ctx.runner, Capability.QUEUES)
            else min(LIVE_READ_S, ctx.settings.heartbeat_interval),
        )
    except RunLost as exc:
        # The service lost the run (not the job's fault): hand it back for a retry.
        log.warning("job %s: %s; handing it back", ctx.job_id, exc)
        raise Lost() from None
    except CloudRunError as exc:
        raise JobFailed(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - runner/engine errors: the job cannot start
        raise JobFailed(f"could not start the job: {exc}") from None
    if outcome.killed:
        raise Aborted()
    # The last lines, before the job moves on: its live log ends as its output did.
    ctx.lease.live_log.update(outcome.log)
    ctx.lease.live_log.ship()
    log.info(
        "job %s: exit code %s, timed out: %s", ctx.job_id, outcome.exit_code, outcome.timed_out
    )
    return outcome


def _upload(ctx: RunContext, outcome: RunOutcome) -> None:
    files_up = ctx.spec.handler.files_up
    uploads = staging.collect_outputs(ctx.jobdir, files_up)
    uploads.append(staging.write_job_log(files_up, uploads, ctx.private, outcome.log))
    for item in uploads:
        ctx.check()
        try:
            ctx.lease.upload(item.kind, item.base_path, item.path)
        except (JobGone, AuthError):
            raise
        except (ApiError, OSError) as exc:
            reason = f"uploading {item.base_path}/{item.path.name} failed: {exc}"
            if outcome.exit_code:
                reason += f"; the job had failed with exit code {outcome.exit_code}"
            raise JobFailed(reason) from None
    log.info("job %s: uploaded %d file(s)", ctx.job_id, len(uploads))
