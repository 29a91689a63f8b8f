"""The outputs of a TES task: which files on the host go where.

Paths are matched in the job dir, which mirrors the container paths the task
shares; POSIX wildcards (``*``, ``?``, ``[...]``) are expanded with
:mod:`glob`, and ``path_prefix`` is removed from each match to name its place
below the output's URL. Only regular files are collected, never through a
symlink: the executors may have planted links to host files.
"""

from __future__ import annotations

import glob
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from shared.jobs.tes_spec import TesOutputSpec, has_wildcard
from worker import staging


@dataclass(frozen=True)
class OutputFile:
    """One file to upload: from ``host`` (container ``path``) to ``store`` below the
    job's output folder, or to ``url`` by HTTP PUT when ``store`` is None."""

    path: str
    host: Path
    url: str
    store: str | None
    size: int

    def public(self) -> dict[str, str]:
        return {"url": self.url, "path": self.path, "size_bytes": str(self.size)}


class MissingOutput(ValueError):
    """A FILE or DIRECTORY output (without wildcards) that the executors did not write."""


def _join(base: str, rel: str) -> str:
    return f"{base.rstrip('/')}/{rel}" if base else rel


def _url_join(url: str, rel: str) -> str:
    return url + rel if url.endswith("/") else f"{url}/{rel}"


def _file(jobdir: Path, container: str, output: TesOutputSpec, rel: str | None) -> OutputFile:
    host = staging.inside(jobdir, container.lstrip("/"))
    store = output.store if rel is None or output.store is None else _join(output.store, rel)
    url = output.url if rel is None else _url_join(output.url, rel)
    return OutputFile(container, host, url, store, os.lstat(host).st_size)


def _tree(jobdir: Path, container: str) -> list[str]:
    """The regular files below a container folder, as paths relative to it, sorted."""
    top = staging.inside(jobdir, container.lstrip("/"))
    root = jobdir.resolve()
    found = []
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if stat.S_ISREG(os.lstat(path).st_mode) and path.resolve().is_relative_to(root):
                found.append(path.relative_to(top).as_posix())
    return found


def _kind(jobdir: Path, container: str) -> str | None:
    """'file', 'dir' or None (absent, or something we never follow)."""
    host = jobdir / container.lstrip("/")
    try:
        mode = os.lstat(host).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return None


def collect(jobdir: Path, outputs: list[TesOutputSpec]) -> list[OutputFile]:
    """Every file to upload for ``outputs``; MissingOutput for an output not written."""
    files: list[OutputFile] = []
    for output in outputs:
        if has_wildcard(output.path):
            prefix = (output.path_prefix or "/").rstrip("/")
            pattern = glob.escape(str(jobdir)) + output.path
            for match in sorted(glob.glob(pattern)):
                container = "/" + Path(match).relative_to(jobdir).as_posix()
                if not container.startswith(prefix + "/"):
                    raise ValueError(f"{container} does not start with path_prefix {prefix}/")
                pruned = container[len(prefix) + 1 :]
                kind = _kind(jobdir, container)
                if kind == "file":
                    files.append(_file(jobdir, container, output, pruned))
                elif kind == "dir":
                    for rel in _tree(jobdir, container):
                        files.append(
                            _file(jobdir, f"{container}/{rel}", output, _join(pruned, rel))
                        )
            continue
        kind = _kind(jobdir, output.path)
        if kind is None:
            raise MissingOutput(f"output {output.path} was not written by the executors")
        if kind == "file":
            files.append(_file(jobdir, output.path, output, None))
        else:
            for rel in _tree(jobdir, output.path):
                files.append(_file(jobdir, f"{output.path}/{rel}", output, rel))
    return files
