import io
import logging
import os
import threading
from pathlib import Path

import pytest

from shared.storage.base import file_in_the_way, write_all
from shared.storage.local import LocalStorage
from shared.storage.paths import UnsafePath


def test_write_read_list_move_delete(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    assert storage.write("u/data/a.txt", io.BytesIO(b"hello")) == 5
    storage.mkdir("u/data/sub")
    assert b"".join(storage.read("u/data/a.txt")) == b"hello"
    assert {(e.key, e.is_dir, e.size) for e in storage.list("u/data")} == {
        ("u/data/a.txt", False, 5),
        ("u/data/sub", True, 0),
    }
    storage.move("u/data/a.txt", "u/data/sub/b.txt")
    assert storage.stat("u/data/a.txt") is None
    assert [e.key for e in storage.list("u", recursive=True) if not e.is_dir] == [
        "u/data/sub/b.txt"
    ]
    storage.delete("u/data")
    assert storage.stat("u/data") is None


def test_uri_round_trip(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    assert storage.key_for_uri(storage.uri("u/data/x y.tif")) == "u/data/x y.tif"
    with pytest.raises(ValueError):
        storage.key_for_uri("s3://bucket/u/data/x")
    with pytest.raises(UnsafePath):
        storage.key_for_uri("local://u/../../etc/passwd")


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s")
    storage = LocalStorage(root)
    storage.mkdir("u")
    os.symlink(outside, root / "u" / "link")
    with pytest.raises(UnsafePath):
        list(storage.read("u/link/secret"))
    with pytest.raises(UnsafePath):
        storage.write("u/link/new", io.BytesIO(b"x"))
    assert not (outside / "new").exists()


def test_keys_must_be_clean(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    with pytest.raises(UnsafePath):
        storage.stat("u/../x")


class _SlowSource(io.RawIOBase):
    """Gives a few bytes, then blocks until released: an upload in flight."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.sent = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if self.sent == 0:
            buffer[:4] = b"part"
            self.sent = 4
            return 4
        self.release.wait(5)
        return 0


def test_a_file_appears_only_once_completely_written(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    release = threading.Event()
    writer = threading.Thread(target=storage.write, args=("u/big.bin", _SlowSource(release)))
    writer.start()
    try:
        threading.Event().wait(0.2)
        assert storage.stat("u/big.bin") is None  # partial upload never visible
    finally:
        release.set()
        writer.join()
    assert b"".join(storage.read("u/big.bin")) == b"part"
    assert list((tmp_path / ".labcloud-tmp").iterdir()) == []


def test_a_writer_leaves_no_temp_file_after_commit_or_abort(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    done = storage.writer("u/done.bin")
    done.write(b"x" * 3000, memoryview(b"yz"))
    dropped = storage.writer("u/dropped.bin")
    dropped.write(b"half")
    assert len(list((tmp_path / ".labcloud-tmp").iterdir())) == 2  # in flight, hidden
    assert [e.key for e in storage.list("", recursive=True)] == []
    assert done.commit() == 3002
    dropped.abort()
    assert (tmp_path / "u/done.bin").read_bytes() == b"x" * 3000 + b"yz"
    assert not (tmp_path / "u/dropped.bin").exists()
    assert list((tmp_path / ".labcloud-tmp").iterdir()) == []


def test_a_failed_commit_raises_its_error_not_the_cleanups(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = LocalStorage(tmp_path)
    storage.write("u/d", io.BytesIO(b"a file where the folder goes"))
    writer = storage.writer("u/d/a.bin")
    writer.write(b"data")

    class StuckPath(type(writer._tmp)):  # type: ignore[misc]
        def unlink(self, missing_ok: bool = False) -> None:
            raise PermissionError(13, "Permission denied", str(self))

    writer._tmp = StuckPath(writer._tmp)
    with caplog.at_level(logging.WARNING), pytest.raises(NotADirectoryError):
        writer.commit()
    assert "could not abort LocalWriter('u/d/a.bin')" in caplog.text
    assert "PermissionError: Permission denied" in caplog.text


def test_write_all_raises_the_sources_error_not_the_aborts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Source:
        def read(self, _size: int) -> bytes:
            raise ConnectionResetError("the client went away")

    class StuckWriter:
        def write(self, *pieces: bytes) -> None: ...

        def commit(self) -> int:
            return 0

        def abort(self) -> None:
            raise RuntimeError("abort failed")

    with caplog.at_level(logging.WARNING), pytest.raises(ConnectionResetError):
        write_all(StuckWriter(), Source())  # type: ignore[arg-type]
    assert "could not abort" in caplog.text and "RuntimeError" in caplog.text


def test_file_in_the_way_finds_a_file_at_any_level(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.write("u/data/f.txt", io.BytesIO(b"x"))
    storage.mkdir("u/data/sub")
    assert file_in_the_way(storage, "u/data/f.txt/a/b") == "u/data/f.txt"
    assert file_in_the_way(storage, "u/data/f.txt") == "u/data/f.txt"
    assert file_in_the_way(storage, "u/data/sub/new/deeper") is None
    assert file_in_the_way(storage, "nobody/yet") is None
    assert file_in_the_way(storage, "") is None
