"""LocalStorage and links placed by hand: a scoped view reaches nothing outside its
folder through them, lists nothing behind them, and deleting one removes the link."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.storage.base import Entry, OutsideScope, file_in_the_way
from shared.storage.local import LocalStorage

BOB_SECRET = b"bob's secret"
OUTSIDE_SECRET = b"outside the root"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """alice's and bob's folders, a folder outside the root, and links in alice's data/."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "alice/data/dir").mkdir(parents=True)
    (root / "alice/data/own.txt").write_bytes(b"mine")
    (root / "alice/data/dir/inner.txt").write_bytes(b"inner")
    (root / "bob/data/sub").mkdir(parents=True)
    (root / "bob/data/secret.txt").write_bytes(BOB_SECRET)
    (root / "bob/data/sub/deep.txt").write_bytes(BOB_SECRET)
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(OUTSIDE_SECRET)
    (outside / "dir/x").write_bytes(OUTSIDE_SECRET)
    data = root / "alice/data"
    for name, target in {
        "to_bob_file": root / "bob/data/secret.txt",
        "to_bob_dir": "../../bob/data",  # relative links too
        "to_outside_file": outside / "secret.txt",
        "to_outside_dir": outside / "dir",
        "dangling_out": tmp_path / "nothing-here",
        "dangling_in": "nothing-yet",
        "loop_a": "loop_b",
        "loop_b": "loop_a",
        "self_loop": "self_loop",
        "own_link": "own.txt",
        "own_dir_link": "dir",
    }.items():
        os.symlink(target, data / name)
    return root


@pytest.fixture
def alice(root: Path) -> LocalStorage:
    return LocalStorage(root).scoped("alice")


ESCAPING = ["to_bob_file", "to_bob_dir", "to_outside_file", "to_outside_dir", "dangling_out"]
LOOPS = ["loop_a", "loop_b", "self_loop"]
REFUSED = ESCAPING + LOOPS
DIR_LINKS = ["to_bob_dir", "to_outside_dir"]


def untouched(root: Path) -> None:
    """bob's folder and the folder outside the root are as the fixture left them."""
    assert sorted(p.relative_to(root).as_posix() for p in (root / "bob").rglob("*")) == [
        "bob/data",
        "bob/data/secret.txt",
        "bob/data/sub",
        "bob/data/sub/deep.txt",
    ]
    assert (root / "bob/data/secret.txt").read_bytes() == BOB_SECRET
    outside = root.parent / "outside"
    assert sorted(p.name for p in outside.rglob("*")) == ["dir", "secret.txt", "x"]
    assert (outside / "secret.txt").read_bytes() == OUTSIDE_SECRET


def test_a_listing_shows_nothing_behind_a_link_that_leads_out(alice: LocalStorage) -> None:
    assert set(alice.list("alice/data")) == {
        Entry("alice/data/own.txt", False, 4),
        Entry("alice/data/dir", True),
        Entry("alice/data/own_link", False, 4),  # stays in alice's folder: followed
        Entry("alice/data/own_dir_link", True),
    }


def test_a_recursive_listing_never_descends_into_a_link(alice: LocalStorage) -> None:
    assert set(alice.list("alice", recursive=True)) == {
        Entry("alice/data", True),
        Entry("alice/data/own.txt", False, 4),
        Entry("alice/data/dir", True),
        Entry("alice/data/dir/inner.txt", False, 5),
        Entry("alice/data/own_link", False, 4),
        Entry("alice/data/own_dir_link", True),  # listed, not entered
    }


OPERATIONS: dict[str, Callable[[LocalStorage, str], object]] = {
    "stat": lambda s, k: s.stat(k),
    "list": lambda s, k: list(s.list(k)),
    "read": lambda s, k: s.read(k),
    "write": lambda s, k: s.write(k, io.BytesIO(b"overwritten")),
    "writer": lambda s, k: s.writer(k),
    "mkdir": lambda s, k: s.mkdir(k + "/new"),
    "move-from": lambda s, k: s.move(k, "alice/data/moved"),
    "move-to": lambda s, k: s.move("alice/data/own.txt", k + "/own.txt"),
    "uri-then-read": lambda s, k: s.read(s.key_for_uri(s.uri(k))),
}


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("link", REFUSED)
def test_every_operation_on_a_link_that_leads_out_is_refused(
    alice: LocalStorage, root: Path, link: str, operation: str
) -> None:
    with pytest.raises(OutsideScope):
        OPERATIONS[operation](alice, f"alice/data/{link}")
    assert (root / "alice/data/own.txt").read_bytes() == b"mine"
    untouched(root)


