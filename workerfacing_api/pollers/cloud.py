"""Cloud pollers run inside the worker API: labcloud workers that lease `cloud` jobs
and run them as AWS Batch jobs or ECS tasks (``CLOUD_POLLERS=batch:4``).

Each is an ordinary :class:`worker.loop.Worker` in a thread, calling this worker
API over HTTP with the internal API key (which makes it a worker of environment
`cloud`), configured like a standalone cloud worker by the `LABCLOUD_WORKER_*`
variables of :mod:`worker.cloud` (queue, cluster, EFS, roles) and SCRATCH_DIR
(the EFS mount). Stopping the API kills their runs and hands the jobs back.
"""

from __future__ import annotations

import logging
import socket
import threading

from shared.settings import SettingsError
from worker.cloud import CLOUD_RUNNERS
from worker.loop import Worker
from worker.settings import load_settings as load_worker_settings
from workerfacing_api.settings import WorkerAPISettings

log = logging.getLogger(__name__)

_JOIN_TIMEOUT_S = 90.0


def parse_pollers(spec: str) -> list[tuple[str, int]]:
    """``"batch:4,ecs:2"`` → ``[("batch", 4), ("ecs", 2)]``; ValueError naming the bad part."""
    pollers = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        kind, _, count = part.partition(":")
        kind = kind.strip()
        if kind not in CLOUD_RUNNERS:
            raise ValueError(f"{part!r}: the runner must be one of {', '.join(CLOUD_RUNNERS)}")
        if count and not (count.strip().isdigit() and int(count) >= 1):
            raise ValueError(f"{part!r}: the number of concurrent jobs must be a positive integer")
        pollers.append((kind, int(count) if count else 1))
    return pollers


class CloudPollers:
    """The pollers ``CLOUD_POLLERS`` asks for, each in its own thread."""

    def __init__(self, settings: WorkerAPISettings) -> None:
        self.workers: list[Worker] = []
        self._threads: list[threading.Thread] = []
        for kind, jobs in parse_pollers(settings.cloud_pollers):
            try:
                worker_settings = load_worker_settings(
                    api_url=settings.cloud_poller_api_url,
                    api_key=settings.api_key,
                    runners="docker",  # container jobs only: nothing runs in the API process
                    container_runner=kind,
                    max_concurrent_jobs=jobs,
                    id=f"{socket.gethostname()}-{kind}",
                    cpu_cores=settings.cloud_max_vcpus,
                    memory_mb=settings.cloud_max_memory_mb,
                    gpu_count=settings.cloud_max_gpus,
                    older_than=settings.cloud_older_than,
                )
            except SettingsError as exc:
                raise SettingsError(f"CLOUD_POLLERS {kind}: {exc.message}") from None
            self.workers.append(Worker(worker_settings))

    def start(self) -> None:
        for worker in self.workers:
            kind = worker.settings.container_runner
            thread = threading.Thread(target=worker.run, daemon=True, name=f"cloud-poller-{kind}")
            thread.start()
            self._threads.append(thread)
            jobs = worker.settings.max_concurrent_jobs
            log.info("cloud poller %s: up to %d job(s) at once", kind, jobs)

    def stop(self) -> None:
        """Stop leasing, stop the runs and hand their jobs back, and wait for the threads."""
        for worker in self.workers:
            worker.stop(drain=False)
        for thread in self._threads:
            thread.join(_JOIN_TIMEOUT_S)
