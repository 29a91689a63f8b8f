"""The local side of transfers: what to send, what is already there, and unpacking a
downloaded folder. No HTTP here (see `files.py`), so it is tested with fakes."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """The SHA-256 of a local file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def join(*parts: str) -> str:
    """Join remote path parts with single slashes, dropping empty ones."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


@dataclass(frozen=True)
class LocalFile:
    """A local file to upload, and the remote folder it goes into."""

    path: Path
    remote_dir: str
    size: int

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def remote_path(self) -> str:
        return join(self.remote_dir, self.name)


@dataclass(frozen=True)
class UploadPlan:
    """The files an upload covers, and the folders that exist only as empty folders."""

    files: list[LocalFile]
    empty_dirs: list[str]
    roots: list[str]  # remote folders made from local folders (listed to resume)


def scan(sources: Iterable[Path], destination: str) -> UploadPlan:
    """What uploading `sources` into the remote folder `destination` means, like `cp -r`:
    a file lands in `destination/`, a folder becomes `destination/<folder>/…`.

    Raises FileNotFoundError for a source that does not exist.
    """
    files: list[LocalFile] = []
    empty: list[str] = []
    roots: list[str] = []
    for source in sources:
        source = Path(source)
        if source.is_file():
            files.append(LocalFile(source, destination, source.stat().st_size))
            continue
        if not source.is_dir():
            raise FileNotFoundError(f"{source}: no such file or folder")
        root = join(destination, source.resolve().name)
        roots.append(root)
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames.sort()
            here = Path(dirpath)
            rel = here.relative_to(source).as_posix()
            remote_dir = join(root, "" if rel == "." else rel)
            regular = [n for n in sorted(filenames) if (here / n).is_file()]
            for name in regular:
                files.append(LocalFile(here / name, remote_dir, (here / name).stat().st_size))
            if not regular and not dirnames:
                empty.append(remote_dir)
    return UploadPlan(files, empty, roots)


def already_there(
    local: LocalFile,
    remote_sizes: Mapping[str, int],
    remote_checksum: Callable[[str], str | None],
) -> bool:
    """Whether `local` is already at its remote path with the same size and SHA-256.

    `remote_sizes` maps remote paths to exact sizes; the remote checksum is asked
    for (it costs the server a read) only when the sizes agree.
    """
    if remote_sizes.get(local.remote_path) != local.size:
        return False
    remote = remote_checksum(local.remote_path)
    return remote is not None and remote == sha256_file(local.path)


class ProgressReader:
    """A file for httpx to send that reports each chunk read (and rewinds, negatively)."""

    def __init__(self, source: IO[bytes], report: Callable[[int], None]) -> None:
        self._source = source
        self._report = report
        self._position = 0

    def fileno(self) -> int:  # lets httpx learn the length, so it sends Content-Length
        return self._source.fileno()

    def tell(self) -> int:
        return self._source.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = self._source.seek(offset, whence)
        if position < self._position:
            self._report(position - self._position)  # a retry starts over
            self._position = position
        return position

    def read(self, size: int = -1) -> bytes:
        chunk = self._source.read(size)
        self._position += len(chunk)
        if chunk:
            self._report(len(chunk))
        return chunk


def safe_member_path(target: Path, name: str) -> Path | None:
    """Where a zip member goes below `target`; None for a folder entry. Raises
    ValueError for a name that would leave `target` (`..`, absolute paths)."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise ValueError(f"refusing to unpack {name!r}: it points outside the folder")
    if name.endswith("/") or not pure.parts:
        return None
    return target.joinpath(*pure.parts)


def extract_zip(archive: Path, target: Path) -> list[Path]:
    """Unpack `archive` into the folder `target` (created; existing files are
    replaced, each atomically). The files written."""
    written = []
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            dest = safe_member_path(target, info.filename)
            if dest is None:
                target.joinpath(info.filename).mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as member:
                write_atomically(dest, member)
            written.append(dest)
    return written


def write_atomically(dest: Path, source: IO[bytes]) -> None:
    """Copy `source` to `dest` through a temporary file beside it, so `dest` is never
    half-written."""
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.part"
    try:
        with tmp.open("xb") as out:  # the usual mode (umask), unlike mkstemp's 0600
            shutil.copyfileobj(source, out, CHUNK)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
