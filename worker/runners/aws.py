"""What the AWS Batch and ECS runners share: the EFS volume, CloudWatch logs, names.

A cloud run reads and writes its job directory on an EFS file system that the
poller has mounted at ``mount_dir`` (the worker's scratch dir): the poller
stages the inputs there, the task sees its own job directory at ``/files``,
and the poller uploads the outputs from there afterwards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

#: Where the job directory appears inside the task, as on a workstation.
FILES_MOUNT = "/files"
VOLUME_NAME = "labcloud-files"
#: Tags (Batch) / startedBy (ECS) that say which poller a run belongs to.
OWNER_TAG = "labcloud-owner"
JOB_TAG = "labcloud-job"
ATTEMPT_TAG = "labcloud-attempt"

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
#: How long a kill waits for the service to report the run stopped.
KILL_WAIT_S = 30.0

log = logging.getLogger(__name__)


class CloudRunError(RuntimeError):
    """The cloud service refused or failed the run; the message says why."""


class RunLost(CloudRunError):
    """The task is gone from the service (purged, or never known): retry the job elsewhere."""


@dataclass(frozen=True)
class EfsVolume:
    """The EFS file system holding the job directories, as the poller and the tasks see it.

    ``mode="host"`` mounts the job directory as a host path instead of EFS: for
    emulators that run the task on the poller's machine (moto), and for EC2
    compute environments that mount EFS on the instance themselves.
    """

    mount_dir: Path
    file_system_id: str | None = None
    mode: Literal["efs", "host"] = "efs"
    #: Where ``mount_dir`` is inside the file system: ``/`` unless the poller mounts
    #: it through an access point, whose root directory this is then.
    root: str = "/"

    def root_directory(self, files_dir: Path) -> str:
        """The job directory as a path inside the file system (``/worker-…/<job>``)."""
        try:
            relative = files_dir.resolve().relative_to(self.mount_dir.resolve())
        except ValueError:
            raise CloudRunError(
                f"the job directory {files_dir} is not on the EFS mount {self.mount_dir}"
            ) from None
        return posixpath.join("/" + self.root.strip("/"), relative.as_posix()).rstrip("/") or "/"

    def volume(self, files_dir: Path) -> dict[str, Any]:
        """The volume entry of a job or task definition exposing ``files_dir``."""
        if self.mode == "host":
            return {"name": VOLUME_NAME, "host": {"sourcePath": str(files_dir.resolve())}}
        if not self.file_system_id:
            raise CloudRunError("no EFS file system configured (EFS_FILE_SYSTEM_ID)")
        config: dict[str, Any] = {
            "fileSystemId": self.file_system_id,
            "transitEncryption": "ENABLED",
        }
        # No access point: with one, AWS pins the root to the access point's, and
        # each task must see only its own job directory.
        config["rootDirectory"] = self.root_directory(files_dir)
        return {"name": VOLUME_NAME, "efsVolumeConfiguration": config}

    @staticmethod
    def mount_point() -> dict[str, Any]:
        # readOnly stated explicitly: the job writes its outputs here.
        return {"sourceVolume": VOLUME_NAME, "containerPath": FILES_MOUNT, "readOnly": False}


def definition_name(prefix: str, image: str, properties: dict[str, Any]) -> str:
    """A stable definition name for one image and set of properties.

    Same image and resources → same name, so a definition is registered once and
    reused; the hash keeps names valid and short whatever the image is called.
    """
    digest = hashlib.sha256(json.dumps(properties, sort_keys=True).encode()).hexdigest()[:12]
    readable = _NAME_UNSAFE.sub("-", image.rsplit("/", 1)[-1]).strip("-_")[:60] or "image"
    return f"{prefix}-{readable}-{digest}"


def run_name(owner: str, job_id: str, attempt: int | None) -> str:
    """Name of one run: which poller, which job, which attempt (≤ 128 safe characters)."""
    name = f"{owner}-{job_id}" + (f"-a{attempt}" if attempt else "")
    return _NAME_UNSAFE.sub("-", name)[:128]


def wait_until_stopped(poll: Callable[[], object], stopped: Callable[[], bool], what: str) -> None:
    """After a stop request: poll until the service says the run ended (or lost it)."""
    deadline = time.monotonic() + KILL_WAIT_S
    while time.monotonic() < deadline:
        try:
            poll()
        except CloudRunError:
            return
        if stopped():
            return
        time.sleep(1.0)
    log.warning("%s: still not stopped %.0f s after the stop request", what, KILL_WAIT_S)


def env_list(env: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": key, "value": value} for key, value in sorted(env.items())]


class CloudWatchLogs:
    """Reads a task's log stream; an absent group or stream is an empty log."""

    def __init__(self, client: Any, group: str) -> None:
        self._client, self.group = client, group

    def read(self, stream: str | None, max_chars: int) -> str:
        if not stream:
            return ""
        lines: list[str] = []
        size = 0
        kwargs: dict[str, Any] = {
            "logGroupName": self.group,
            "logStreamName": stream,
            "startFromHead": False,
        }
        token = None
        try:
            # Walk back from the end until we hold max_chars or reach the start.
            while size < max_chars:
                if token:
                    kwargs["nextToken"] = token
                page = self._client.get_log_events(**kwargs)
                events = page.get("events", [])
                chunk = [str(e.get("message", "")) for e in events]
                lines[:0] = chunk
                size += sum(len(line) + 1 for line in chunk)
                new_token = page.get("nextBackwardToken")
                if not events or new_token == token:
                    break
                token = new_token
        except self._client.exceptions.ResourceNotFoundException:
            return ""
        text = "\n".join(lines) + ("\n" if lines else "")
        return text[-max_chars:]
