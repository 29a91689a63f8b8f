"""The storage interface: where users' files live (local disk now, S3 later).

Keys are clean relative POSIX paths (see `paths.clean_relpath`) below the
storage root; the caller scopes them to a user. Directories are real on local
disk and zero-byte `key/` markers on S3.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class Entry:
    key: str
    is_dir: bool
    size: int = 0


class Storage(Protocol):
    """A tree of files addressed by key."""

    def stat(self, key: str) -> Entry | None:
        """The entry at `key`, or None if nothing is there."""

    def list(self, key: str, recursive: bool = False) -> Iterator[Entry]:
        """The entries below the directory `key` (not `key` itself), in no order."""

    def read(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The bytes of the file at `key`, in chunks."""

    def write(self, key: str, source: BinaryIO) -> int:
        """Store `source` at `key` atomically (never visible half-written); return its size."""

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
    """A storage operation could not be done (e.g. a symlink leading out)."""
