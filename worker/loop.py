"""The worker agent: lease jobs that fit, run each in its own thread, report back.

Threads: the caller of :meth:`Worker.run` polls the worker API, offering the
free part of the machine and the runners it allows; each leased job runs in a
:class:`~worker.run.LeaseRun` thread (see :mod:`worker.run`), as the kind of
run its spec is (:mod:`worker.kinds`).

Stopping: ``stop(drain=True)`` stops leasing and lets running jobs finish
within DRAIN_TIMEOUT; ``stop(drain=False)`` (or the end of the drain) kills them
and hands them back with ``POST /jobs/{id}/release`` (or, on a server without
it, lets their leases expire so they are requeued). A stopping worker polls no
more; a job that a poll already in flight brings back (the server may even hand
it the job it has just given back) is handed back at once, without being started.
A hand-back costs the job no attempt.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from shared.jobs.specs import JobSpecs
from shared.log_context import job_context, job_fields
from worker import hardware
from worker.client import AuthError, WorkerClient, lease_attempt
from worker.cloud import CloudSettings
from worker.hardware import Resources
from worker.lease import hand_back
from worker.metrics import WorkerMetrics
from worker.readiness import api_readiness, wait_for_api
from worker.run import Facilities, LeaseRun
from worker.runners import Capability, Runner
from worker.runners.base import ReapingRunner, can
from worker.runners.pool import RunnerPool, RunnerUnavailable, owner_tag
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
        self.runners = RunnerPool(
            settings, owner=owner_tag(self.client.worker_id), cloud=cloud, runners=runners
        )
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
        self._facilities = Facilities(
            self.client, settings, self.resources, self.runners, self.scratch, self.killing
        )
        self._wake = threading.Event()
        self._runs: list[LeaseRun] = []
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

    def _reap_orphans(self) -> None:
        # Runs an earlier start of this worker (same WORKER_ID) left in the cloud:
        # stop them and hand their leases back, so they are retried at once.
        try:
            runner = self.runners.get("docker")
        except RunnerUnavailable as exc:
            log.error("worker: %s", exc)
            return
        if not can(runner, Capability.REAPS):
            return
        try:
            orphans = cast(ReapingRunner[Any], runner).reap()
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

    def _run_done(self, run: LeaseRun) -> None:
        # Called by a run's thread at its very end.
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
        if self.stopping.is_set():  # leased by a poll that was in flight at the stop
            attempt = lease_attempt(spec.meta.extra)
            with job_context(job_id, attempt):
                log.info("job %s: leased while stopping; not started", job_id)
                hand_back(self.client, job_id, attempt)
            return
        needs = hardware.job_needs(spec)
        # Reserve here, not in the job thread, so the next poll advertises what is left.
        grant = self.resources.try_reserve(needs)
        run = LeaseRun(self._facilities, job_id, spec, needs, grant, on_done=self._run_done)
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
