"""The local side of transfers: what an upload covers, when a file counts as already
there, progress of a read, and unpacking a folder safely."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from labcloud.client.transfer import (
    LocalFile,
    ProgressReader,
    already_there,
    extract_zip,
    safe_member_path,
    scan,
)


def tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def test_scan_is_like_cp_r(tmp_path: Path) -> None:
    tree(tmp_path / "exp1", {"a.csv": b"1", "sub/b.csv": b"22"})
    (tmp_path / "exp1" / "empty").mkdir()
    tree(tmp_path, {"notes.txt": b"333"})
    plan = scan([tmp_path / "exp1", tmp_path / "notes.txt"], "data/runs")
    assert [(f.remote_path, f.size) for f in plan.files] == [
        ("data/runs/exp1/a.csv", 1),
        ("data/runs/exp1/sub/b.csv", 2),
        ("data/runs/notes.txt", 3),
    ]
    assert plan.empty_dirs == ["data/runs/exp1/empty"]
    assert plan.roots == ["data/runs/exp1"]


def test_scan_refuses_a_missing_source(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        scan([tmp_path / "nope"], "data")


def test_same_size_then_same_checksum(tmp_path: Path) -> None:
    tree(tmp_path, {"f.bin": b"abc"})
    local = LocalFile(tmp_path / "f.bin", "data", 3)
    asked: list[str] = []

    def remote_sum(content: bytes):  # type: ignore[no-untyped-def]
        def checksum(path: str) -> str:
            asked.append(path)
            return hashlib.sha256(content).hexdigest()

        return checksum

    assert not already_there(local, {}, remote_sum(b"abc"))
    assert not already_there(local, {"data/f.bin": 4}, remote_sum(b"abcd"))
    assert asked == []  # sizes differ: no checksum asked of the server
    assert not already_there(local, {"data/f.bin": 3}, remote_sum(b"xyz"))
    assert already_there(local, {"data/f.bin": 3}, remote_sum(b"abc"))
    assert not already_there(local, {"data/f.bin": 3}, lambda _path: None)


def test_progress_reader_counts_and_rewinds(tmp_path: Path) -> None:
    tree(tmp_path, {"f.bin": b"x" * 10})
    seen: list[int] = []
    with (tmp_path / "f.bin").open("rb") as source:
        reader = ProgressReader(source, seen.append)
        assert reader.read(4) == b"xxxx" and reader.read() == b"x" * 6
        reader.seek(0)
        assert reader.read(3) == b"xxx"
        assert reader.fileno() == source.fileno()
    assert seen == [4, 6, -10, 3]


def test_zip_members_cannot_leave_the_folder(tmp_path: Path) -> None:
    assert safe_member_path(tmp_path, "a/b.txt") == tmp_path / "a" / "b.txt"
    assert safe_member_path(tmp_path, "a/") is None
    for bad in ("../evil", "/etc/passwd", "a/../../evil", "C:/x", "..\\evil"):
        with pytest.raises(ValueError, match="outside"):
            safe_member_path(tmp_path, bad)


def test_extract_zip_keeps_the_folders(tmp_path: Path) -> None:
    archive = tmp_path / "f.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("output/summary.json", "{}")
        zf.writestr("output/deep/er.txt", "deep")
        zf.writestr("empty/", "")
    archive.write_bytes(buffer.getvalue())
    target = tmp_path / "job"
    (target / "output").mkdir(parents=True)
    (target / "output" / "summary.json").write_text("old")
    written = extract_zip(archive, target)
    assert sorted(p.relative_to(target).as_posix() for p in written) == [
        "output/deep/er.txt",
        "output/summary.json",
    ]
    assert (target / "output" / "summary.json").read_text() == "{}"
    assert (target / "empty").is_dir()
    assert not [p for p in target.rglob("*.part")]
