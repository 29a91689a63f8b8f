"""A job's scratch directory: safe layout of inputs, collection of outputs.

The job dir is what the application sees as ``/files``. Every path in a job
spec comes from the network, so each one is checked to stay inside the job dir:
no ``..``, no absolute paths, no walking through symlinks. After the run the
job itself may have planted symlinks (in a container, ``/etc/passwd`` means the
*host's* file once we read it), so collection uploads regular files only.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from shared.jobs.specs import OutputKind

log = logging.getLogger(__name__)

#: Name of the runner log uploaded with every job's outputs (kind ``log``).
JOB_LOG_NAME = "job.log"


class UnsafePath(ValueError):
    """A path from a job spec would leave the job directory."""


class StagingCancelled(Exception):
    """Staging stopped early because the job was cancelled or the worker is stopping."""


@dataclass(frozen=True)
class Upload:
    """One file to upload: ``base_path`` is its directory relative to the job dir."""

    kind: OutputKind
    base_path: str
    path: Path


def check_relpath(rel: str) -> PurePosixPath:
    """Return ``rel`` as a relative POSIX path that stays below its base.

    Raises :class:`UnsafePath` for empty, absolute, ``.``/``..``-containing or
    NUL-containing paths, and for empty components (``a//b``, trailing ``/``).
    """
    if not rel or "\x00" in rel:
        raise UnsafePath(f"invalid path {rel!r}")
    if rel.startswith("/"):
        raise UnsafePath(f"absolute path {rel!r} is not allowed")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise UnsafePath(f"path {rel!r} must not contain empty, '.' or '..' components")
    return PurePosixPath(rel)


def inside(jobdir: Path, rel: str) -> Path:
    """The host path of job-relative ``rel``, refusing any route out of ``jobdir``.

    Existing components must be real directories (not symlinks); the result is
    checked again after resolving, as a second line of defence.
    """
    target = jobdir.joinpath(*check_relpath(rel).parts)
    current = jobdir
    for part in target.relative_to(jobdir).parts[:-1]:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            break  # the rest does not exist yet; mkdir will create real dirs
        if not stat.S_ISDIR(mode):
            raise UnsafePath(f"{rel!r}: {current.relative_to(jobdir)} is not a directory")
    if os.path.islink(target):
        raise UnsafePath(f"{rel!r} is a symlink")
    root = jobdir.resolve()
    if not target.resolve().is_relative_to(root):
        raise UnsafePath(f"{rel!r} leads outside the job directory")
    return target


def plan_downloads(jobdir: Path, files_down: Mapping[str, str]) -> list[tuple[str, Path]]:
    """Check every ``files_down`` entry before anything is fetched: ``[(uri, host path)]``.

    Also refuses a layout where one input would be a directory of another
    (``data/a`` and ``data/a/b``): the job would get only one of them.
    """
    plan = [(uri, inside(jobdir, rel)) for rel, uri in files_down.items()]
    targets = {path for _, path in plan}
    for path in targets:
        for parent in path.parents:
            if parent in targets:
                raise UnsafePath(
                    f"input {path.relative_to(jobdir)} would be inside the input "
                    f"file {parent.relative_to(jobdir)}"
                )
    return plan


def make_output_dirs(jobdir: Path, files_up: Mapping[OutputKind, str]) -> None:
    """Create each ``files_up`` directory up front: applications expect them to exist."""
    for rel in files_up.values():
        path = inside(jobdir, rel)
        path.mkdir(parents=True, exist_ok=True)


def stage_inputs(
    jobdir: Path,
    files_down: Mapping[str, str],
    download: Callable[[str, Path], object],
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Fetch every input to its place with ``download(uri, dest)``; return how many.

    All targets are checked before the first download, so a bad spec fetches
    nothing. Raises :class:`StagingCancelled` when ``should_stop()`` turns true.
    """
    plan = plan_downloads(jobdir, files_down)
    for uri, dest in plan:
        if should_stop():
            raise StagingCancelled()
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Re-check: a parent made above must still be a plain dir inside the job dir.
        inside(jobdir, dest.relative_to(jobdir).as_posix())
        download(uri, dest)
    return len(plan)


def collect_outputs(jobdir: Path, files_up: Mapping[OutputKind, str]) -> list[Upload]:
    """Every regular file under each ``files_up`` dir, to upload (sorted, no symlinks).

    ``base_path`` is the file's directory relative to the job dir, the files_up
    dir included (``model/epoch1`` for ``/files/model/epoch1/w.pt``), as DECODE's
    worker sends it: its catalogue relies on that layout. A files_up dir that the
    job replaced by a symlink or a file is skipped with a warning.
    """
    uploads: list[Upload] = []
    root = jobdir.resolve()
    for kind, rel in files_up.items():
        try:
            top = inside(jobdir, rel)
        except UnsafePath as exc:
            log.warning("not collecting %s outputs: %s", kind.value, exc)
            continue
        if not top.is_dir() or top.is_symlink():
            continue
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue  # symlinks, fifos, sockets: never follow what the job made
                if not path.resolve().is_relative_to(root):
                    continue
                base = path.parent.relative_to(jobdir).as_posix()
                uploads.append(Upload(kind, base, path))
    return uploads


def write_job_log(
    files_up: Mapping[OutputKind, str], uploads: list[Upload], private_dir: Path, text: str
) -> Upload:
    """Write the runner log to ``private_dir`` and return its upload as ``job.log``.

    It goes to the job's ``log`` dir (the log root when files_up names none). If
    the job wrote its own ``job.log`` there, the runner log takes another name
    instead of overwriting it.
    """
    base = files_up.get(OutputKind.log, "")
    taken = {u.path.name for u in uploads if u.kind is OutputKind.log and u.base_path == base}
    name = JOB_LOG_NAME if JOB_LOG_NAME not in taken else f"labcloud-{JOB_LOG_NAME}"
    path = private_dir / name
    path.write_text(text, encoding="utf-8", errors="replace")
    return Upload(OutputKind.log, base, path)


def create_job_dir(scratch: Path, job_id: str) -> Path:
    """A fresh directory for one job below ``scratch``, which is made private (0700):
    the job dirs in it are opened to containers (:func:`share_with_container`)."""
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", job_id)[:64]
    path = scratch / f"job-{safe}-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    return path


def share_with_container(jobdir: Path) -> None:
    """Let whoever the job runs as read what was staged: folders gain r-x and files r--
    for group and others (0755 and 0644, as under the common umask 022), whatever the
    worker's own umask (``labcloud up`` runs with 077).

    A container whose image runs as a non-root user sees ``/files`` with these modes
    (a bind mount does not check the folders above it), so it must be open at this
    level. Other local users are kept out one level up: SCRATCH_DIR itself is private
    (0700 under ``labcloud up``). Links are neither followed nor changed.
    """
    for dirpath, dirnames, filenames in os.walk(jobdir, followlinks=False):
        for path in [Path(dirpath)] + [Path(dirpath, n) for n in dirnames + filenames]:
            mode = os.lstat(path).st_mode
            if stat.S_ISDIR(mode):
                os.chmod(path, stat.S_IMODE(mode) | 0o755)
            elif stat.S_ISREG(mode):
                os.chmod(path, stat.S_IMODE(mode) | 0o644)


def remove_job_dir(path: Path) -> None:
    """Remove a job dir; never raises (a leftover dir must not crash the worker)."""
    if not (path.exists() or path.is_symlink()):
        return

    def _report(_func: object, failed: str, exc_info: object) -> None:
        log.warning("could not remove %s: %s", failed, exc_info)

    shutil.rmtree(path, onerror=_report)
