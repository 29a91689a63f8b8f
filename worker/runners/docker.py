"""Run a job in a container through the Docker API (Docker Engine or Podman's compat API)."""

from __future__ import annotations

import re
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

import docker
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import DeviceRequest
from docker.types import Mount as DockerMount
from docker.utils import parse_repository_tag

from worker.runners.base import LOG_TAIL_CHARS, MAX_LOG_BYTES, Capability, RunSpec, tail_text

#: Where the job's files directory is mounted inside the container (DECODE layout).
FILES_MOUNT = "/files"
#: Label carrying the job id, to find containers of a job (e.g. leftovers after a crash).
JOB_LABEL = "labcloud.job"
#: Seconds to wait for a container to stop after it was killed.
_STOP_TIMEOUT_S = 10


@dataclass
class DockerHandle:
    """One job container."""

    container: Container
    spec: RunSpec
    killed: bool = False  # we killed it, so exit 137 is not an OOM hint
    oom_killed: bool = False
    exit_code: int | None = None


def container_name(job_id: str) -> str:
    """Return a unique, engine-valid container name for ``job_id``."""
    safe = re.sub(r"[^a-zA-Z0-9_.-]", "-", job_id)[:100]
    # Random suffix: a leftover container of an earlier attempt must not clash.
    return f"labcloud-job-{safe}-{uuid.uuid4().hex[:8]}"


def container_options(spec: RunSpec) -> dict[str, Any]:
    """Return the ``containers.create`` keyword arguments for ``spec`` (minus image/command)."""
    options: dict[str, Any] = {
        "name": container_name(spec.job_id),
        "labels": {JOB_LABEL: spec.job_id},
        "environment": dict(spec.env),
    }
    if spec.mount_files:
        options["volumes"] = {str(spec.files_dir): {"bind": FILES_MOUNT, "mode": "rw"}}
    if spec.mounts:
        options["mounts"] = [
            DockerMount(m.target, str(m.host), type="bind", read_only=m.read_only)
            for m in spec.mounts
        ]
    if spec.workdir:
        options["working_dir"] = spec.workdir
    if spec.memory_mb:
        options["mem_limit"] = f"{spec.memory_mb}m"
        # Same value for memory+swap: the limit must not be escaped by swapping.
        options["memswap_limit"] = f"{spec.memory_mb}m"
    if spec.cpu_cores:
        options["nano_cpus"] = int(spec.cpu_cores * 1e9)
    if spec.gpu_ids:
        request = DeviceRequest(device_ids=list(spec.gpu_ids), capabilities=[["gpu"]])
        options["device_requests"] = [request]
    elif spec.gpus:
        options["device_requests"] = [DeviceRequest(count=spec.gpus, capabilities=[["gpu"]])]
    return options


class DockerRunner:
    """Runs ``/bin/sh -c <command>`` in ``spec.image`` with the job dir bound at /files."""

    capabilities = frozenset({Capability.PULLS_IMAGES, Capability.ARGV, Capability.MOUNTS})

    def __init__(self, base_url: str | None = None, *, timeout: int = 120) -> None:
        # from_env honours DOCKER_HOST (e.g. the Podman socket) when no URL is given.
        self._client = (
            docker.DockerClient(base_url=base_url, timeout=timeout)
            if base_url
            else docker.from_env(timeout=timeout)
        )

    @property
    def client(self) -> docker.DockerClient:
        """The underlying Docker SDK client."""
        return self._client

    def ensure_image(self, image: str) -> None:
        """Pull ``image`` unless it is already present locally."""
        try:
            self._client.images.get(image)
        except ImageNotFound:
            repository, tag = parse_repository_tag(image)
            self._client.images.pull(repository, tag=tag or "latest")

    def start(self, spec: RunSpec) -> DockerHandle:
        """Create and start the job container; raises ``docker.errors.DockerException``."""
        if not spec.image:
            raise ValueError(f"job {spec.job_id}: the docker runner needs an image")
        self.ensure_image(spec.image)
        if spec.argv is not None:  # as given, no shell: argv[0] replaces the entrypoint
            container = self._client.containers.create(
                spec.image,
                list(spec.argv[1:]),
                entrypoint=[spec.argv[0]],
                **container_options(spec),
            )
        else:
            container = self._client.containers.create(
                spec.image, ["/bin/sh", "-c", spec.command], **container_options(spec)
            )
        try:
            container.start()
        except BaseException:
            # create+start (instead of run) so a container that fails to start is not leaked.
            _remove(container)
            raise
        return DockerHandle(container, spec)

    def poll(self, handle: DockerHandle) -> int | None:
        """Return the container's exit code once it has stopped, else None."""
        if handle.exit_code is not None:
            return handle.exit_code
        handle.container.reload()
        if handle.container.status not in ("exited", "dead", "stopped"):
            return None
        state = handle.container.attrs.get("State", {})
        handle.oom_killed = bool(state.get("OOMKilled"))
        handle.exit_code = int(state.get("ExitCode", -1))
        return handle.exit_code

    def logs(self, handle: DockerHandle, tail_chars: int | None = LOG_TAIL_CHARS) -> str:
        """Return the combined log tail (or bounded whole), plus an out-of-memory note."""
        try:
            if tail_chars is None:
                data = _bounded_stream(
                    handle.container.logs(stdout=True, stderr=True, stream=True, follow=False)
                )
            else:
                # Each line has at least one char, so the last N lines cover the last N chars.
                data = handle.container.logs(stdout=True, stderr=True, tail=max(tail_chars, 1))
        except NotFound:
            data = b""
        text = tail_text(data, None) + self._oom_note(handle)
        return text if tail_chars is None else text[-tail_chars:]

    def kill(self, handle: DockerHandle) -> None:
        """Kill the container and wait until it has stopped; ignores already-stopped ones."""
        handle.killed = True
        try:
            handle.container.kill()
        except (NotFound, APIError):
            pass  # already exited or gone
        try:
            handle.container.wait(timeout=_STOP_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - best effort; cleanup() force-removes anyway
            pass

    def cleanup(self, handle: DockerHandle) -> None:
        """Force-remove the container (and its anonymous volumes)."""
        _remove(handle.container)

    @staticmethod
    def _oom_note(handle: DockerHandle) -> str:
        limit = handle.spec.memory_mb
        if handle.oom_killed:
            return f"\n[labcloud] container was killed: out of memory (limit {limit} MB)\n"
        # Podman on cgroup v1 never sets OOMKilled; SIGKILL we did not send is the hint.
        if handle.exit_code == 137 and limit and not handle.killed:
            return f"\n[labcloud] container was killed (exit 137); memory limit {limit} MB may have been exceeded\n"  # noqa: E501
        return ""


def _bounded_stream(chunks: Any) -> bytes:
    # Keep only the last MAX_LOG_BYTES without ever holding the whole log.
    kept: deque[bytes] = deque()
    size = 0
    for chunk in chunks:
        kept.append(chunk)
        size += len(chunk)
        while size - len(kept[0]) >= MAX_LOG_BYTES:
            size -= len(kept.popleft())
    return b"".join(kept)[-MAX_LOG_BYTES:]


def _remove(container: Container) -> None:
    try:
        container.remove(force=True, v=True)
    except NotFound:
        pass
