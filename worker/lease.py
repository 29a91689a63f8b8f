"""The worker API calls about one leased job: status and heartbeat, live log, files,
final status and hand-back.

Every call carries the lease's attempt number, so a run that lost its lease is
fenced off. A 404 on any call means the job is no longer ours (:attr:`Lease.gone`).
A :class:`Heartbeat` thread re-sends the job's current status (the keep-alive that
extends the lease) with the new part of the run's output.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from shared.jobs.specs import OutputKind
from shared.jobs.states import JobStatus
from shared.log_context import bind_job
from worker.client import ApiError, JobGone, WorkerClient
from worker.live_log import LiveLog

log = logging.getLogger(__name__)

#: Rounds of the client's retries spent on a job's final status before giving up.
_FINAL_STATUS_ROUNDS = 3

#: The least time between two live-log chunks sent between keep-alives.
LOG_SPACING_S = 1.0


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
        self._wake = threading.Event()  # a stop, or new output to ship
        self._news = False
        self._thread: threading.Thread | None = None
        self.status: JobStatus | None = None
        if live_log is not None:
            live_log.on_news = self.output_arrived

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
        self._wake.set()
        with self._lock:  # waits for a keep-alive in flight
            pass

    def output_arrived(self) -> None:
        """The run wrote something new: ship it soon, without waiting for the next beat."""
        self._news = True
        self._wake.set()

    def _beat(self) -> None:
        bind_job(self._job_id, self._attempt)  # this thread's log lines are about the job
        next_beat = time.monotonic() + self._interval
        last_ship = 0.0
        while not self._stopped.is_set():
            now = time.monotonic()
            beat = now >= next_beat
            if not beat and not (self._news and now >= last_ship + LOG_SPACING_S):
                until = next_beat
                if self._news:
                    until = min(until, last_ship + LOG_SPACING_S)
                self._wake.wait(max(0.0, until - now))
                self._wake.clear()
                continue
            with self._lock:
                if self._stopped.is_set() or self.status is None:
                    return
                try:
                    if beat:
                        next_beat = now + self._interval
                        self._client.set_status(self._job_id, self.status, attempt=self._attempt)
                    if self._live_log is not None:
                        self._news = False
                        self._live_log.ship()
                        last_ship = time.monotonic()
                except JobGone:
                    self._on_gone()
                    return
                except Exception as exc:  # noqa: BLE001 - keep beating; the lease may survive
                    log.warning("job %s: heartbeat failed: %s", self._job_id, exc)


class Lease:
    """One lease of a job (``job_id`` in ``attempt``), as its run talks about it.

    Transitions raise :class:`JobGone` when the job is no longer ours; the
    keep-alives and :meth:`running` set :attr:`gone` instead.
    """

    def __init__(
        self,
        client: WorkerClient,
        job_id: str,
        attempt: int | None,
        heartbeat_interval: float,
    ) -> None:
        self.job_id, self.attempt = job_id, attempt
        self.gone = threading.Event()  # the server said 404: drop the job silently
        self.live_log = LiveLog(client, job_id, attempt)
        self.final_status: JobStatus | None = None  # the final status reported, once taken
        self.final_sent = False  # a final status was sent (or given up on)
        self._client = client
        self._heartbeat = Heartbeat(
            client,
            job_id,
            heartbeat_interval,
            on_gone=self.gone.set,
            attempt=attempt,
            live_log=self.live_log,
        )

    @property
    def worker_id(self) -> str:
        """Who holds the lease (the worker's id)."""
        return self._client.worker_id

    def set_status(self, status: JobStatus) -> None:
        """Move to a non-final ``status`` (and keep re-sending it); JobGone if not ours."""
        self._heartbeat.set(status)

    def running(self) -> None:
        """The run has begun: `running` (a job no longer ours is marked :attr:`gone`)."""
        try:
            self._heartbeat.set(JobStatus.running)
        except JobGone:
            self.gone.set()  # the run's next tick kills it

    def download(self, uri: str, dest: Path) -> int:
        """Fetch input ``uri`` of the user's storage to ``dest``; its size in bytes."""
        return self._client.download_input(uri, dest, attempt=self.attempt)

    def upload(self, kind: OutputKind, base_path: str, path: Path) -> None:
        """Store ``path`` as an output of ``kind`` under ``base_path`` of the job's folder."""
        self._client.upload_output(self.job_id, kind, base_path, path, attempt=self.attempt)

    def stop_heartbeat(self) -> None:
        """No keep-alive is sent once this returns."""
        self._heartbeat.stop()

    def finish(self, status: JobStatus, details: str | None) -> None:
        """Send the final status; a job no longer ours is marked :attr:`gone` instead."""
        self._heartbeat.stop()
        for round_ in range(1, _FINAL_STATUS_ROUNDS + 1):
            try:
                self._client.set_status(self.job_id, status, details, attempt=self.attempt)
            except JobGone:
                self.gone.set()
                return
            except ApiError as exc:
                log.error(
                    "job %s: %s not reported (try %d): %s", self.job_id, status.value, round_, exc
                )
                continue
            self.final_sent = True
            self.final_status = status
            first_line = f" ({details.splitlines()[0]})" if details else ""
            log.info("job %s: %s%s", self.job_id, status.value, first_line)
            return
        # Undeliverable: the lease will expire and the server requeues the job.
        self.final_sent = True

    def release(self, *, failed: bool = False) -> None:
        """Hand the job back to the queue (see :func:`hand_back`)."""
        hand_back(self._client, self.job_id, self.attempt, failed=failed)


def hand_back(
    client: WorkerClient, job_id: str, attempt: int | None, *, failed: bool = False
) -> None:
    """Hand a job back to the queue (or let its lease expire on an older server): not a
    failed attempt, unless ``failed`` (its run was lost)."""
    try:
        released = client.release(job_id, attempt=attempt, failed=failed)
    except ApiError as exc:
        log.warning("job %s: release failed (%s); its lease will expire", job_id, exc)
        return
    if released:
        log.info("job %s: handed back to the queue", job_id)
    else:
        log.info("job %s: the server cannot release jobs; its lease will expire", job_id)
