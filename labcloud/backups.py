"""Backups of the embedded default (`labcloud up`): `labcloud backup` and `restore`.

A backup holds both SQLite databases, the users' files and the secrets of one data
directory. The databases are copied with SQLite's online backup API while the
platform runs: each copy is one consistent snapshot, and the two are taken back to
back, the worker API's first, so that the user API's (the later one) knows every job
the worker API's knows (a job the worker API's copy lacks is delivered again by the
outbox relay or the reconciler; the reverse would leave a job nobody owns). Files are
copied after the databases: a file written meanwhile is in the backup, never half of
it (uploads are renamed into place). In-flight uploads and job scratch folders are
not backed up. Every file's SHA-256 is in the manifest, and a restore checks it.

A later backup to the same target reuses the files that did not change (same size and
modification time) from the previous one: a hard link in a folder, a server-side copy
on S3. `keep` prunes all but the newest complete backups.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from labcloud.backup_targets import MANIFEST, PREFIX, Target
from labcloud.data_dir import make_private

FORMAT = 1
DATABASES = ("worker.db", "user.db")  # in this order: see the module docstring
SECRETS = "secrets.json"
FILES = "files"
SKIPPED_DIRS = {".labcloud-tmp"}  # uploads in flight (shared.storage.local)

Progress = Callable[[str, int, int], None]  # (file, bytes done, bytes in all) after each file


class BackupError(RuntimeError):
    """The backup or restore cannot be done; the message says why."""


@dataclass
class Summary:
    name: str
    location: str
    files: int = 0
    bytes: int = 0
    reused: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    skipped: bool = False  # nothing changed since the previous backup

    def as_dict(self) -> dict[str, Any]:
        return {
            "backup": self.location,
            "name": self.name,
            "files": self.files,
            "bytes": self.bytes,
            "reused": self.reused,
            "counts": self.counts,
            "skipped": self.skipped,
        }


def new_name(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return PREFIX + now.strftime("%Y%m%dT%H%M%S%fZ")


# --- backup ---------------------------------------------------------------------------


def snapshot_databases(data_dir: Path, into: Path) -> None:
    """Consistent copies of both databases into `into`, taken back to back."""
    sources = []
    try:
        for name in DATABASES:
            path = data_dir / name
            if not path.is_file():
                raise BackupError(f"{path} is missing: is {data_dir} a `labcloud up` data dir?")
            source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            source.execute("BEGIN")
            source.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot
            sources.append((name, source))
        for name, source in sources:  # each copy reads its connection's snapshot
            target = sqlite3.connect(into / name)
            with contextlib.closing(target):
                source.backup(target)
    finally:
        for _name, source in sources:
            source.close()


def counts(snapshot_dir: Path) -> dict[str, int]:
    """Users and jobs in a snapshot, for the summary and the manifest."""
    with contextlib.closing(sqlite3.connect(snapshot_dir / "user.db")) as db:
        users = db.execute("SELECT count(*) FROM users").fetchone()[0]
        jobs = db.execute("SELECT count(*) FROM jobs").fetchone()[0]
    return {"users": int(users), "jobs": int(jobs)}


def _user_files(data_dir: Path) -> Iterator[tuple[str, Path]]:
    """(name in the backup, path) of every regular file below `files/`, links skipped."""
    root = data_dir / FILES
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d not in SKIPPED_DIRS]
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            if path.is_symlink() or not path.is_file():
                continue
            yield f"{FILES}/{path.relative_to(root).as_posix()}", path


class _Hashing(io.RawIOBase):
    """A reader that hashes what passes through it."""

    def __init__(self, source: BinaryIO) -> None:
        self._source, self.sha256, self.size = source, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        self.sha256.update(data)
        self.size += len(data)
        return len(data)


def backup(
    data_dir: Path,
    target: Target,
    *,
    keep: int | None = None,
    skip_unchanged: bool = False,
    progress: Progress | None = None,
) -> Summary:
    """Back `data_dir` up to `target`; see the module docstring."""
    data_dir = data_dir.resolve()
    previous = _latest_manifest(target)
    name = new_name()
    summary = Summary(name=name, location=target.describe(name))
    with tempfile.TemporaryDirectory(prefix="labcloud-backup-") as tmp:
        snapshots = Path(tmp)
        snapshot_databases(data_dir, snapshots)
        summary.counts = counts(snapshots)
        entries: list[tuple[str, Path, os.stat_result]] = [
            (n, snapshots / n, (snapshots / n).stat()) for n in DATABASES
        ]
        if (data_dir / SECRETS).is_file():
            entries.append((SECRETS, data_dir / SECRETS, (data_dir / SECRETS).stat()))
        entries += [(n, p, p.stat()) for n, p in _user_files(data_dir)]
        old = previous[1]["files"] if previous else {}
        if skip_unchanged and previous and _unchanged(entries, old):
            summary.skipped = True
            return summary
        target.open_new(name)
        manifest: dict[str, Any] = {"format": FORMAT, "files": {}}
        total = sum(st.st_size for _rel, _path, st in entries)
        for rel, path, st in entries:
            seen = old.get(rel)
            is_db = rel in DATABASES
            if (
                previous
                and seen
                and not is_db
                and seen["size"] == st.st_size
                and seen.get("mtime_ns") == st.st_mtime_ns
                and target.reuse(name, rel, previous[0])
            ):
                manifest["files"][rel] = seen
                summary.reused += 1
            else:
                with path.open("rb") as source:
                    hashing = _Hashing(source)
                    target.put(name, rel, io.BufferedReader(hashing, 1 << 20))
                entry = {"size": hashing.size, "sha256": hashing.sha256.hexdigest()}
                if not is_db:
                    entry["mtime_ns"] = st.st_mtime_ns
                manifest["files"][rel] = entry
            summary.files += 1
            summary.bytes += st.st_size
            if progress:
                progress(rel, summary.bytes, total)
        manifest.update(
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            source=str(data_dir),
            counts=summary.counts,
        )
        target.finish(name, json.dumps(manifest, indent=1, sort_keys=True).encode())
    if keep is not None:
        prune(target, keep)
    return summary


def _unchanged(entries: list[tuple[str, Path, os.stat_result]], old: dict[str, Any]) -> bool:
    if {rel for rel, _p, _s in entries} != set(old):
        return False
    for rel, path, st in entries:
        if rel in DATABASES:
            if _sha256(path) != old[rel]["sha256"]:
                return False
        elif (st.st_size, st.st_mtime_ns) != (old[rel]["size"], old[rel].get("mtime_ns")):
            return False
    return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _latest_manifest(target: Target) -> tuple[str, dict[str, Any]] | None:
    names = target.backups()
    if not names:
        return None
    return names[-1], read_manifest(target, names[-1])


def read_manifest(target: Target, name: str) -> dict[str, Any]:
    manifest = json.loads(b"".join(target.get(name, MANIFEST)))
    if manifest.get("format") != FORMAT:
        found = manifest.get("format")
        raise BackupError(f"{target.describe(name)}: unknown backup format {found}")
    return manifest


def prune(target: Target, keep: int) -> list[str]:
    """Delete all but the newest `keep` complete backups; returns the names deleted."""
    names = target.backups()
    old = names[: max(len(names) - keep, 0)]
    for name in old:
        target.delete(name)
    return old


# --- restore --------------------------------------------------------------------------


def restore(
    target: Target, data_dir: Path, *, name: str | None = None, progress: Progress | None = None
) -> Summary:
    """Restore backup `name` (default: the newest) into `data_dir`, which must be empty
    or missing; every file's checksum is verified. Written next to `data_dir` first and
    renamed into place, so a failed restore leaves nothing half-done behind."""
    data_dir = data_dir.resolve()
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupError(f"{data_dir} is not empty: restore into a new or empty folder")
    names = target.backups()
    if name is None:
        if not names:
            raise BackupError(f"no complete backup in {target.describe()}")
        name = names[-1]
    elif name not in names:
        raise BackupError(f"{target.describe(name)} is not a complete backup")
    manifest = read_manifest(target, name)
    summary = Summary(name=name, location=target.describe(name), counts=manifest["counts"])
    total = sum(entry["size"] for entry in manifest["files"].values())
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restoring-", dir=data_dir.parent))
    try:
        for rel, entry in sorted(manifest["files"].items()):
            path = work / rel
            if not path.resolve().is_relative_to(work.resolve()):
                raise BackupError(f"{rel!r} in the manifest leads outside the data dir")
            path.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                for chunk in target.get(name, rel):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != entry["sha256"]:
                raise BackupError(f"{rel}: checksum mismatch: the backup is damaged")
            if "mtime_ns" in entry:
                os.utime(path, ns=(entry["mtime_ns"], entry["mtime_ns"]))
            summary.files += 1
            summary.bytes += entry["size"]
            if progress:
                progress(rel, summary.bytes, total)
        make_private(work)  # as `labcloud up` keeps a data dir: 0600 files, 0700 folders
        if data_dir.exists():
            data_dir.rmdir()  # empty, checked above
        work.rename(data_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return summary
