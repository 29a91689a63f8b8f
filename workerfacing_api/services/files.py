"""File access for workers, scoped to the jobs they hold.

A worker may read only the inputs (`files_down`) of a job it currently holds,
and write only below that job's upload folders (`paths_upload`). Everything
else is refused before storage is touched. Each file comes with the storage view
it must stay in, links followed: the owner's root folder for an input (where the
job's upload folders lie), the upload folder for an output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.api.errors import BadRequest, Conflict, NotFound
from shared.jobs.specs import OutputKind
from shared.storage.base import Storage, file_in_the_way
from shared.storage.paths import UnsafePath, clean_relpath, is_within, join
from workerfacing_api.db.models import QueuedJob
from workerfacing_api.services.leases import LEASED_VALUES, held_job

# `scheme:/key` or `scheme:///key`: what `scheme://key` becomes when a proxy or
# client merges or adds slashes in a URL path.
_URI = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):/+(?P<rest>.*)$")


@dataclass(frozen=True)
class JobFile:
    """A file of a job: its key, and the view of the storage it must stay in."""

    storage: Storage
    key: str


def _owner_root(storage: Storage, job: QueuedJob) -> str:
    """The root folder of the job's owner: the one folder its upload folders lie in."""
    owners = set()
    for uri in job.paths_upload.values():
        try:
            owners.add(storage.key_for_uri(uri).partition("/")[0])
        except ValueError:
            continue
    if len(owners) != 1 or "" in owners:
        raise NotFound("the job names no folder of its owner in this storage")
    return owners.pop()


def normalize_uri(raw: str) -> str:
    """The canonical form of a file URI as it arrives in a URL path.

    DECODE's worker puts the URI into the path as is (`/files/local://a/b/url`);
    others URL-encode it. Either way the server has decoded the path once; a
    still-encoded form is decoded once more, and merged slashes are restored.
    """
    uri = raw
    if "://" not in uri and "%3a" in uri.lower():
        uri = unquote(uri)
    match = _URI.match(uri)
    if match is None:
        return uri
    return f"{match['scheme']}://{match['rest']}"


def input_key(
    session: Session, storage: Storage, worker_id: str, raw_uri: str, attempt: int | None = None
) -> JobFile:
    """An input file of a job `worker_id` holds, in the view of its owner's root folder.

    NotFound if no job held by this worker lists the URI among its inputs (a worker
    learns nothing of other jobs' files, not even that they exist), or if one does but
    the URI is not one of this storage's; OutsideScope (403) if it lies outside the
    owner's folder (reading it refuses a link that leads out).
    """
    uri = normalize_uri(raw_uri)
    held = session.scalars(
        select(QueuedJob).where(
            QueuedJob.worker_id == worker_id, QueuedJob.status.in_(LEASED_VALUES)
        )
    )
    for job in held:
        files_down = job.spec.get("job", {}).get("handler", {}).get("files_down", {})
        if attempt is not None and job.attempt != attempt:
            continue
        if any(normalize_uri(v) == uri for v in files_down.values()):
            try:
                storage.key_for_uri(uri)
            except ValueError:  # includes UnsafePath
                raise NotFound("file not found in this storage") from None
            view = storage.scoped(_owner_root(storage, job))
            return JobFile(view, view.key_for_uri(uri))
    raise NotFound("file not found among the inputs of the jobs you hold")


def upload_key(
    session: Session,
    storage: Storage,
    job_id: int,
    worker_id: str,
    kind: OutputKind,
    base_path: str,
    filename: str | None = None,
    attempt: int | None = None,
) -> JobFile:
    """Where an upload of `filename` into `base_path` of job `job_id`'s `kind` folder
    goes, in the view of that folder.

    Without `filename`, checks the target folder only (for `/files/url`).
    NotFound unless `worker_id` holds the job; BadRequest for an unsafe path;
    Conflict if a file is in the way of the folder, or a folder at the file's place;
    OutsideScope (403) if a link leads out of the folder.
    """
    job = held_job(session, job_id, worker_id, attempt=attempt, after_error=True)
    try:
        rel = clean_relpath(base_path or "")
        name = clean_relpath(filename) if filename is not None else ""
    except UnsafePath as exc:
        raise BadRequest(f"invalid path: {exc}") from None
    if filename is not None and not name:
        raise BadRequest("the uploaded file has no name")
    destination = job.paths_upload.get(kind.value)
    if not destination:
        raise BadRequest(f"job {job_id} has no '{kind.value}' folder")
    try:
        root = storage.key_for_uri(destination)
    except ValueError:
        raise BadRequest(f"job {job_id}'s '{kind.value}' folder is not in this storage") from None
    key = join(root, rel, name)
    # Cannot fail for clean parts; kept as the last line of defence of "never outside".
    if not root or not is_within(key, root):
        raise BadRequest("the upload would land outside the job's folder")
    view = storage.scoped(root)
    _check_room(view, key, is_file=filename is not None)
    return JobFile(view, key)


def _check_room(storage: Storage, key: str, is_file: bool) -> None:
    """Refuse, before any byte is sent, an upload storage would fail only at the commit."""
    folder = key.rpartition("/")[0] if is_file else key
    if (blocking := file_in_the_way(storage, folder)) is not None:
        raise Conflict(f"'{blocking}' is a file: nothing can be stored below it")
    if is_file and (entry := storage.stat(key)) is not None and entry.is_dir:
        raise Conflict(f"'{key}' is a folder: a file cannot take its place")
