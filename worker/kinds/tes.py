"""Running a GA4GH TES task: a job whose spec carries `handler.tes`.

The job dir mirrors the container paths the task shares (see
:func:`shared.jobs.tes_spec.mount_points`): container path ``/data/x`` is
``<job dir>/data/x`` on the host, bound into every executor's container. Inputs
are placed there first (inline content, files of the user's storage through the
worker API as any input, http(s) URLs fetched here); then the executors run in
order, each as its argv in its image with no shell, their stdout and stderr
saved on the host side to the files they name; the first non-zero exit ends the
task unless the executor has ``ignore_error``. The outputs are then collected
(POSIX wildcards, ``path_prefix``) and uploaded: into the user's storage through
the worker API, or with an HTTP PUT. What happened (times, exit codes, output
tails and sizes) is uploaded as ``tes-task.json`` next to the job's log, where
the TES API reads it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from shared.jobs.specs import JobSpecs, OutputKind
from shared.jobs.states import JobStatus
from shared.jobs.tes_spec import (
    TASK_LOG_NAME,
    InvalidLayout,
    TesExecution,
    TesExecutorSpec,
    mount_points,
)
from worker import staging
from worker.client import ApiError, AuthError, JobGone
from worker.kinds.base import Aborted, Ending, JobFailed, RunContext, input_errors, pull_image
from worker.kinds.job import DecodeJob
from worker.runners import Capability, RunOutcome, RunSpec, run_to_completion
from worker.runners.base import Mount
from worker.tes_io import (
    HttpFailed,
    http_download,
    http_upload,
    launch_exit_code,
    link_or_copy,
    open_for_writing,
    save_streams,
)
from worker.tes_outputs import OutputFile, collect

log = logging.getLogger(__name__)

#: Characters of the failing executor's output put in the job's error details.
ERROR_TAIL_CHARS = 1000


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class ExecutorResult:
    start_time: str
    end_time: str
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    log: str = ""  # the combined output, for the job's log file

    def public(self) -> dict[str, Any]:
        return {
            "start_time": self.start_time,
            "end_time": self.end_time,
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
        }


class TesTask:
    """The kind of a spec that carries ``handler.tes``: a GA4GH TES task."""

    name = "tes"
    # Each executor is its argv in its own image, with the task's volumes bound.
    requires = frozenset({Capability.ARGV, Capability.MOUNTS})
    unsupported = (
        "GA4GH TES tasks need a worker that runs containers itself; this one runs "
        "them with '{runner}'"
    )

    def accepts(self, spec: JobSpecs) -> bool:
        return spec.handler.tes is not None

    def refusal(self, spec: JobSpecs) -> str | None:
        return DecodeJob().refusal(spec)  # its first executor's image is the entrypoint's

    def execute(self, ctx: RunContext) -> Ending:
        return TesRun(ctx).execute()


class TesRun:
    """One attempt of a TES task."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx, self.runner, self.jobdir, self.private = ctx, ctx.runner, ctx.jobdir, ctx.private
        self._allow_loopback = ctx.settings.tes_allow_loopback_urls
        assert ctx.spec.handler.tes is not None
        self.task: TesExecution = ctx.spec.handler.tes
        self.started_at = now()
        self.results: list[ExecutorResult] = []
        self.outputs: list[OutputFile] = []
        self.system_logs: list[str] = []
        self._running = False

    # --- the task -------------------------------------------------------------

    def execute(self) -> Ending:
        try:
            shared = mount_points(self.task)
        except InvalidLayout as exc:
            raise JobFailed(f"invalid task layout: {exc}") from None
        self.mounts = tuple(Mount(self.host(p), p) for p, _ in shared)
        self._stage(shared)
        self._pull_images()
        failure = self._run_executors()
        self.ctx.lease.set_status(JobStatus.postprocessing)
        if failure is None:
            self._upload_outputs()
        self._upload_logs(final=True)
        if failure is None:
            return Ending(JobStatus.finished)
        return Ending(JobStatus.error, failure)

    def host(self, container_path: str) -> Path:
        """The host path of a container path in the job dir (refusing any way out)."""
        return staging.inside(self.jobdir, container_path.lstrip("/"))

    # --- inputs -----------------------------------------------------------------

    def _stage(self, shared: list[tuple[str, bool]]) -> None:
        try:
            with input_errors("task"):
                for path, is_file in shared:
                    target = self.host(path)
                    if is_file:
                        target.parent.mkdir(parents=True, exist_ok=True)
                    else:
                        target.mkdir(parents=True, exist_ok=True)
                        # Shared like a volume: an image's non-root user must write here too.
                        target.chmod(0o777)
                for item in self.task.inputs:
                    self.ctx.check()
                    target = self.host(item.path)
                    if item.content is not None:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_text(item.content, encoding="utf-8")
                    elif item.url is not None:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        http_download(item.url, target, allow_loopback=self._allow_loopback)
                    else:
                        if item.type == "DIRECTORY":
                            target.mkdir(parents=True, exist_ok=True)
                        for inner, uri in item.files.items():
                            self.ctx.check()
                            dest = self.host(f"{item.path}/{inner}" if inner else item.path)
                            dest.parent.mkdir(parents=True, exist_ok=True)
                            self.host(dest.relative_to(self.jobdir).as_posix())  # re-check
                            self.ctx.lease.download(uri, dest)
                staging.share_with_container(self.jobdir)
        except (httpx.HTTPError, HttpFailed, ValueError) as exc:  # ValueError: a bad URL
            raise JobFailed(f"could not download an input: {exc}") from None
        except OSError as exc:
            raise JobFailed(f"could not place the inputs: {exc}") from None

    def _pull_images(self) -> None:
        for image in dict.fromkeys(ex.image for ex in self.task.executors):
            self.ctx.check()
            pull_image(self.runner, image)

    # --- executors --------------------------------------------------------------

    def _run_executors(self) -> str | None:
        """Run the executors in order; the error details of a failure, or None."""
        count = len(self.task.executors)
        timeout = self.ctx.spec.handler.timeout
        deadline = time.monotonic() + timeout if timeout else None
        for n, ex in enumerate(self.task.executors, start=1):
            self.ctx.check()
            left = max(1.0, deadline - time.monotonic()) if deadline is not None else None
            result, outcome = self._run_one(ex, left)
            self.results.append(result)
            self._upload_logs(final=False)
            if outcome is not None and outcome.timed_out:
                return f"timeout after {timeout} s (executor {n} of {count})"
            if result.exit_code != 0:
                if not ex.ignore_error:
                    tail = (result.stderr or result.log)[-ERROR_TAIL_CHARS:]
                    head = f"exit code {result.exit_code} (executor {n} of {count})"
                    return f"{head}\n{tail}" if tail else head
                self.system_logs.append(
                    f"executor {n} exited with code {result.exit_code}; ignore_error: going on"
                )
        return None

    def _run_one(
        self, ex: TesExecutorSpec, timeout_s: float | None
    ) -> tuple[ExecutorResult, RunOutcome | None]:
        ctx, spec = self.ctx, self.ctx.spec
        argv = list(ex.command)
        if ex.stdin:  # the one redirect made in the container: it needs a /bin/sh
            argv = ["/bin/sh", "-c", 'exec "$@" < "$0"', ex.stdin, *argv]
        run_spec = RunSpec(
            job_id=ctx.job_id,
            command="",
            files_dir=self.jobdir,
            image=ex.image,
            env={**ex.env, "LABCLOUD_JOB_ID": str(ctx.job_id)},
            cpu_cores=spec.hardware.cpu_cores,
            memory_mb=spec.hardware.memory,
            gpus=ctx.gpus,
            gpu_ids=ctx.gpu_ids,
            timeout_s=timeout_s,
            argv=tuple(argv),
            workdir=ex.workdir,
            mounts=self.mounts,
            mount_files=False,
        )
        streams: dict[str, str] = {}
        started = now()

        def save(handle: Any) -> None:
            # Looked up after the run: the executor may have replaced folders by symlinks.
            out, err = self._stream_file(ex.stdout), self._stream_file(ex.stderr)
            streams.update(save_streams(self.runner, handle, out, err))

        try:
            outcome = run_to_completion(
                self.runner,
                run_spec,
                on_tick=lambda: not ctx.aborted(),
                on_start=self._started,
                tick_s=1.0,
                on_end=save,
            )
        except staging.UnsafePath as exc:
            raise JobFailed(f"executor {ex.image} left an unsafe path: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - engine errors: did argv[0] not exist?
            code = launch_exit_code(exc)
            if code is None:
                raise JobFailed(f"could not start executor {ex.image}: {exc}") from None
            reason = str(getattr(exc, "explanation", None) or exc)
            for path, text in ((ex.stdout, ""), (ex.stderr, reason + "\n")):
                if (dest := self._stream_file(path)) is not None:
                    with open_for_writing(dest) as f:
                        f.write(text.encode())
            return ExecutorResult(started, now(), code, stderr=reason, log=reason), None
        if outcome.killed:
            raise Aborted()
        code = outcome.exit_code if outcome.exit_code is not None else -1
        result = ExecutorResult(
            started,
            now(),
            code,
            stdout=streams.get("stdout", ""),
            stderr=streams.get("stderr", ""),
            log=outcome.log,
        )
        return result, outcome

    def _stream_file(self, container_path: str | None) -> Path | None:
        return self.host(container_path) if container_path else None

    def _started(self) -> None:
        if not self._running:
            self._running = True
            self.ctx.lease.running()

    # --- outputs and logs -------------------------------------------------------

    def _upload_outputs(self) -> None:
        try:
            files = collect(self.jobdir, self.task.outputs)
        except (staging.UnsafePath, ValueError, OSError) as exc:
            raise JobFailed(f"collecting the outputs failed: {exc}") from None
        staged = self.private / "outputs"
        for n, item in enumerate(files):
            self.ctx.check()
            try:
                if item.store is None:
                    http_upload(item.url, item.host, allow_loopback=self._allow_loopback)
                else:
                    base, _, name = item.store.rpartition("/")
                    local = staged / str(n) / name
                    local.parent.mkdir(parents=True)
                    link_or_copy(item.host, local)
                    self.ctx.lease.upload(OutputKind.output, base, local)
            except (JobGone, AuthError):
                raise
            except (ApiError, OSError, httpx.HTTPError, HttpFailed, ValueError) as exc:
                raise JobFailed(f"uploading output {item.path} failed: {exc}") from None
            self.outputs.append(item)
        log.info("job %s: uploaded %d TES output file(s)", self.ctx.job_id, len(files))

    def _upload_logs(self, *, final: bool) -> None:
        """The task log (and at the end the job log): best effort, never fails the job."""
        doc = {
            "start_time": self.started_at,
            "end_time": now() if final else None,
            "logs": [r.public() for r in self.results],
            "outputs": [o.public() for o in self.outputs],
            "metadata": {
                "worker_id": str(self.ctx.lease.worker_id),
                "attempt": str(self.ctx.attempt or 1),
            },
            "system_logs": self.system_logs,
        }
        files = [self.private / TASK_LOG_NAME]
        files[0].write_text(json.dumps({k: v for k, v in doc.items() if v is not None}))
        if final:
            combined = self.private / staging.JOB_LOG_NAME
            with combined.open("w", encoding="utf-8", errors="replace") as f:
                for n, r in enumerate(self.results, start=1):
                    f.write(f"[labcloud] executor {n}: exit code {r.exit_code}\n{r.log}\n")
            files.append(combined)
        for path in files:
            try:
                self.ctx.lease.upload(OutputKind.log, "", path)
            except (JobGone, AuthError):
                raise
            except (ApiError, OSError) as exc:
                log.warning("job %s: could not upload %s: %s", self.ctx.job_id, path.name, exc)
