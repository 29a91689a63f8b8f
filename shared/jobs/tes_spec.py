"""A GA4GH TES task as the worker runs it: labcloud's extension of the job spec.

The user API turns a TES task into a labcloud job whose `handler.tes` is a
:class:`TesExecution`: the executors to run in order, the inputs to place and
the outputs to collect, each already resolved (storage URLs to storage URIs the
worker may fetch through the worker API, destinations to paths below the job's
output folder). Both sides also share :func:`mount_points`, the one rule that
says which container paths a task's containers see from the shared work
directory, so a layout the worker could not build is refused at submission.
Pure: no I/O.
"""

from __future__ import annotations

import posixpath
from typing import Literal

from pydantic import BaseModel, Field

FileType = Literal["FILE", "DIRECTORY"]

#: The task log the worker uploads to the job's `log` folder and the TES API reads
#: (executor exit codes, times and output tails; output sizes; system logs).
TASK_LOG_NAME = "tes-task.json"

#: Container paths a task may not place anything at or below.
RESERVED = ("/proc", "/sys", "/dev")
#: Characters that would break a bind mount or a path on the host.
_BAD_CHARS = ("\x00", ":", "\\", "\n")
WILDCARDS = frozenset("*?[")


class TesInputSpec(BaseModel):
    """One input, placed at ``path`` before the first executor starts."""

    path: str = Field(description="absolute container path")
    type: FileType = "FILE"
    content: str | None = Field(default=None, description="inline content (a FILE)")
    url: str | None = Field(default=None, description="http(s) URL the worker fetches")
    files: dict[str, str] = Field(
        default_factory=dict,
        description="from the user's storage: path below `path` ('' = `path` itself) → "
        "storage URI, each also listed in the job's files_down",
    )


class TesOutputSpec(BaseModel):
    """One output, collected after the last executor."""

    path: str = Field(description="absolute container path; may hold POSIX wildcards")
    path_prefix: str | None = Field(default=None, description="removed from wildcard matches")
    type: FileType = "FILE"
    url: str = Field(description="the destination as the client named it")
    store: str | None = Field(
        default=None,
        description="destination below the job's `output` upload folder (a file for a FILE, "
        "a folder otherwise); None: `url` is an http(s) URL to PUT to",
    )


class TesExecutorSpec(BaseModel):
    image: str
    command: list[str] = Field(min_length=1, description="argv; no shell")
    workdir: str | None = None
    stdin: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    ignore_error: bool = False


class TesExecution(BaseModel):
    """What `handler.tes` holds: a TES task's executors and files, resolved."""

    executors: list[TesExecutorSpec] = Field(min_length=1)
    inputs: list[TesInputSpec] = Field(default_factory=list)
    outputs: list[TesOutputSpec] = Field(default_factory=list)
    volumes: list[str] = Field(default_factory=list)


class InvalidLayout(ValueError):
    """A container path or a combination of them that cannot be set up."""


def container_path(raw: str, what: str) -> str:
    """``raw`` as a normalised absolute container path; InvalidLayout if unusable."""
    if not isinstance(raw, str) or not raw.startswith("/"):
        raise InvalidLayout(f"{what} must be an absolute path, not {raw!r}")
    if any(c in raw for c in _BAD_CHARS):
        raise InvalidLayout(f"{what} {raw!r} contains a character that is not allowed")
    if ".." in raw.split("/"):
        raise InvalidLayout(f"{what} {raw!r} must not contain '..'")
    path = posixpath.normpath(raw)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if path == "/" or any(path == r or path.startswith(r + "/") for r in RESERVED):
        raise InvalidLayout(f"{what} {raw!r} is a system location; use a folder such as /data")
    return path


def has_wildcard(path: str) -> bool:
    return any(c in WILDCARDS for c in path)


def static_dir(pattern: str) -> str:
    """The folder of a wildcard pattern above its first wildcard component."""
    parts = pattern.split("/")
    for i, part in enumerate(parts):
        if has_wildcard(part):
            return "/".join(parts[:i]) or "/"
    return posixpath.dirname(pattern)


def output_dir(output: TesOutputSpec) -> str:
    """The container folder an output is collected from (and so must be shared)."""
    if has_wildcard(output.path):
        return static_dir(output.path)
    if output.type == "DIRECTORY":
        return output.path
    return posixpath.dirname(output.path)


def _below(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def mount_points(execution: TesExecution) -> list[tuple[str, bool]]:
    """The container paths to share from the work directory: ``[(path, is_file)]``.

    Volumes, the folders outputs are collected from, the folders of executors'
    stdout/stderr files, and every input (a file or a folder). A path inside
    another shared folder is not shared again. Raises InvalidLayout when a path
    would have to be inside an input file, or for a system location.
    """
    folders: set[str] = set(execution.volumes)
    folders.update(output_dir(o) for o in execution.outputs)
    for ex in execution.executors:
        folders.update(posixpath.dirname(p) for p in (ex.stdout, ex.stderr) if p)
    files = {i.path for i in execution.inputs if i.type == "FILE"}
    folders.update(i.path for i in execution.inputs if i.type == "DIRECTORY")
    for path in sorted(folders | files):
        container_path(path, "path")  # a folder at / or /proc is refused here
    for f in files:
        inner = [p for p in folders | files if p != f and _below(p, f)]
        if inner or f in folders:
            clash = (inner or [f])[0]
            raise InvalidLayout(f"input file {f} would have to be a folder too ({clash})")
    chosen: list[tuple[str, bool]] = []
    for path in sorted(folders | files, key=lambda p: (p.count("/"), p)):
        if any(not is_file and _below(path, c) for c, is_file in chosen):
            continue
        chosen.append((path, path in files))
    return sorted(chosen)
