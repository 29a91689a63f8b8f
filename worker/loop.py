"""The worker agent: lease jobs that fit, run each in its own thread, report back.

Threads: the caller of :meth:`Worker.run` polls the worker API, offering the
free part of the machine and the runners it allows; each leased job runs in a
:class:`~worker.job.JobRun` thread (see :mod:`worker.job`).

Stopping: ``stop(drain=True)`` stops leasing and lets running jobs finish
within DRAIN_TIMEOUT; ``stop(drain=False)`` (or the end of the drain) kills them
and hands them back with ``POST /jobs/{id}/release`` (or, on a server without
it, lets their leases expire so they are requeued).
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.jobs.specs import JobSpecs
from shared.log_context import job_context, job_fields
from worker import hardware
from worker.client import AuthError, WorkerClient
from worker.cloud import CLOUD_RUNNERS, CloudSettings, make_cloud_runner
from worker.hardware import Resources
from worker.job import JobFailed, JobRun
from worker.metrics import WorkerMetrics
from worker.readiness import api_readiness, wait_for_api
from worker.runners import Runner, make_runner
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)

#: How long shutdown waits for job threads after killing them.
_JOIN_TIMEOUT_S = 60.0


class Worker:
    """Polls the worker API and runs as many jobs at once as the machine's budget allows.

    Thread-friendly: :meth:`run` may run in any thread and :meth:`stop` may be
    called from any thread or a signal handler (it only sets events).
    """

    def __init__(
        self,
        settings: WorkerSettings,
        client: WorkerClient | None = None,
        runners: Mapping[str, Runner[Any]] | None = None,
        machine: hardware.Machine | None = None,
        cloud: CloudSettings | None = None,
    ) -> None:
        self.settings = settings
        self.stopping = threading.Event()
        self.killing = threading.Event()
        self._own_client = client is None
        # A hard stop cuts the client's retry pauses short: the server may be gone.
        self.client = client or WorkerClient.from_settings(settings, sleep=self.killing.wait)
        self._runners: dict[str, Runner[Any]] = dict(runners or {})
        self._runner_lock = threading.Lock()
        self._cloud = cloud
        machine = machine or hardware.probe(
            cpu_cores=settings.cpu_cores,
            memory_mb=settings.memory_mb,
            gpu_count=settings.gpu_count,
            gpu_model=settings.gpu_model,
            gpu_archi=settings.gpu_archi,
            gpu_mem_mb=settings.gpu_mem_mb,
        )
        self.resources = Resources(machine, settings.max_concurrent_jobs)
        # Per worker id, so workers sharing SCRATCH_DIR never touch each other's jobs.
        self.scratch = Path(settings.scratch_dir) / f"worker-{self.client.worker_id[:8]}"
        self._wake = threading.Event()
        self._runs: list[JobRun] = []
        self._runs_lock = threading.Lock()
        self.fatal_error: str | None = None
        self.metrics = WorkerMetrics(lambda: len(self.running_jobs), settings.max_concurrent_jobs)
        self.readiness = api_readiness(settings.api_url)  # its /readyz: the worker API answers

    def run(self) -> None:
        """Poll and run jobs until :meth:`stop` (or a rejected login); then shut down."""
        s = self.settings
        m = self.resources.machine
        log.info(
            "worker %s: polling %s; offering %s; runners %s; scratch %s",
            self.client.worker_id,
            s.api_url,
            m,
            s.runners,
            self.scratch,
        )
        delay = s.poll_min
        try:
            self.metrics.serve(s.metrics_port, s.metrics_host, self.readiness)  # 0: off
            if not wait_for_api(self.readiness, self.stopping, s.api_url):
                return
            if s.container_runner != "docker":
                self._reap_orphans()
            while not self.stopping.is_set():
                capacity = self._capacity()
                if capacity is None:
                    self._nap(s.poll_max)  # a finishing job wakes us early
                    continue
                started = time.monotonic()
                try:
                    jobs = self.client.fetch_jobs(
                        capacity,
                        limit=1,
                        groups=s.group_list,
                        runners=s.allowed_runners,
                        older_than=s.older_than,
                        wait=s.long_poll,
                    )
                except AuthError as exc:
                    self.fatal_error = str(exc)
                    log.error("worker: %s; stopping", exc)
                    break
                except Exception as exc:  # noqa: BLE001 - a bad answer must not end the worker
                    log.warning("worker: polling failed: %s", exc)
                    jobs = {}
                if jobs:
                    delay = s.poll_min
                    for job_id, spec in jobs.items():
                        self._start(job_id, spec)
                    continue
                if s.long_poll and time.monotonic() - started >= s.long_poll / 2:
                    delay = s.poll_min  # the server held the poll: ask again at once
                    continue
                self._nap(delay)
                delay = min(delay * 2, s.poll_max)
        finally:
            self._shut_down()

    def stop(self, drain: bool = True) -> None:
        """Stop leasing; with ``drain`` let running jobs finish first, else kill them now."""
        self.stopping.set()
        if not drain:
            self.killing.set()
        self._wake.set()

    def runner_kind(self, name: str) -> str:
        """What runs a job whose entrypoint names runner ``name`` here (docker → batch, ...)."""
        return self.settings.container_runner if name == "docker" else name

    def runner_for(self, name: str) -> Runner[Any]:
        """The runner for entrypoints naming ``name``, created on first use; JobFailed if
        unavailable."""
        kind = self.runner_kind(name)
        with self._runner_lock:
            if kind not in self._runners:
                try:
                    self._runners[kind] = self._make_runner(kind)
                except Exception as exc:  # noqa: BLE001 - e.g. no container engine
                    raise JobFailed(
                        f"the {kind} runner is not available on this worker: {exc}"
                    ) from None
            return self._runners[kind]

    def _make_runner(self, kind: str) -> Runner[Any]:
        if kind in CLOUD_RUNNERS:
            return make_cloud_runner(
                kind,
                self._cloud or CloudSettings(),
                owner=self.owner,
                mount_dir=Path(self.settings.scratch_dir),
            )
        options: dict[str, Any] = {}
        if kind == "docker" and self.settings.docker_host:
            options["base_url"] = self.settings.docker_host
        return make_runner(kind, **options)

    @property
    def owner(self) -> str:
        """How this worker's cloud runs are tagged (its worker id, as a safe name)."""
        return "lc-" + re.sub(r"[^A-Za-z0-9-]+", "-", self.client.worker_id)[:40]

    def _reap_orphans(self) -> None:
        # Runs an earlier start of this worker (same WORKER_ID) left in the cloud:
        # stop them and hand their leases back, so they are retried at once.
        try:
            runner = self.runner_for("docker")
        except JobFailed as exc:
            log.error("worker: %s", exc)
            return
        reap = getattr(runner, "reap", None)
        if reap is None:
            return
        try:
            orphans = reap()
        except Exception as exc:  # noqa: BLE001 - the service may be down; jobs still time out
            log.warning("worker: could not look for orphaned cloud runs: %s", exc)
            return
        for job_id, attempt in orphans:
            try:
                self.client.release(job_id, attempt=attempt)
            except Exception as exc:  # noqa: BLE001 - its lease expires anyway
                log.warning(
                    "job %s: orphaned run stopped; release failed: %s",
                    job_id,
                    exc,
                    extra=job_fields(job_id, attempt),
                )

    def job_done(self, run: JobRun) -> None:
        """Called by a job thread at its very end."""
        with self._runs_lock:
            if run in self._runs:
                self._runs.remove(run)
        self.metrics.job_ended(run.final_status)
        self._wake.set()

    @property
    def running_jobs(self) -> list[str]:
        """Ids of the jobs this worker holds now."""
        with self._runs_lock:
            return [r.job_id for r in self._runs]

    def _capacity(self) -> hardware.Capacity | None:
        with self._runs_lock:
            if len(self._runs) >= self.settings.max_concurrent_jobs:
                return None
            if any(r.waiting for r in self._runs):
                return None  # let the waiting job have the next free resources
        return self.resources.capacity()

    def _start(self, job_id: str, spec: JobSpecs) -> None:
        if self.killing.is_set():  # leased by a long poll that outlived a hard stop
            run = JobRun(self, job_id, spec, hardware.job_needs(spec), None)
            with job_context(job_id, run.attempt):
                run.release()
            return
        needs = hardware.job_needs(spec)
        # Reserve here, not in the job thread, so the next poll advertises what is left.
        grant = self.resources.try_reserve(needs)
        run = JobRun(self, job_id, spec, needs, grant)
        log.info(
            "job %s (user job %s, %s): leased",
            job_id,
            spec.meta.job_id,
            spec.handler.image_url or spec.handler.image_name,
            extra=job_fields(job_id, run.attempt),
        )
        with self._runs_lock:
            self._runs.append(run)
        run.thread.start()

    def _nap(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _shut_down(self) -> None:
        deadline = time.monotonic() + self.settings.drain_timeout
        while self.running_jobs and not self.killing.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("worker: drain timeout; killing %d job(s)", len(self.running_jobs))
                self.killing.set()
                break
            log.info("worker: waiting for %d job(s) to finish", len(self.running_jobs))
            self._nap(min(left, 5.0))
        with self._runs_lock:
            runs = list(self._runs)
        for run in runs:
            run.thread.join(_JOIN_TIMEOUT_S)
            if run.thread.is_alive():
                log.error(
                    "job %s: its thread did not end",
                    run.job_id,
                    extra=job_fields(run.job_id, run.attempt),
                )
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.metrics.close()
        if self._own_client:
            self.client.close()
        log.info("worker %s: stopped", self.client.worker_id)
