"""Storage on the local file system below one root directory.

Links are followed only while they stay within the caller's scope (`scoped`):
each key is resolved (links followed) and checked before use, and what is then
touched is checked again where it is opened, so a link swapped in between cannot
lead anyone out. Writes, renames and deletes act on the last name of a key
inside an open, checked folder (`*at` system calls), and never through a link at
that name: deleting a link removes the link, never its target. Listings leave out
links that lead out of the scope, dangle or loop, and never descend into links.

Everything is created private to the service: folders 0700, files 0600.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from io import FileIO
from pathlib import Path
from typing import BinaryIO

from shared.storage.base import (
    Buffer,
    Entry,
    OutsideScope,
    StorageError,
    abort_quietly,
    write_all,
)
from shared.storage.paths import UnsafePath, clean_relpath, is_within, join

_TMP = ".labcloud-tmp"  # in-flight uploads; never a user id (ids cannot start with a dot)
URI_SCHEME = "local://"
_IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024) if hasattr(os, "sysconf") else 16
DIR_MODE = 0o700
FILE_MODE = 0o600
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_FD_PATHS = Path("/proc/self/fd")  # where Linux tells what an open descriptor is


class LocalStorage:
    """Files under `root`, seen from `scope` (see the module's docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        self._scope = ""
        self._scope_path = self.root

    # -- scope and resolution ------------------------------------------------------

    @property
    def scope(self) -> str:
        return self._scope

    def scoped(self, folder: str) -> LocalStorage:
        self._check(folder)
        view = copy.copy(self)
        view._scope, view._scope_path = folder, self.root / folder if folder else self.root
        return view

    def _check(self, key: str) -> str:
        """`key` itself: clean, and within the scope by name."""
        if clean_relpath(key) != key:
            raise UnsafePath(f"not a clean key: {key!r}")
        if not is_within(key, self._scope):
            raise OutsideScope(f"'{key}' lies outside '{self._scope}'")
        return key

    def _inside(self, real: Path) -> bool:
        return real == self._scope_path or self._scope_path in real.parents

    def _resolve(self, key: str) -> Path:
        """The real path of `key` (links followed as far as they exist), within the
        scope: OutsideScope if a link leads out of it or round a loop."""
        self._check(key)
        path = self.root / key if key else self.root
        try:
            real = Path(os.path.realpath(path, strict=True))
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OutsideScope(f"'{key}' leads round a loop of links") from None
            real = Path(os.path.realpath(path))  # the rest does not exist (yet)
        if not self._inside(real):
            where = f"'{self._scope}'" if self._scope else "the storage root"
            raise OutsideScope(f"'{key}' leads outside {where} through a link")
        return real

    def _check_open(self, fd: int, expected: Path, key: str) -> None:
        """Check that `fd` is the checked path it was opened by: a link swapped in
        between the check and the opening would show here."""
        try:
            opened = Path(os.readlink(_FD_PATHS / str(fd)))
        except OSError:  # no /proc: the check by path has to do
            return
        if opened != expected:
            raise OutsideScope(f"'{key}' changed (into a link?) while it was being opened")

    @contextlib.contextmanager
    def _folder(self, key: str, create: bool = False) -> Iterator[int]:
        """An open descriptor of the folder `key`, checked within the scope; `create`
        makes its missing levels (mode 0700), each opened without following a link.
        FileNotFoundError if it is missing (and not `create`d), NotADirectoryError if a
        file is in the way."""
        real = self._resolve(key)
        missing: list[str] = []
        existing = real
        while not os.path.lexists(existing):
            missing.append(existing.name)
            existing = existing.parent
        if missing and not create:
            raise FileNotFoundError(key)
        fd = os.open(existing, _DIR_FLAGS)
        try:
            self._check_open(fd, existing, key)
            for name in reversed(missing):
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, DIR_MODE, dir_fd=fd)
                try:
                    child = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        raise OutsideScope(f"'{key}' changed into a link") from None
                    raise
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def _split(self, key: str) -> tuple[str, str]:
        """(parent key, last name) of a key within the scope."""
        self._check(key)
        if not key:
            raise StorageError("the storage root has no parent")
        parent, _, name = key.rpartition("/")
        return parent, name

    # -- Storage -------------------------------------------------------------------

    def stat(self, key: str) -> Entry | None:
        try:
            st = os.stat(self._resolve(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return _entry(key, st)

    def list(self, key: str, recursive: bool = False) -> Iterator[Entry]:
        base = self._resolve(key)
        if not base.is_dir():
            raise NotADirectoryError(key)
        return self._walk(key, base) if recursive else self._children(key, base)

    def _children(self, key: str, base: Path) -> Iterator[Entry]:
        with os.scandir(base) as children:
            for child in children:
                if key == "" and child.name == _TMP:
                    continue  # in-flight uploads are nobody's files
                if (entry := self._listed(Path(child.path), join(key, child.name))) is not None:
                    yield entry

    def _walk(self, key: str, base: Path) -> Iterator[Entry]:
        # followlinks=False: a linked folder is listed (if it stays in scope), not entered
        for dirpath, dirnames, filenames in os.walk(base):
            rel = os.path.relpath(dirpath, base)
            prefix = join(key, "" if rel == "." else Path(rel).as_posix())
            if prefix == "" and _TMP in dirnames:
                dirnames.remove(_TMP)
            for name in dirnames + filenames:
                if (entry := self._listed(Path(dirpath, name), join(prefix, name))) is not None:
                    yield entry

    def _listed(self, path: Path, key: str) -> Entry | None:
        """What a listing shows at `path`: nothing for a link that leads out of the
        scope, dangles or loops (what lies behind it is not the caller's to see), nor
        for what is neither a file nor a folder."""
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                real = Path(os.path.realpath(path, strict=True))
                if not self._inside(real):
                    return None
                st = os.stat(real)
        except OSError:
            return None
        return _entry(key, st)

    def read(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Opens the file at once (so a refusal comes before the first byte), then
        yields its chunks."""
        real = self._resolve(key)
        # O_NONBLOCK: a fifo planted in storage must not hang the reader
        fd = os.open(real, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            self._check_open(fd, real, key)
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(key)
            if not stat.S_ISREG(mode):
                raise FileNotFoundError(key)
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return _chunks(open(fd, "rb", buffering=0), chunk_size)

    def write(self, key: str, source: BinaryIO) -> int:
        return write_all(self.writer(key), source)

    def writer(self, key: str) -> LocalWriter:
        return LocalWriter(self, key)

    def mkdir(self, key: str) -> None:
        entry = self.stat(key)
        if entry is not None:
            if not entry.is_dir:
                raise FileExistsError(key)
            return
        with self._folder(key, create=True):
            pass

    def move(self, src: str, dst: str) -> None:
        (src_parent, src_name), (dst_parent, dst_name) = self._split(src), self._split(dst)
        if self.stat(src) is None:  # refuses a link out of the scope, too
            raise FileNotFoundError(src)
        if self.stat(dst) is not None:
            raise FileExistsError(dst)
        if self._resolve(dst).is_relative_to(self._resolve(src)):
            raise UnsafePath(f"cannot move '{src}' into itself")
        with self._folder(src_parent) as src_fd, self._folder(dst_parent, True) as dst_fd:
            if _lstat_mode(dst_name, dst_fd):  # e.g. a dangling link
                raise FileExistsError(dst)
            os.rename(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)

    def delete(self, key: str) -> None:
        if self._check(key) == "":
            raise StorageError("refusing to delete the storage root")
        if key == self._scope:  # the scope's own folder, from a parent outside the scope
            parent = self._scope_path.parent
            if Path(os.path.realpath(parent)) != parent:
                raise OutsideScope(f"'{key}' lies below a link")
            fd = os.open(parent, _DIR_FLAGS)
            try:
                self._check_open(fd, parent, key)
                _remove(self._scope_path.name, fd)
            finally:
                os.close(fd)
            return
        parent_key, name = self._split(key)
        try:
            with self._folder(parent_key) as fd:
                _remove(name, fd)
        except (FileNotFoundError, NotADirectoryError):
            return  # absent: fine

    def uri(self, key: str) -> str:
        return URI_SCHEME + self._check(key)

    def key_for_uri(self, uri: str) -> str:
        if not uri.startswith(URI_SCHEME):
            raise ValueError(f"not a local storage URI: {uri!r}")
        return self._check(clean_relpath(uri[len(URI_SCHEME) :]))


class LocalWriter:
    """An upload into a hidden temp file below the root, renamed onto its key on commit.

    The temp file lives in `<root>/.labcloud-tmp` (same file system, so the final
    rename is atomic; never listed, so a half-written file is never seen). The
    rename replaces what is at the key, a link included (never what it points to).
    """

    def __init__(self, storage: LocalStorage, key: str) -> None:
        entry = storage.stat(key)  # refuses a key that leads out of the scope
        if entry is not None and entry.is_dir:
            raise IsADirectoryError(key or "the storage root")
        self._parent, self._name = storage._split(key)
        self._storage, self._key = storage, key
        tmp_dir = storage.root / _TMP
        tmp_dir.mkdir(mode=DIR_MODE, exist_ok=True)
        self._tmp = tmp_dir / uuid.uuid4().hex
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        # unbuffered: callers hand over big pieces, a buffer would only copy them
        self._out: FileIO | None = open(os.open(self._tmp, flags, FILE_MODE), "wb", buffering=0)
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
        a file is in the way of its folder, IsADirectoryError if a folder is at the key,
        OutsideScope if a link in the way now leads out."""
        try:
            self._close()
            with self._storage._folder(self._parent, create=True) as fd:
                if stat.S_ISDIR(_lstat_mode(self._name, fd)):
                    raise IsADirectoryError(self._key)
                os.replace(self._tmp, self._name, dst_dir_fd=fd)
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


def _entry(key: str, st: os.stat_result) -> Entry | None:
    """The entry of a stat result; None for what is neither a file nor a folder
    (a fifo, a socket, a device: nothing a user can have uploaded)."""
    if stat.S_ISDIR(st.st_mode):
        return Entry(key, True)
    if stat.S_ISREG(st.st_mode):
        return Entry(key, False, st.st_size)
    return None


def _chunks(fh: FileIO, chunk_size: int) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(chunk_size):
            yield chunk


def _lstat_mode(name: str, dir_fd: int) -> int:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return 0


def _remove(name: str, dir_fd: int) -> None:
    """Remove `name` in the folder `dir_fd`: a link itself (never its target), a file,
    or a folder with all it holds (shutil's rmtree never follows a link either)."""
    mode = _lstat_mode(name, dir_fd)
    if stat.S_ISDIR(mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    elif mode:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)
