"""Your files on the server: list, upload (parallel, resumable), download, rename, delete.

Paths are relative to your root, as the server shows them: `data/exp1/frames.tif`,
`output/<job name>/`. Uploads go into `config/`, `data/` or `artifact/`.
"""

from __future__ import annotations

import builtins
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import httpx

from labcloud.client.errors import (
    ConnectionFailed,
    NotFoundError,
    RequestRejected,
    ServerError,
    connection_error,
)
from labcloud.client.http import Connection, url_path
from labcloud.client.models import FileEntry, TransferEvent, UploadReport
from labcloud.client.transfer import (
    LocalFile,
    ProgressReader,
    already_there,
    extract_zip,
    scan,
)

UPLOAD_KINDS = ("config", "data", "artifact")
UPLOAD_ATTEMPTS = 3
ProgressCallback = Callable[[TransferEvent], None]


def _ignore(_event: TransferEvent) -> None:
    pass


def clean_remote(path: str) -> str:
    """`/data//exp1/` → `data/exp1` (the server cleans paths the same way)."""
    return "/".join(part for part in path.replace("\\", "/").split("/") if part not in ("", "."))


class Files:
    """The `/files` part of the API (reach it as `client.files`)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._targets: dict[str, dict[str, Any]] = {}

    # --- looking ----------------------------------------------------------------

    def list(
        self,
        path: str = "",
        *,
        recursive: bool = False,
        show_dirs: bool = True,
        exact_sizes: bool = False,
        checksums: bool = False,
    ) -> list[FileEntry]:
        """The entries of the folder `path` (`""` is your root), sorted by path.

        `exact_sizes` adds each file's size in bytes. NotFoundError if `path` is not
        a folder. (`checksums`: the server gives a SHA-256 for one named file at a
        time only, since it reads the file; see :meth:`stat`.)
        """
        params: dict[str, Any] = {"recursive": recursive, "show_dirs": show_dirs}
        if exact_sizes or checksums:
            params["exact_sizes"] = True
        if checksums:
            params["checksums"] = True
        rel = clean_remote(path)
        # The trailing slash keeps a folder named `download` or `url` a folder.
        url = f"/files/{url_path(rel)}/" if rel else "/files/"
        answer = self._conn.json("GET", url, params=params)
        return [FileEntry.from_json(item) for item in answer]

    def stat(self, path: str) -> FileEntry | None:
        """The entry at `path` (a file or a folder), or None if nothing is there."""
        rel = clean_remote(path)
        if not rel:
            return FileEntry("", "directory")
        parent = rel.rpartition("/")[0]
        try:
            entries = self.list(parent)
        except NotFoundError:
            return None
        return next((e for e in entries if e.path.rstrip("/") == rel), None)

    def checksum(self, path: str) -> str | None:
        """The SHA-256 of the remote file `path`, or None if the server cannot tell."""
        rel = clean_remote(path)
        try:
            answer = self._conn.json(
                "GET", f"/files/{url_path(rel)}/", params={"checksums": True, "exact_sizes": True}
            )
        except NotFoundError:
            return None
        found = [FileEntry.from_json(item) for item in answer if item.get("path") == rel]
        return found[0].sha256 if found else None

    # --- changing ---------------------------------------------------------------

    def mkdir(self, path: str) -> FileEntry:
        """Create the folder `path` (and its parents) below config/, data/ or artifact/."""
        kind, folder = split_upload_path(path)
        answer = self._conn.json("POST", f"/files/{kind}/{url_path(folder)}/")
        return FileEntry.from_json(answer)

    def rename(self, path: str, new_path: str) -> FileEntry:
        """Rename (move) a file or an empty folder."""
        rel = clean_remote(path)
        answer = self._conn.json("PUT", f"/files/{url_path(rel)}", json={"path": new_path})
        return FileEntry.from_json(answer)

    def delete(self, path: str) -> None:
        """Delete a file, or a folder with everything in it (a predefined folder such as
        `data` is emptied). NotFoundError if nothing is at `path`."""
        rel = clean_remote(path)
        if rel and self.stat(rel) is None:
            raise NotFoundError(f"'{rel}' not found", status_code=404, path=rel)
        self._conn.request("DELETE", f"/files/{url_path(rel)}")

    # --- uploading --------------------------------------------------------------

    def upload(
        self,
        sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        destination: str,
        *,
        workers: int = 4,
        resume: bool = True,
        progress: ProgressCallback | None = None,
    ) -> UploadReport:
        """Upload files and folders into the remote folder `destination`, like `cp -r`:
        `upload("exp1", "data")` makes `data/exp1/…`.

        Files go `workers` at a time. With `resume`, a file already at its remote path
        with the same size and SHA-256 is skipped, so re-running an interrupted
        upload sends only what is missing (a file is stored only once complete).
        `progress` gets :class:`TransferEvent`s, possibly from several threads.
        """
        if isinstance(sources, (str, os.PathLike)):
            sources = [sources]
        destination = clean_remote(destination)
        split_upload_path(destination)  # refuse output/, log/ early
        plan = scan([Path(s) for s in sources], destination)
        report = UploadReport(destination=destination)
        emit = progress or _ignore
        todo = plan.files
        if resume:
            todo, skipped, report.resumable = self._not_yet_there(plan.files, plan.roots)
            report.skipped = [f.remote_path for f in skipped]
            for f in skipped:
                emit(TransferEvent("skipped", f.remote_path, f.size))
        emit(
            TransferEvent(
                "plan",
                bytes=sum(f.size for f in todo),
                files=len(todo),
                skipped=len(report.skipped),
            )
        )
        for folder in plan.empty_dirs:
            self.mkdir(folder)
        lock = threading.Lock()

        def send(f: LocalFile) -> None:
            self._upload_file(f, emit)
            with lock:
                report.uploaded.append(f.remote_path)
                report.bytes_sent += f.size
            emit(TransferEvent("done", f.remote_path, f.size))

        _run_parallel(send, todo, workers)
        report.uploaded.sort()
        return report

    def _not_yet_there(
        self, files: builtins.list[LocalFile], roots: builtins.list[str]
    ) -> tuple[builtins.list[LocalFile], builtins.list[LocalFile], bool]:
        """Split `files` into (to send, already there); False if the server cannot say."""
        sizes: dict[str, int] = {}
        resumable = True
        in_roots = [f for f in files if any(_within(f.remote_dir, r) for r in roots)]
        file_dirs = {f.remote_dir for f in files} - {f.remote_dir for f in in_roots}
        listings = [(root, True) for root in roots] + [(d, False) for d in sorted(file_dirs)]
        for folder, recursive in listings:
            try:
                entries = self.list(folder, recursive=recursive, show_dirs=False, exact_sizes=True)
            except NotFoundError:
                continue
            for entry in entries:
                if entry.bytes is None:
                    resumable = False  # a server without exact sizes: send everything
                else:
                    sizes[entry.path] = entry.bytes
        if not resumable:
            return files, [], False
        verdicts = _map_parallel(lambda f: already_there(f, sizes, self.checksum), files, 4)
        todo = [f for f, there in zip(files, verdicts, strict=True) if not there]
        done = [f for f, there in zip(files, verdicts, strict=True) if there]
        return todo, done, True

    def _upload_target(self, remote_dir: str) -> dict[str, Any]:
        """How to upload into `remote_dir`: the API's own URL (kept) or a presigned POST."""
        if cached := self._targets.get(remote_dir):
            return cached
        kind, folder = split_upload_path(remote_dir)
        path = f"/files/{kind}/{url_path(folder)}/url" if folder else f"/files/{kind}/url"
        target = self._conn.json("POST", path)
        if not target.get("data"):  # not presigned: it does not expire
            self._targets[remote_dir] = target
        return target

    def _upload_file(self, f: LocalFile, emit: ProgressCallback) -> None:
        for attempt in range(1, UPLOAD_ATTEMPTS + 1):
            sent = 0

            def report(n: int) -> None:
                nonlocal sent
                sent += n
                emit(TransferEvent("progress", f.remote_path, n))

            try:
                target = self._upload_target(f.remote_dir)
                with f.path.open("rb") as source:
                    self._post_file(target, f.name, ProgressReader(source, report))
                return
            except (ConnectionFailed, ServerError):
                if sent:
                    emit(TransferEvent("progress", f.remote_path, -sent))
                self._targets.pop(f.remote_dir, None)
                if attempt == UPLOAD_ATTEMPTS:
                    raise
                time.sleep(0.5 * attempt)

    def _post_file(self, target: dict[str, Any], name: str, reader: ProgressReader) -> None:
        # httpx reads the wrapper like a file (its type stubs want a real IO)
        files: dict[str, Any] = {"file": (name, reader, "application/octet-stream")}
        headers = dict(target.get("headers") or {})
        if target.get("data"):
            # A presigned POST (S3): its form fields, then the file; no bearer token.
            try:
                answer = self._conn.http.post(
                    target["url"], data=target["data"], files=files, headers=headers
                )
            except httpx.HTTPError as exc:
                raise connection_error(exc, target["url"]) from None
            if not answer.is_success:
                cls = ServerError if answer.status_code >= 500 else RequestRejected
                raise cls(
                    f"upload of {name} to storage refused: {answer.status_code} "
                    f"{answer.text[:300]}",
                    status_code=answer.status_code,
                )
            return
        headers.pop("Authorization", None)  # the connection adds its own (fresh) token
        self._conn.request("POST", target["url"], files=files, headers=headers, retries=0)

    # --- downloading ------------------------------------------------------------

    def download(
        self,
        path: str,
        dest: str | os.PathLike[str] = ".",
        *,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """Download a file or a folder; a folder stays a folder (the server sends a zip,
        unpacked here). Like `cp -r`: into `dest` if it is a folder, else as `dest`.
        Returns the local path written. Files appear only once complete."""
        rel = clean_remote(path)
        entry = self.stat(rel)
        if entry is None:
            raise NotFoundError(f"'{rel}' not found", status_code=404, path=rel)
        dest = Path(dest)
        into = dest.is_dir() or str(dest).endswith(("/", os.sep))
        target = dest / (entry.name or "files") if into else dest
        if entry.is_dir:
            self.download_folder_into(rel, target, progress=progress)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._download_file(rel, target, progress or _ignore)
        return target

    def download_folder_into(
        self, path: str, target: Path, *, progress: ProgressCallback | None = None
    ) -> builtins.list[Path]:
        """Unpack the contents of the remote folder `path` into the local folder `target`
        (created; files already there with the same names are replaced)."""
        emit = progress or _ignore
        rel = clean_remote(path)
        entries = self.list(rel, recursive=True, show_dirs=False, exact_sizes=True)
        total = sum(e.bytes or 0 for e in entries)
        emit(TransferEvent("plan", bytes=total, files=len(entries)))
        target.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".labcloud-", suffix=".zip", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                # The zip is a little larger than its files: progress counts up to their
                # total, which is what was announced.
                self._stream_to(f"/files/{url_path(rel)}/download", out, rel, emit, cap=total)
            written = extract_zip(Path(tmp_name), target)
        finally:
            Path(tmp_name).unlink(missing_ok=True)
        for local in written:
            emit(TransferEvent("done", str(local), local.stat().st_size))
        return written

    def _download_file(self, rel: str, target: Path, emit: ProgressCallback) -> None:
        tmp = target.parent / f".{target.name}.part"
        try:
            with tmp.open("wb") as out:
                self._stream_to(f"/files/{url_path(rel)}/download", out, rel, emit, plan=True)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        emit(TransferEvent("done", str(target), target.stat().st_size))

    def _stream_to(
        self,
        url: str,
        out: Any,
        rel: str,
        emit: ProgressCallback,
        plan: bool = False,
        cap: int | None = None,
    ) -> None:
        reported = 0
        with self._conn.stream("GET", url) as response:
            if plan:
                length = int(response.headers.get("content-length") or 0)
                emit(TransferEvent("plan", bytes=length, files=1))
            for chunk in response.iter_bytes(1 << 20):
                out.write(chunk)
                step = len(chunk) if cap is None else min(len(chunk), cap - reported)
                if step > 0:
                    reported += step
                    emit(TransferEvent("progress", rel, step))
        if cap is not None and reported < cap:
            emit(TransferEvent("progress", rel, cap - reported))


def split_upload_path(path: str) -> tuple[str, str]:
    """`data/exp1` → (`data`, `exp1`); RequestRejected for a folder uploads cannot go to."""
    kind, _, folder = clean_remote(path).partition("/")
    if kind not in UPLOAD_KINDS:
        raise RequestRejected(
            f"uploads go into config/, data/ or artifact/ (not '{path or '/'}'); "
            "output/ and log/ are written by jobs"
        )
    return kind, folder


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def _run_parallel(fn: Callable[[LocalFile], None], items: list[LocalFile], workers: int) -> None:
    """Run `fn` on every item, `workers` at a time; the first error stops the rest
    (what was done stays done) and is raised."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(fn, item) for item in items]
        finished, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:
            if future.done() and not future.cancelled() and future.exception():
                raise future.exception()  # type: ignore[misc]


def _map_parallel(
    fn: Callable[[LocalFile], bool], items: list[LocalFile], workers: int
) -> list[bool]:
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(fn, items))