THROUGH: dict[str, Callable[[LocalStorage, str], object]] = {
    "stat": lambda s, k: s.stat(k),
    "list": lambda s, k: list(s.list(k.rpartition("/")[0])),
    "read": lambda s, k: s.read(k),
    "write": lambda s, k: s.write(k, io.BytesIO(b"overwritten")),
    "write-new": lambda s, k: s.write(k + ".new", io.BytesIO(b"planted")),
    "mkdir": lambda s, k: s.mkdir(k + ".d"),
    "move-from": lambda s, k: s.move(k, "alice/data/stolen"),
    "move-to": lambda s, k: s.move("alice/data/own.txt", k + ".planted"),
    "delete": lambda s, k: s.delete(k),
    "in-the-way": lambda s, k: file_in_the_way(s, k + "/x"),
}


@pytest.mark.parametrize("operation", THROUGH)
@pytest.mark.parametrize(
    "path",
    [
        "alice/data/to_bob_dir/secret.txt",
        "alice/data/to_bob_dir/sub/deep.txt",
        "alice/data/to_outside_dir/x",
        "alice/data/loop_a/x",
    ],
)
def test_a_link_in_an_intermediate_component_is_refused(
    alice: LocalStorage, root: Path, path: str, operation: str
) -> None:
    with pytest.raises(OutsideScope):
        THROUGH[operation](alice, path)
    untouched(root)


@pytest.mark.parametrize("link", REFUSED + ["dangling_in", "own_link", "own_dir_link"])
def test_deleting_a_link_removes_the_link_never_its_target(
    alice: LocalStorage, root: Path, link: str
) -> None:
    alice.delete(f"alice/data/{link}")
    assert not os.path.lexists(root / "alice/data" / link)
    assert (root / "alice/data/own.txt").read_bytes() == b"mine"
    assert (root / "alice/data/dir/inner.txt").read_bytes() == b"inner"
    untouched(root)


def test_deleting_a_folder_with_links_in_it_leaves_their_targets(
    alice: LocalStorage, root: Path
) -> None:
    alice.delete("alice/data")
    assert not (root / "alice/data").exists()
    untouched(root)


def test_links_that_stay_in_the_folder_are_followed(alice: LocalStorage, root: Path) -> None:
    assert b"".join(alice.read("alice/data/own_link")) == b"mine"
    assert {e.key for e in alice.list("alice/data/own_dir_link")} == {
        "alice/data/own_dir_link/inner.txt"
    }
    alice.write("alice/data/own_dir_link/new.txt", io.BytesIO(b"n"))
    assert (root / "alice/data/dir/new.txt").read_bytes() == b"n"
    # a write at a link replaces the link, not the file it points to
    alice.write("alice/data/own_link", io.BytesIO(b"replaced"))
    assert not (root / "alice/data/own_link").is_symlink()
    assert (root / "alice/data/own.txt").read_bytes() == b"mine"


def test_a_dangling_link_inside_the_folder_is_nothing(alice: LocalStorage, root: Path) -> None:
    assert alice.stat("alice/data/dangling_in") is None
    with pytest.raises(FileNotFoundError):
        alice.read("alice/data/dangling_in")
    with pytest.raises(FileExistsError):  # something is at the name: a move may not replace it
        alice.move("alice/data/own.txt", "alice/data/dangling_in")
    alice.write("alice/data/dangling_in", io.BytesIO(b"now a file"))
    assert not (root / "alice/data/dangling_in").is_symlink()
    assert not (root / "alice/data/nothing-yet").exists()


