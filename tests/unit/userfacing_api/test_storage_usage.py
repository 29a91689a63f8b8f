"""`StorageUsage`: a user's folder measured once per max age (one walk at a time), this
process's uploads counted at once, uploads in flight held to a limit, deletes measured
again. On real local storage, with a counter of the listings' walks and a fake clock."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.storage.local import LocalStorage
from userfacing_api.services.storage_usage import StorageUsage, measure


class CountingStorage(LocalStorage):
    """Local storage that counts its recursive listings (the walks) and can hold one."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.walks = 0
        self.hold: threading.Event | None = None

    def list(self, key: str, recursive: bool = False) -> Iterator[Any]:
        if recursive:
            self.walks += 1
            if self.hold is not None:
                self.hold.wait(30)
        return super().list(key, recursive)


@pytest.fixture
def storage(tmp_path: Path) -> CountingStorage:
    storage = CountingStorage(tmp_path / "files")
    storage.write("ada/data/a.bin", io.BytesIO(b"a" * 300))
    storage.write("ada/output/run/r.bin", io.BytesIO(b"r" * 200))
    storage.write("bob/data/b.bin", io.BytesIO(b"b" * 50))
    return storage


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_folder_is_measured_once_per_max_age(storage: CountingStorage) -> None:
    clock = Clock()
    usage = StorageUsage(storage, max_age=60, clock=clock)
    assert usage.stored("ada") == 500 and usage.stored("bob") == 50
    assert usage.stored("ada") == 500 and storage.walks == 2
    storage.write("ada/output/run/more.bin", io.BytesIO(b"m" * 10))  # as the worker API would
    clock.now = 59
    assert usage.stored("ada") == 500 and storage.walks == 2
    clock.now = 61
    assert usage.stored("ada") == 510 and storage.walks == 3
    assert measure(storage, "nobody") == 0


def test_uploads_count_at_once_and_deletes_are_measured_again(storage: CountingStorage) -> None:
    usage = StorageUsage(storage, max_age=60, clock=Clock())
    assert usage.stored("ada") == 500
    assert usage.add_in_flight("ada", 120, limit=1000) is None
    assert usage.used("ada") == 620  # stored + in flight
    usage.end_in_flight("ada", 120, stored_delta=120 - 20)  # replaced a 20-byte file
    assert usage.used("ada") == 600 and storage.walks == 1
    usage.add_in_flight("ada", 30, limit=1000)
    usage.end_in_flight("ada", 30, stored_delta=None)  # aborted: nothing stored
    assert usage.used("ada") == 600
    storage.delete("ada/data/a.bin")
    usage.forget("ada")
    assert usage.stored("ada") == 200 and storage.walks == 2


def test_uploads_in_flight_together_cannot_pass_the_limit(storage: CountingStorage) -> None:
    usage = StorageUsage(storage, max_age=60, clock=Clock())
    usage.stored("ada")  # 500
    assert usage.add_in_flight("ada", 300, limit=1000) is None
    assert usage.add_in_flight("ada", 200, limit=1000) is None  # exactly full
    assert usage.add_in_flight("ada", 1, limit=1000) == 1001  # refused, and not counted
    assert usage.used("ada") == 1000
    usage.end_in_flight("ada", 300, stored_delta=None)
    assert usage.add_in_flight("ada", 1, limit=1000) is None


def test_one_walk_for_many_askers_and_an_upload_during_it_is_kept(
    storage: CountingStorage,
) -> None:
    usage = StorageUsage(storage, max_age=60, clock=Clock())
    storage.hold = threading.Event()
    results: list[int] = []
    askers = [
        threading.Thread(target=lambda: results.append(usage.stored("ada"))) for _ in range(4)
    ]
    for asker in askers:
        asker.start()
    while storage.walks == 0:
        threading.Event().wait(0.01)
    # an upload through this process ends while the folder is walked (the walk may have
    # passed its place): counted on top, erring on the safe side until the next walk
    usage.add_in_flight("ada", 40, limit=10**6)
    usage.end_in_flight("ada", 40, stored_delta=40)
    storage.hold.set()
    for asker in askers:
        asker.join(30)
    assert storage.walks == 1
    assert results == [540] * 4
