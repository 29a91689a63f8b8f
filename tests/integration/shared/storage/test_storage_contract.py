"""One contract, every Storage: LocalStorage on a temp dir and S3Storage on moto.

A behaviour the routers rely on belongs here, so that switching FILESYSTEM
cannot change what users see.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.storage.base import Entry, OutsideScope, Storage, StorageError, file_in_the_way
from shared.storage.local import LocalStorage
from shared.storage.paths import UnsafePath
from shared.storage.s3 import S3Storage

MB = 1 << 20


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "root")
    make_s3_storage: Callable[..., S3Storage] = request.getfixturevalue("make_s3_storage")
    return make_s3_storage()


def put(storage: Storage, key: str, data: bytes) -> None:
    assert storage.write(key, io.BytesIO(data)) == len(data)


def content(storage: Storage, key: str) -> bytes:
    return b"".join(storage.read(key))


def tree(storage: Storage, key: str = "", recursive: bool = True) -> set[Entry]:
    return set(storage.list(key, recursive=recursive))


class _GeneratedSource:
    """`size` pseudo-random bytes handed out as read, never all in memory at once."""

    def __init__(self, size: int, seed: int = 7) -> None:
        self._left = size
        self._random = random.Random(seed)
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._random.randbytes(size)
        self._left -= size
        self.sha256.update(data)
        return data


# -- write / read ----------------------------------------------------------------


def test_write_then_read_round_trip_and_overwrite(storage: Storage) -> None:
    put(storage, "ada/data/a.txt", b"hello")
    assert content(storage, "ada/data/a.txt") == b"hello"
    put(storage, "ada/data/a.txt", b"bye")
    assert content(storage, "ada/data/a.txt") == b"bye"
    put(storage, "ada/data/empty", b"")
    assert content(storage, "ada/data/empty") == b""
    assert storage.stat("ada/data/empty") == Entry("ada/data/empty", False, 0)


def test_a_20_mb_file_is_read_back_in_chunks(storage: Storage) -> None:
    source = _GeneratedSource(20 * MB)
    assert storage.write("ada/data/big.bin", source) == 20 * MB  # type: ignore[arg-type]
    digest, chunks = hashlib.sha256(), 0
    for chunk in storage.read("ada/data/big.bin", chunk_size=MB):
        assert 0 < len(chunk) <= MB
        digest.update(chunk)
        chunks += 1
    assert digest.hexdigest() == source.sha256.hexdigest()
    assert chunks >= 20
    assert storage.stat("ada/data/big.bin") == Entry("ada/data/big.bin", False, 20 * MB)


def test_reading_a_missing_file_or_a_directory_fails(storage: Storage) -> None:
    storage.mkdir("ada/data")
    with pytest.raises(FileNotFoundError):
        content(storage, "ada/data/nope.txt")
    with pytest.raises(IsADirectoryError):
        content(storage, "ada/data")


def test_writing_onto_a_directory_fails(storage: Storage) -> None:
    storage.mkdir("ada/data")
    with pytest.raises(IsADirectoryError):
        put(storage, "ada/data", b"x")
    assert storage.stat("ada/data") == Entry("ada/data", True)


def test_a_writer_stores_its_pieces_only_on_commit(storage: Storage) -> None:
    put(storage, "ada/data/f.bin", b"old")
    writer = storage.writer("ada/data/f.bin")
    writer.write(b"ab", bytearray(b"cd"), memoryview(b"--ef")[2:])
    writer.write(os.urandom(9 * MB))  # S3: past one part, so a multipart upload
    assert content(storage, "ada/data/f.bin") == b"old"  # not visible yet
    assert writer.commit() == 6 + 9 * MB
    assert content(storage, "ada/data/f.bin")[:6] == b"abcdef"
    assert storage.stat("ada/data/f.bin") == Entry("ada/data/f.bin", False, 6 + 9 * MB)
    writer.abort()  # harmless after a commit
    assert storage.stat("ada/data/f.bin") is not None


def test_an_aborted_writer_leaves_nothing(storage: Storage) -> None:
    put(storage, "ada/data/kept.txt", b"previous")
    for key in ("ada/data/kept.txt", "ada/data/new.bin"):
        writer = storage.writer(key)
        writer.write(os.urandom(9 * MB))
        writer.abort()
        writer.abort()  # twice is fine
    assert content(storage, "ada/data/kept.txt") == b"previous"
    assert storage.stat("ada/data/new.bin") is None
    assert tree(storage, "ada") == {
        Entry("ada/data", True),
        Entry("ada/data/kept.txt", False, 8),
    }


def test_a_writer_refuses_a_directory(storage: Storage) -> None:
    storage.mkdir("ada/data")
    for key in ("ada/data", ""):
        with pytest.raises(IsADirectoryError):
            storage.writer(key)


# -- stat / list -------------------------------------------------------------------


def test_stat_of_a_file_a_directory_and_nothing(storage: Storage) -> None:
    put(storage, "ada/data/a.txt", b"12345")
    storage.mkdir("ada/empty")
    assert storage.stat("ada/data/a.txt") == Entry("ada/data/a.txt", False, 5)
    assert storage.stat("ada/empty") == Entry("ada/empty", True, 0)
    assert storage.stat("ada/data") == Entry("ada/data", True, 0)  # the parent of a write
    assert storage.stat("ada") == Entry("ada", True, 0)
    assert storage.stat("") == Entry("", True, 0)
    assert storage.stat("ada/data/a.tx") is None
    assert storage.stat("ada/dat") is None  # a prefix of a name is not a directory
    assert storage.stat("nobody") is None


@pytest.fixture
def sample(storage: Storage) -> Storage:
    put(storage, "ada/data/a.txt", b"aaa")
    put(storage, "ada/data/sub/b.bin", b"bbbbbb")
    put(storage, "ada/data/sub/deep/c", b"c")
    storage.mkdir("ada/data/empty")
    put(storage, "ada/data.txt", b"not inside data/")
    put(storage, "bob/data/x", b"someone else")
    return storage


def test_list_is_one_level_deep(sample: Storage) -> None:
    assert tree(sample, "ada/data", recursive=False) == {
        Entry("ada/data/a.txt", False, 3),
        Entry("ada/data/sub", True),
        Entry("ada/data/empty", True),
    }
    assert tree(sample, "ada", recursive=False) == {
        Entry("ada/data", True),
        Entry("ada/data.txt", False, 16),
    }
    assert tree(sample, "ada/data/empty", recursive=False) == set()


def test_list_recursive_gives_every_file_and_directory(sample: Storage) -> None:
    assert tree(sample, "ada/data") == {
        Entry("ada/data/a.txt", False, 3),
        Entry("ada/data/sub", True),
        Entry("ada/data/sub/b.bin", False, 6),
        Entry("ada/data/sub/deep", True),
        Entry("ada/data/sub/deep/c", False, 1),
        Entry("ada/data/empty", True),
    }


def test_list_of_the_root(sample: Storage) -> None:
    assert tree(sample, "", recursive=False) == {Entry("ada", True), Entry("bob", True)}
    everything = tree(sample, "")
    assert Entry("bob/data/x", False, 12) in everything
    assert Entry("ada", True) in everything and Entry("bob/data", True) in everything
    assert len(everything) == 12


def test_listing_a_file_or_nothing_fails(sample: Storage) -> None:
    with pytest.raises(NotADirectoryError):
        list(sample.list("ada/data/a.txt"))
    with pytest.raises(NotADirectoryError):
        list(sample.list("ada/nothing", recursive=True))


# -- mkdir -------------------------------------------------------------------------


def test_mkdir_makes_parents_and_may_be_repeated(storage: Storage) -> None:
    storage.mkdir("ada/a/b/c")
    storage.mkdir("ada/a/b/c")
    storage.mkdir("ada/a")
    for key in ("ada", "ada/a", "ada/a/b", "ada/a/b/c"):
        assert storage.stat(key) == Entry(key, True)
    assert tree(storage, "ada") == {
        Entry("ada/a", True),
        Entry("ada/a/b", True),
        Entry("ada/a/b/c", True),
    }
    storage.mkdir("")  # the root always exists


def test_mkdir_over_a_file_fails(storage: Storage) -> None:
    put(storage, "ada/f", b"x")
    with pytest.raises(FileExistsError):
        storage.mkdir("ada/f")
    with pytest.raises(NotADirectoryError):
        storage.mkdir("ada/f/sub")
    assert storage.stat("ada/f") == Entry("ada/f", False, 1)


# -- move --------------------------------------------------------------------------


def test_move_a_file(storage: Storage) -> None:
    put(storage, "ada/data/a.txt", b"hello")
    storage.move("ada/data/a.txt", "ada/output/run1/b.txt")
    assert storage.stat("ada/data/a.txt") is None
    assert content(storage, "ada/output/run1/b.txt") == b"hello"
    assert storage.stat("ada/data") == Entry("ada/data", True)  # the old folder stays


def test_move_a_directory_tree(storage: Storage) -> None:
    put(storage, "ada/data/run/a.txt", b"a")
    put(storage, "ada/data/run/sub/b.txt", b"bb")
    storage.mkdir("ada/data/run/empty")
    storage.move("ada/data/run", "ada/data/renamed")
    assert storage.stat("ada/data/run") is None
    assert tree(storage, "ada/data") == {
        Entry("ada/data/renamed", True),
        Entry("ada/data/renamed/a.txt", False, 1),
        Entry("ada/data/renamed/sub", True),
        Entry("ada/data/renamed/sub/b.txt", False, 2),
        Entry("ada/data/renamed/empty", True),
    }
    assert content(storage, "ada/data/renamed/sub/b.txt") == b"bb"


def test_move_refuses_a_missing_source_or_an_existing_target(storage: Storage) -> None:
    put(storage, "ada/a", b"a")
    put(storage, "ada/b", b"b")
    with pytest.raises(FileNotFoundError):
        storage.move("ada/missing", "ada/c")
    with pytest.raises(FileExistsError):
        storage.move("ada/a", "ada/b")
    assert content(storage, "ada/a") == b"a" and content(storage, "ada/b") == b"b"


# -- delete ------------------------------------------------------------------------


def test_delete_a_file(storage: Storage) -> None:
    put(storage, "ada/data/a.txt", b"a")
    put(storage, "ada/data/a.txt2", b"a")
    storage.delete("ada/data/a.txt")
    assert storage.stat("ada/data/a.txt") is None
    assert storage.stat("ada/data/a.txt2") is not None
    storage.delete("ada/data/a.txt2")
    assert storage.stat("ada/data") == Entry("ada/data", True)  # the folder stays
    storage.delete("ada/data/a.txt")  # absent: fine


def test_delete_a_directory_tree(storage: Storage) -> None:
    put(storage, "ada/data/run/a.txt", b"a")
    put(storage, "ada/data/run/sub/b.txt", b"b")
    storage.mkdir("ada/data/run/sub/empty")
    put(storage, "ada/data/run.txt", b"a sibling with the same start")
    storage.delete("ada/data/run")
    assert storage.stat("ada/data/run") is None
    assert tree(storage, "ada") == {
        Entry("ada/data", True),
        Entry("ada/data/run.txt", False, 29),
    }
    storage.delete("ada/data/run")  # absent: fine


def test_the_root_cannot_be_deleted(storage: Storage) -> None:
    put(storage, "ada/a", b"a")
    with pytest.raises(StorageError):
        storage.delete("")
    assert storage.stat("ada/a") is not None


# -- URIs and unsafe keys ------------------------------------------------------------


def test_uri_round_trip(storage: Storage) -> None:
    for key in ("ada/data/x y.tif", "ada/config/param.yaml", "a"):
        assert storage.key_for_uri(storage.uri(key)) == key


def test_foreign_uris_are_refused(storage: Storage, tmp_path: Path) -> None:
    others = [
        "local://ada/data/x" if isinstance(storage, S3Storage) else "s3://bucket/ada/data/x",
        "file:///etc/passwd",
        "ada/data/x",
        "",
    ]
    if isinstance(storage, S3Storage):
        others += [
            storage.uri("ada/x").replace(storage.bucket, "other-bucket"),
            f"s3://{storage.bucket}/other_prefix/ada/x",
            f"s3://{storage.bucket}/ada/x",  # missing the prefix
            f"s3://{storage.bucket}/{storage.prefix}x/ada",  # a prefix of the prefix
        ]
    for uri in others:
        with pytest.raises(ValueError):
            storage.key_for_uri(uri)
    with pytest.raises(UnsafePath):
        storage.key_for_uri(storage.uri("ada") + "/../../etc/passwd")


UNSAFE_KEYS = ["../x", "ada/../../x", "/ada/x", "ada//x", "ada/", "ada\\x", "%2e%2e/x", "a\x00b"]


@pytest.mark.parametrize(
    "call",
    [
        lambda s, k: s.stat(k),
        lambda s, k: list(s.list(k)),
        lambda s, k: list(s.read(k)),
        lambda s, k: s.write(k, io.BytesIO(b"x")),
        lambda s, k: s.mkdir(k),
        lambda s, k: s.move(k, "ada/ok"),
        lambda s, k: s.move("ada/ok", k),
        lambda s, k: s.delete(k),
        lambda s, k: s.uri(k),
    ],
    ids=["stat", "list", "read", "write", "mkdir", "move-from", "move-to", "delete", "uri"],
)
def test_unsafe_keys_are_refused(storage: Storage, call: Callable[[Storage, str], object]) -> None:
    put(storage, "ada/ok", b"ok")
    for key in UNSAFE_KEYS:
        with pytest.raises(UnsafePath):
            call(storage, key)
    assert tree(storage, "ada") == {Entry("ada/ok", False, 2)}


# -- scoped views --------------------------------------------------------------------

OUTSIDE_ADA = ["bob/data/x", "ad", "ada2/x", "", "adafruit"]


@pytest.mark.parametrize(
    "call",
    [
        lambda s, k: s.stat(k),
        lambda s, k: list(s.list(k)),
        lambda s, k: list(s.read(k)),
        lambda s, k: s.write(k, io.BytesIO(b"x")),
        lambda s, k: s.writer(k),
        lambda s, k: s.mkdir(k),
        lambda s, k: s.move(k, "ada/moved"),
        lambda s, k: s.move("ada/ok", k),
        lambda s, k: s.delete(k),
        lambda s, k: s.uri(k),
        lambda s, k: s.scoped(k),
    ],
    ids=[
        "stat", "list", "read", "write", "writer", "mkdir", "move-from", "move-to",
        "delete", "uri", "scoped",
    ],
)  # fmt: skip
def test_a_scoped_view_refuses_every_key_outside_its_folder(
    storage: Storage, call: Callable[[Storage, str], object]
) -> None:
    put(storage, "ada/ok", b"ok")
    put(storage, "bob/data/x", b"bob's")
    ada = storage.scoped("ada")
    assert ada.scope == "ada" and storage.scope == ""
    for key in OUTSIDE_ADA:
        with pytest.raises(OutsideScope):
            call(ada, key)
    assert content(storage, "bob/data/x") == b"bob's"
    assert tree(storage, "ada") == {Entry("ada/ok", False, 2)}


def test_a_scoped_view_works_within_its_folder(storage: Storage) -> None:
    ada = storage.scoped("ada")
    put(ada, "ada/data/a.txt", b"a")
    ada.mkdir("ada/data/sub")
    ada.move("ada/data/a.txt", "ada/data/sub/a.txt")
    assert tree(ada, "ada") == {
        Entry("ada/data", True),
        Entry("ada/data/sub", True),
        Entry("ada/data/sub/a.txt", False, 1),
    }
    assert ada.stat("ada") == Entry("ada", True)
    assert ada.key_for_uri(ada.uri("ada/data/sub/a.txt")) == "ada/data/sub/a.txt"
    assert ada.uri("ada/data") == storage.uri("ada/data")  # the same names on the wire
    assert file_in_the_way(ada, "ada/data/sub/a.txt/deeper") == "ada/data/sub/a.txt"
    ada.delete("ada/data/sub")
    assert tree(storage, "") == {Entry("ada", True), Entry("ada/data", True)}


def test_a_view_of_a_missing_folder_stops_at_its_scope(storage: Storage) -> None:
    job = storage.scoped("ada/output/job1")
    assert job.stat("ada/output/job1") is None
    assert file_in_the_way(job, "ada/output/job1/sub") is None  # never looks above
    put(job, "ada/output/job1/sub/r.txt", b"r")
    assert content(storage, "ada/output/job1/sub/r.txt") == b"r"
    with pytest.raises(OutsideScope):
        job.stat("ada/output")


def test_a_view_narrows_and_never_widens(storage: Storage) -> None:
    put(storage, "ada/data/a", b"a")
    data = storage.scoped("ada").scoped("ada/data")
    assert data.scope == "ada/data" and content(data, "ada/data/a") == b"a"
    with pytest.raises(OutsideScope):
        data.scoped("ada")
    with pytest.raises(OutsideScope):
        data.stat("ada/config")


def test_a_view_refuses_uris_of_another_folder(storage: Storage) -> None:
    ada = storage.scoped("ada")
    for key in ("bob/data/x", "adam/x"):
        with pytest.raises(OutsideScope):
            ada.key_for_uri(storage.uri(key))
    with pytest.raises(UnsafePath):
        ada.key_for_uri(storage.uri("ada") + "/../bob/x")


def test_a_view_may_delete_its_own_folder(storage: Storage) -> None:
    put(storage, "ada/output/job1/r.txt", b"r")
    put(storage, "ada/output/job10/r.txt", b"r")
    job = storage.scoped("ada/output/job1")
    job.delete("ada/output/job1")
    assert storage.stat("ada/output/job1") is None
    assert storage.stat("ada/output/job10/r.txt") is not None
