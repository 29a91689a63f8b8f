"""Storage on the local file system below one root directory."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from io import FileIO
from pathlib import Path
from typing import BinaryIO

from shared.storage.base import Buffer, Entry, StorageError, abort_quietly, write_all
from shared.storage.paths import UnsafePath, clean_relpath

_TMP = ".labcloud-tmp"  # in-flight uploads; never a user id (ids cannot start with a dot)
URI_SCHEME = "local://"
_IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024) if hasattr(os, "sysconf") else 16


class LocalStorage:
    """Files under `root`. Symlinks that lead out of `root` are refused."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        """The real path of `key`, checked to stay below the root."""
        if clean_relpath(key) != key:
            raise UnsafePath(f"not a clean key: {key!r}")
        path = self.root / key if key else self.root
        real = path.resolve()
        if real != self.root and self.root not in real.parents:
            raise UnsafePath(f"'{key}' leads outside the storage root")
        return path

    def stat(self, key: str) -> Entry | None:
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        is_dir = path.is_dir()
        return Entry(key, is_dir, 0 if is_dir else st.st_size)

    def list(self, key: str, recursive: bool = False) -> Iterator[Entry]:
        base = self._path(key)
        if not base.is_dir():
            raise NotADirectoryError(key)
        if recursive:
            for dirpath, dirnames, filenames in os.walk(base):
                rel = Path(dirpath).relative_to(self.root).as_posix()
                rel = "" if rel == "." else rel
                if rel == "" and _TMP in dirnames:
                    dirnames.remove(_TMP)  # in-flight uploads are nobody's files
                for name in dirnames:
                    yield Entry(_join(rel, name), True)
                for name in filenames:
                    yield self._file_entry(_join(rel, name))
        else:
            for child in base.iterdir():
                if key == "" and child.name == _TMP:
                    continue
                child_key = _join(key, child.name)
                if child.is_dir():
                    yield Entry(child_key, True)
                else:
                    yield self._file_entry(child_key)

    def _file_entry(self, key: str) -> Entry:
        try:
            size = (self.root / key).stat().st_size
        except OSError:
            size = 0
        return Entry(key, False, size)

    def read(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        path = self._path(key)
        with path.open("rb") as fh:
            while chunk := fh.read(chunk_size):
                yield chunk

    def write(self, key: str, source: BinaryIO) -> int:
        return write_all(self.writer(key), source)

    def writer(self, key: str) -> LocalWriter:
        return LocalWriter(self, key)

    def mkdir(self, key: str) -> None:
        path = self._path(key)
        if path.exists() and not path.is_dir():
            raise FileExistsError(key)
        path.mkdir(parents=True, exist_ok=True)

    def move(self, src: str, dst: str) -> None:
        source, target = self._path(src), self._path(dst)
        if not source.exists():
            raise FileNotFoundError(src)
        if target.exists():
            raise FileExistsError(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(source, target)

    def delete(self, key: str) -> None:
        path = self._path(key)
        if path == self.root:
            raise StorageError("refusing to delete the storage root")
        if path.is_symlink() or path.is_file():
            path.unlink(missing_ok=True)
        elif path.is_dir():
            shutil.rmtree(path)

    def uri(self, key: str) -> str:
        self._path(key)  # refuses an unclean key
        return URI_SCHEME + key

    def key_for_uri(self, uri: str) -> str:
        if not uri.startswith(URI_SCHEME):
            raise ValueError(f"not a local storage URI: {uri!r}")
        return clean_relpath(uri[len(URI_SCHEME) :])


class LocalWriter:
    """An upload into a hidden temp file below the root, renamed onto its key on commit.

    The temp file lives in `<root>/.labcloud-tmp` (same file system, so the final
    `os.replace` is atomic; never listed, so a half-written file is never seen).
    """

    def __init__(self, storage: LocalStorage, key: str) -> None:
        path = storage._path(key)
        if path.is_dir():
            raise IsADirectoryError(key or "the storage root")
        self._storage, self._key, self._path = storage, key, path
        tmp_dir = storage.root / _TMP
        tmp_dir.mkdir(exist_ok=True)
        self._tmp = tmp_dir / uuid.uuid4().hex
        # unbuffered: callers hand over big pieces, a buffer would only copy them
        self._out: FileIO | None = self._tmp.open("xb", buffering=0)
        self._size = 0

    def write(self, *pieces: Buffer) -> None:
        if self._out is None:
            raise ValueError("the write is over")
        fd = self._out.fileno()
        views = [v for v in (memoryview(p).cast("B") for p in pieces) if v.nbytes]
        while views:  # one system call for many pieces (the GIL is let go once)
            done = os.writev(fd, views[:_IOV_MAX])
            self._size += done
            while views and done >= views[0].nbytes:  # a write may stop short
                done -= views.pop(0).nbytes
            if done:
                views[0] = views[0][done:]

    def commit(self) -> int:
        """Rename the temp file onto the key. FileExistsError or NotADirectoryError if
        a file is in the way of its folder, IsADirectoryError if a folder is at the key."""
        try:
            self._close()
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._storage._path(self._key)  # re-check: a parent may have become a symlink
            os.replace(self._tmp, self._path)
            return self._size
        except BaseException:
            abort_quietly(self)  # drops the temp file
            raise

    def abort(self) -> None:
        try:
            self._close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"LocalWriter({self._key!r})"

    def _close(self) -> None:
        out, self._out = self._out, None
        if out is not None:
            out.close()


def _join(a: str, b: str) -> str:
    return f"{a}/{b}" if a else b
