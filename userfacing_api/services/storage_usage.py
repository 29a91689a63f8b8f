"""How many bytes each user keeps in storage, without walking their folder on every request.

A user's folder (`<user id>/`, job outputs included) is measured through the storage's
recursive listing (a walk of the directory on local disk, paged listings of the prefix
on S3) at most once per `max_age` seconds, one walk per user at a time. In between, the
uploads through this process adjust the measurement at once (new size minus replaced
size) and deletes make it stale; uploads still in flight count too, by the bytes
received so far, so that several at once cannot together pass a quota. What other
processes write (the worker API's job outputs, another user-API process's uploads,
presigned S3 POSTs) is seen at the next measurement.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.storage.base import Storage


def measure(storage: Storage, folder: str) -> int:
    """The bytes of every file below `folder` (0 if there is no such folder)."""
    try:
        return sum(e.size for e in storage.list(folder, recursive=True) if not e.is_dir)
    except (FileNotFoundError, NotADirectoryError):
        return 0


@dataclass
class _Folder:
    measured: int | None = None  # bytes at the last measurement, adjusted since
    measured_at: float = float("-inf")
    measuring: bool = False
    changes_while_measuring: int = 0
    in_flight: int = 0  # bytes received by uploads not ended yet
    gate: threading.Lock | None = None  # held by the one measuring


class StorageUsage:
    """Per user folder: the bytes stored (measured, then adjusted) and those in flight."""

    def __init__(
        self, storage: Storage, max_age: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._storage, self._max_age, self._clock = storage, max_age, clock
        self._lock = threading.Lock()
        self._folders: dict[str, _Folder] = {}

    def _folder(self, root: str) -> _Folder:
        return self._folders.setdefault(root, _Folder(gate=threading.Lock()))

    def stored(self, root: str) -> int:
        """The folder's bytes, measured again if the last measurement is older than
        `max_age`. May walk the folder: call it from a worker thread."""
        with self._lock:
            folder = self._folder(root)
            if (known := self._fresh(folder)) is not None:
                return known
        assert folder.gate is not None
        with folder.gate:  # one walk per folder; who waits gets its result
            with self._lock:
                if (known := self._fresh(folder)) is not None:
                    return known
                folder.measuring, folder.changes_while_measuring = True, 0
                started = self._clock()
            try:
                size = measure(self._storage, root)
            finally:
                with self._lock:
                    folder.measuring = False
            with self._lock:
                # An upload that ended during the walk may be in it or not: count it, so
                # that the error is on the safe side until the next measurement.
                folder.measured = size + folder.changes_while_measuring
                folder.measured_at = started
                return folder.measured

    def _fresh(self, folder: _Folder) -> int | None:
        if folder.measured is not None and self._clock() - folder.measured_at < self._max_age:
            return folder.measured
        return None

    def used(self, root: str) -> int:
        """Stored plus in flight (may walk the folder, as `stored`)."""
        stored = self.stored(root)
        with self._lock:
            return stored + self._folder(root).in_flight

    def add_in_flight(self, root: str, size: int, limit: int) -> int | None:
        """Count `size` more bytes in flight, unless the folder's last measurement plus all
        in flight would pass `limit`: then count nothing and return that sum. Never walks
        (it runs on the event loop, as each piece of an upload arrives)."""
        with self._lock:
            folder = self._folder(root)
            total = (folder.measured or 0) + folder.in_flight + size
            if total > limit:
                return total
            folder.in_flight += size
            return None

    def end_in_flight(self, root: str, size: int, stored_delta: int | None) -> None:
        """An upload of `size` bytes so far ended; `stored_delta` is what it changed in
        storage when it was committed (its size minus the replaced file's), else None."""
        with self._lock:
            folder = self._folder(root)
            folder.in_flight -= size
            if stored_delta is not None:
                if folder.measured is not None:
                    folder.measured += stored_delta
                if folder.measuring:
                    folder.changes_while_measuring += stored_delta

    def forget(self, root: str) -> None:
        """The folder lost files (a delete): measure it again when next asked."""
        with self._lock:
            self._folder(root).measured_at = float("-inf")
