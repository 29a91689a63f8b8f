"""A user's files: the DECODE folder layout and rules on top of a Storage.

Everything a user sees lives below `<user_id>/` in storage, in the predefined
folders config, data, artifact (uploads) and output, log (job results; artifact
too). Paths a client sends are cleaned (see `shared.storage.paths`) before use, and
every storage call goes through a view scoped to `<user_id>/`: nothing outside it
can be reached, not even through a link placed by hand (403).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import humanize

from shared.api.errors import BadRequest, Conflict, NotAllowed, NotFound
from shared.storage.base import Entry, OutsideScope, Storage, Writer, file_in_the_way
from shared.storage.paths import UnsafePath, clean_relpath, is_within, join
from shared.storage.zipstream import stream_zip
from userfacing_api.schemas import FileInfo, FileType

PREDEFINED = ("config", "data", "artifact", "output", "log")


def clean(raw: str) -> str:
    """Clean a client path, mapping an unsafe one to a 400."""
    try:
        return clean_relpath(raw)
    except UnsafePath as exc:
        raise BadRequest(f"invalid path: {exc}") from None


def file_info(entry: Entry, user_root: str) -> FileInfo:
    """DECODE's FileInfo: path relative to the user's root, dirs with a trailing '/'."""
    rel = entry.key[len(user_root) + 1 :] if entry.key != user_root else ""
    if entry.is_dir:
        return FileInfo(path=rel + "/", type=FileType.directory, size="")
    return FileInfo(path=rel, type=FileType.file, size=humanize.naturalsize(entry.size))


def sha256_of(storage: Storage, key: str) -> str:
    """The SHA-256 of a stored file, read in chunks."""
    digest = hashlib.sha256()
    for chunk in storage.read(key):
        digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Download:
    """What to send back for a download: a file's or a zip's chunks and a name."""

    chunks: Iterator[bytes]
    filename: str
    is_zip: bool
    size: int | None


class UserFiles:
    """One user's view of the storage."""

    def __init__(self, storage: Storage, user_id: str) -> None:
        self.root = clean_relpath(user_id)
        if not self.root or "/" in self.root:
            raise ValueError(f"unusable user id {user_id!r}")
        self.storage = storage.scoped(self.root)

    def key(self, rel: str) -> str:
        return join(self.root, rel)

    def _rel(self, key: str) -> str:
        """The path of a storage key below the user's root, relative to it."""
        return key[len(self.root) + 1 :]

    def init(self) -> None:
        """Create the predefined folders (idempotent). One that is a link placed by hand
        leading out of the user's folder is left alone (and refused wherever named)."""
        for folder in PREDEFINED:
            with contextlib.suppress(OutsideScope):
                self.storage.mkdir(self.key(folder))

    def stat(self, rel: str) -> Entry | None:
        return self.storage.stat(self.key(rel))

    def find(self, raw_path: str) -> Entry | None:
        """The entry at a client-given path, or None."""
        return self.stat(clean(raw_path))

    def list(
        self,
        raw_path: str,
        show_dirs: bool,
        recursive: bool,
        exact_sizes: bool = False,
        checksums: bool = False,
    ) -> list[FileInfo]:
        """A directory's entries. labcloud: `exact_sizes` adds each file's `bytes`,
        `checksums` also its `sha256` (reading the files); with either, a path that
        names a file lists that one file (how a client checks one upload)."""
        rel = clean(raw_path)
        if rel == "":
            self.init()
        entry = self.stat(rel)
        details = exact_sizes or checksums
        if entry is not None and not entry.is_dir and details:
            return [self._detailed(entry, checksums)]
        if entry is None or not entry.is_dir:
            raise NotFound(f"'{raw_path}' is not a directory")
        if checksums:
            # Hashing reads every byte: one file per request, never a whole tree.
            raise BadRequest("checksums are given for one file at a time: name a file")
        entries = [
            e
            for e in self.storage.list(self.key(rel), recursive=recursive)
            if show_dirs or not e.is_dir
        ]
        if details:
            infos = [self._detailed(e, checksums) for e in entries]
        else:
            infos = [file_info(e, self.root) for e in entries]
        return sorted(infos, key=lambda info: info.path)

    def _detailed(self, entry: Entry, checksum: bool) -> FileInfo:
        info = file_info(entry, self.root)
        if entry.is_dir:
            return info
        sha256 = sha256_of(self.storage, entry.key) if checksum else None
        return info.model_copy(update={"bytes": entry.size, "sha256": sha256})

    def start_upload(self, f_type: str, raw_dir: str, filename: str) -> tuple[str, Writer]:
        """Check an upload of `filename` into `<f_type>/<raw_dir>/` and start writing it:
        (its path relative to the user's root, the storage writer). Nothing is
        visible until the writer commits."""
        if not filename:
            raise BadRequest("the uploaded file has no name")
        name = clean(filename)
        if "/" in name or not name:
            raise BadRequest("the uploaded file's name must be a plain file name")
        folder = self.upload_target(f_type, raw_dir)
        # every level, not just the folder: storage would fail only at the commit
        if (blocking := file_in_the_way(self.storage, self.key(folder))) is not None:
            raise Conflict(f"'{self._rel(blocking)}' is a file: nothing can be stored below it")
        rel = join(folder, name)
        existing = self.stat(rel)
        if existing is not None and existing.is_dir:
            raise Conflict(f"'{rel}' is a directory")
        return rel, self.storage.writer(self.key(rel))

    def uploaded(self, rel: str) -> FileInfo:
        """The FileInfo of a file just uploaded (its path from `start_upload`)."""
        entry = self.stat(rel)
        if entry is None:
            raise NotFound(f"'{rel}' vanished right after its upload")
        return file_info(entry, self.root)

    def mkdir(self, f_type: str, raw_dir: str) -> FileInfo:
        rel = join(f_type, clean(raw_dir))
        existing = self.stat(rel)
        if existing is not None and not existing.is_dir:
            raise Conflict(f"'{rel}' is a file")
        try:
            self.storage.mkdir(self.key(rel))
        except (FileExistsError, NotADirectoryError):
            raise Conflict(f"a file is in the way of '{rel}'") from None
        return FileInfo(path=rel + "/", type=FileType.directory, size="")

    def upload_target(self, f_type: str, raw_dir: str) -> str:
        """The folder an upload URL points at (validated, relative to the user's root)."""
        return join(f_type, clean(raw_dir))

    def upload_folder(self, f_type: str, raw_dir: str) -> str:
        """`upload_target`, also checked in storage: no link there leads out (403)."""
        folder = self.upload_target(f_type, raw_dir)
        self.stat(folder)
        return folder

    def rename(self, raw_path: str, raw_new: str) -> FileInfo:
        rel, new = clean(raw_path), clean(raw_new)
        if not new:
            raise BadRequest("the new path must not be empty")
        entry = self.stat(rel)
        if entry is None or rel == "":
            raise NotFound(f"'{raw_path}' not found")
        if entry.is_dir:
            if rel in PREDEFINED:
                raise NotAllowed("a predefined directory cannot be renamed")
            if any(True for _ in self.storage.list(self.key(rel))):
                raise NotAllowed("a non-empty directory cannot be renamed")
        if new in PREDEFINED or (entry.is_dir and is_within(new, rel)):
            raise BadRequest(f"cannot rename to '{new}'")
        if self.stat(new) is not None:
            raise Conflict(f"'{new}' already exists")
        parent = new.rpartition("/")[0]
        parent_entry = self.stat(parent) if parent else None
        if parent_entry is not None and not parent_entry.is_dir:
            raise Conflict(f"'{parent}' is a file")
        self.storage.move(self.key(rel), self.key(new))
        moved = self.stat(new)
        assert moved is not None
        return file_info(moved, self.root)

    def delete(self, raw_path: str) -> None:
        """Delete a file or a folder with all it holds (a link: the link, never what it
        points to). labcloud: the root and the predefined folders are refused, where
        DECODE empties them: one request must not wipe a whole account or folder."""
        rel = clean(raw_path)
        if rel == "":
            raise NotAllowed("your root folder cannot be deleted: delete what is in it")
        if rel in PREDEFINED:
            raise NotAllowed(
                f"'{rel}' is a predefined folder and cannot be deleted: delete what is in it"
            )
        self.storage.delete(self.key(rel))

    def download(self, raw_path: str) -> Download:
        rel = clean(raw_path)
        entry = self.stat(rel)
        if entry is None:
            raise NotFound(f"'{raw_path}' not found")
        if not entry.is_dir:
            return Download(self.storage.read(entry.key), rel.rpartition("/")[2], False, entry.size)
        base = entry.key
        files = sorted(e.key for e in self.storage.list(base, recursive=True) if not e.is_dir)
        members = [(key[len(base) + 1 :], lambda key=key: self.storage.read(key)) for key in files]
        name = (rel.rpartition("/")[2] or self.root) + ".zip"
        return Download(stream_zip(members), name, True, None)
