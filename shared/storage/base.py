"""The storage interface: where users' files live (local disk now, S3 later).

Keys are clean relative POSIX paths (see `paths.clean_relpath`) below the
storage root. A caller confines itself to one folder (a user's `<user_id>`, a job's
upload folder) with `scoped`: the view refuses every key outside it, links
followed (`OutsideScope`). Directories are real on local disk and zero-byte
`key/` markers on S3.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol, TypeAlias

from shared.storage.paths import UnsafePath

log = logging.getLogger(__name__)

Buffer: TypeAlias = bytes | bytearray | memoryview

COPY_CHUNK = 1 << 20  # how much `write_all` reads from its source at a time


@dataclass(frozen=True)
class Entry:
    key: str
    is_dir: bool
    size: int = 0


class Writer(Protocol):
    """One atomic write in progress: the bytes in pieces, then `commit` or `abort`.

    Nothing is visible at the key before `commit`; after `abort` (or a failed
    `commit`) nothing is left behind. Not thread-safe: one call at a time.
    """

    def write(self, *pieces: Buffer) -> None:
        """Append the pieces, in order. A megabyte or more per call keeps the overhead low."""

    def commit(self) -> int:
        """Make the file visible at the key, replacing what was there; return its size."""

    def abort(self) -> None:
        """Drop what was written; fine to call more than once, or after `commit`."""


class Storage(Protocol):
    """A tree of files addressed by key, seen from its `scope`."""

    @property
    def scope(self) -> str:
        """The folder every key must lie within ("" for the whole storage)."""

    def scoped(self, folder: str) -> Storage:
        """The same files, confined to `folder` (within this scope): every operation on
        a key outside it, or that leads out of it through a link, raises OutsideScope.
        Listings leave out what lies behind such a link and never descend into links."""

    def stat(self, key: str) -> Entry | None:
        """The entry at `key`, or None if nothing is there."""

    def list(self, key: str, recursive: bool = False) -> Iterator[Entry]:
        """The entries below the directory `key` (not `key` itself), in no order."""

    def read(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The bytes of the file at `key`, in chunks."""

    def write(self, key: str, source: BinaryIO) -> int:
        """Store `source` at `key` atomically (never visible half-written); return its size."""

    def writer(self, key: str) -> Writer:
        """Start an atomic write of `key`, fed piece by piece (e.g. from a request body).

        Raises IsADirectoryError if `key` is a directory (or the root)."""

    def mkdir(self, key: str) -> None:
        """Create the directory `key` and its parents; fine if it exists."""

    def move(self, src: str, dst: str) -> None:
        """Rename a file or directory."""

    def delete(self, key: str) -> None:
        """Delete the file or the whole directory at `key`; fine if absent."""

    def uri(self, key: str) -> str:
        """The URI that names `key` in job specs (resolved back by `key_for_uri`)."""

    def key_for_uri(self, uri: str) -> str:
        """The key named by a URI from `uri`; ValueError if it is not one of ours."""


class StorageError(RuntimeError):
    """A storage operation could not be done (e.g. deleting the storage root)."""


class OutsideScope(UnsafePath):
    """A key lies outside the caller's folder, or leads out of it (or round a loop)
    through a link: the caller may not go there (the APIs answer 403)."""


def write_all(writer: Writer, source: BinaryIO) -> int:
    """Copy `source` into `writer` and commit it; abort it if anything fails."""
    try:
        while chunk := source.read(COPY_CHUNK):
            writer.write(chunk)
        return writer.commit()
    except BaseException:
        abort_quietly(writer)
        raise


def abort_quietly(writer: Writer) -> None:
    """Abort `writer` after a failure. An error of the abort itself is logged, not
    raised: raised, it would replace the failure, which is what the caller must see."""
    try:
        writer.abort()
    except Exception as exc:
        log.warning(
            "could not abort %r after a failed write (%s); raising the failure instead",
            writer,
            _reason(exc),
        )


def _reason(exc: Exception) -> str:
    """The kind of an error, without its message: a network error's can carry URLs."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    response = getattr(exc, "response", None)  # botocore's ClientError: the S3 error code
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return f"{type(exc).__name__}: {code}" if code else type(exc).__name__


def file_in_the_way(storage: Storage, folder: str) -> str | None:
    """The key of a file at `folder` or at one of its ancestors, which keeps anything
    from being stored below `folder`; None if there is none.

    Walks up from `folder` to the nearest entry that exists, never above the storage's
    scope: one `stat` when the folder does (on S3, a file and a directory may share a
    name; the file wins).
    """
    key = folder
    while True:
        entry = storage.stat(key)
        if entry is not None:
            return None if entry.is_dir else key
        if key == storage.scope:
            return None
        key = key.rpartition("/")[0]
