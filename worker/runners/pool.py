"""The runners of one worker, by the name entrypoints give them, each made on first use.

An entrypoint names ``docker`` or ``process``; ``docker`` means the worker's
container runner (``CONTAINER_RUNNER``: the local engine, or AWS Batch or ECS).
A runner is created the first time a run needs it, so a worker without a
container engine runs process jobs without ever touching one.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from worker.cloud import CLOUD_RUNNERS, CloudSettings, make_cloud_runner
from worker.runners import Runner, make_runner
from worker.settings import WorkerSettings


class RunnerUnavailable(Exception):
    """The runner cannot be created here (e.g. no container engine); the message says why."""


def owner_tag(worker_id: str) -> str:
    """How a worker's cloud runs are tagged (its worker id, as a safe name)."""
    return "lc-" + re.sub(r"[^A-Za-z0-9-]+", "-", worker_id)[:40]


class RunnerPool:
    """Thread-safe: every run asks it for its runner; one instance per runner kind."""

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        owner: str,
        cloud: CloudSettings | None = None,
        runners: Mapping[str, Runner[Any]] | None = None,
    ) -> None:
        self._settings, self._cloud, self.owner = settings, cloud, owner
        self._runners: dict[str, Runner[Any]] = dict(runners or {})
        self._lock = threading.Lock()

    def kind(self, name: str) -> str:
        """What runs an entrypoint naming runner ``name`` here (docker → batch, ...)."""
        return self._settings.container_runner if name == "docker" else name

    def get(self, name: str) -> Runner[Any]:
        """The runner for entrypoints naming ``name``; RunnerUnavailable if it cannot be made."""
        kind = self.kind(name)
        with self._lock:
            if kind not in self._runners:
                try:
                    self._runners[kind] = self._make(kind)
                except Exception as exc:  # noqa: BLE001 - e.g. no container engine
                    raise RunnerUnavailable(
                        f"the {kind} runner is not available on this worker: {exc}"
                    ) from None
            return self._runners[kind]

    def _make(self, kind: str) -> Runner[Any]:
        if kind in CLOUD_RUNNERS:
            return make_cloud_runner(
                kind,
                self._cloud or CloudSettings(),
                owner=self.owner,
                mount_dir=Path(self._settings.scratch_dir),
            )
        options: dict[str, Any] = {}
        if kind == "docker" and self._settings.docker_host:
            options["base_url"] = self._settings.docker_host
        return make_runner(kind, **options)