def test_the_unscoped_storage_still_refuses_links_out_of_the_root(root: Path) -> None:
    storage = LocalStorage(root)
    assert b"".join(storage.read("alice/data/to_bob_file")) == BOB_SECRET  # within the root
    for key in ("alice/data/to_outside_file", "alice/data/to_outside_dir/x", "alice/data/loop_a"):
        with pytest.raises(OutsideScope):
            storage.read(key)
    assert "alice/data/to_outside_dir" not in {e.key for e in storage.list("alice/data")}


def test_a_scope_folder_that_is_a_link_is_refused(root: Path) -> None:
    os.symlink(root / "bob", root / "carol")
    carol = LocalStorage(root).scoped("carol")
    for call in (
        lambda: carol.stat("carol/data/secret.txt"),
        lambda: list(carol.list("carol")),
        lambda: carol.write("carol/data/x", io.BytesIO(b"x")),
    ):
        with pytest.raises(OutsideScope):
            call()
    untouched(root)


def test_a_folder_swapped_for_a_link_during_an_upload_is_refused(
    alice: LocalStorage, root: Path
) -> None:
    writer = alice.writer("alice/data/dir/upload.bin")
    writer.write(b"uploaded bytes")
    (root / "alice/data/dir/inner.txt").unlink()
    (root / "alice/data/dir").rmdir()
    os.symlink(root / "bob/data", root / "alice/data/dir")
    with pytest.raises(OutsideScope):
        writer.commit()
    untouched(root)


def test_a_fifo_is_neither_listed_nor_read(alice: LocalStorage, root: Path) -> None:
    os.mkfifo(root / "alice/data/pipe")
    assert "alice/data/pipe" not in {e.key for e in alice.list("alice/data")}
    assert alice.stat("alice/data/pipe") is None
    with pytest.raises(FileNotFoundError):  # at once: opening it never waits for a writer
        alice.read("alice/data/pipe")


def test_storage_creates_folders_0700_and_files_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the common default: storage must not depend on it
    try:
        storage = LocalStorage(tmp_path / "root").scoped("u")
        storage.write("u/data/deep/a.txt", io.BytesIO(b"a"))
        storage.mkdir("u/config/x/y")
        writer = storage.writer("u/data/streamed.bin")
        writer.write(b"piece")
        writer.commit()
        storage.move("u/data/deep", "u/artifact/moved/deep")
    finally:
        os.umask(old)
    modes = {
        p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in [tmp_path / "root", *(tmp_path / "root").rglob("*")]
    }
    assert modes == {
        "root": 0o700,
        "root/.labcloud-tmp": 0o700,
        "root/u": 0o700,
        "root/u/data": 0o700,
        "root/u/data/streamed.bin": 0o600,
        "root/u/config": 0o700,
        "root/u/config/x": 0o700,
        "root/u/config/x/y": 0o700,
        "root/u/artifact": 0o700,
        "root/u/artifact/moved": 0o700,
        "root/u/artifact/moved/deep": 0o700,
        "root/u/artifact/moved/deep/a.txt": 0o600,
    }


def swap_on_open(monkeypatch: pytest.MonkeyPatch, path: Path, target: Path) -> None:
    """Replace `path` by a link to `target` just before it is opened: the race a check
    by path alone loses."""
    real_open = os.open

    def racing_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if Path(os.fsdecode(file)) == path and not path.is_symlink():
            if path.is_dir():
                for child in path.iterdir():
                    child.unlink()
                path.rmdir()
            else:
                path.unlink()
            os.symlink(target, path)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", racing_open)


def test_a_folder_swapped_for_a_link_right_before_it_is_opened_is_refused(
    alice: LocalStorage, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = alice.writer("alice/data/dir/upload.bin")
    writer.write(b"uploaded bytes")
    swap_on_open(monkeypatch, root / "alice/data/dir", root / "bob/data")
    with pytest.raises(OutsideScope):
        writer.commit()
    untouched(root)


def test_a_file_swapped_for_a_link_right_before_it_is_opened_is_refused(
    alice: LocalStorage, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    swap_on_open(monkeypatch, root / "alice/data/own.txt", root / "bob/data/secret.txt")
    with pytest.raises(OutsideScope):
        alice.read("alice/data/own.txt")
