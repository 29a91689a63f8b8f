"""File transfer for workers: the inputs of the jobs they hold, and their outputs.

`file_id` is a storage URI from a job's `files_down`. DECODE's worker puts it
into the path as is (`/files/local://alice/data/x.tif/url`); the URLs this API
hands out carry it URL-encoded, which survives proxies that merge slashes.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi import status as http
from fastapi.responses import StreamingResponse

from shared.api.errors import NotFound, error_responses
from shared.api.uploads import OPENAPI_BODY, receive_file
from shared.jobs.specs import OutputKind
from shared.storage.base import Writer
from shared.storage.presign import presigned_get, presigned_post
from shared.validation import RowId
from workerfacing_api.dependencies import ContextDep, SessionDep, WorkerDep
from workerfacing_api.schemas import FileHTTPRequest, UploadedFile
from workerfacing_api.services import files

router = APIRouter(
    tags=["Files"],
    responses=error_responses(400, 401, 404, notes={403: "outside the job's folder (a link)"}),
)

KindQuery = Annotated[OutputKind, Query(alias="type", description="output, log or artifact")]
BasePathQuery = Annotated[str, Query(description="folder below the job's upload folder")]
FileId = Annotated[
    str,
    Path(
        description="a storage URI from the job's `files_down`",
        examples=["local://alice@example.org/data/demo/frames.tif"],
    ),
]


def _forwarded_auth(request: Request) -> dict[str, str]:
    """The caller's credentials, for the follow-up request it is told to make."""
    headers = {}
    for name in ("Authorization", "X-API-KEY", "X-Worker-Id"):
        if value := request.headers.get(name):
            headers[name] = value
    return headers


@router.post(
    "/jobs/{job_id}/files/url",
    status_code=http.HTTP_201_CREATED,
    response_model=FileHTTPRequest,
)
def upload_request(
    job_id: RowId,
    kind: KindQuery,
    request: Request,
    ctx: ContextDep,
    worker: WorkerDep,
    session: SessionDep,
    base_path: BasePathQuery = "",
) -> FileHTTPRequest:
    """How to upload an output of the job you hold (local storage: the `/upload` URL
    with your credentials; send the file as multipart field `file`)."""
    folder = files.upload_key(
        session, ctx.storage, job_id, worker.id, kind, base_path, attempt=worker.attempt
    )
    if post := presigned_post(folder.storage, folder.key, ctx.settings.max_upload_bytes):
        return FileHTTPRequest(method="POST", url=post["url"], data=post["fields"])
    url = request.url_for("upload_file", job_id=job_id).include_query_params(
        type=kind.value, base_path=base_path
    )
    return FileHTTPRequest(method="POST", url=str(url), headers=_forwarded_auth(request))


@router.post(
    "/jobs/{job_id}/files/upload",
    status_code=http.HTTP_201_CREATED,
    response_model=UploadedFile,
    responses=error_responses(409, notes={413: "the file is over MAX_UPLOAD_BYTES"}),
    openapi_extra=OPENAPI_BODY,
)
async def upload_file(
    job_id: RowId,
    kind: KindQuery,
    request: Request,
    ctx: ContextDep,
    worker: WorkerDep,
    base_path: BasePathQuery = "",
) -> UploadedFile:
    """Store one output file (multipart field `file`) of the job you hold under its
    `type` folder; it is streamed into storage and appears only once complete."""

    def open_writer(filename: str) -> tuple[str, Writer]:
        # A session of its own, closed before the body streams in: a request-long
        # one (SessionDep) would hold a pooled connection for the whole upload.
        with ctx.sessions() as session:
            target = files.upload_key(
                session,
                ctx.storage,
                job_id,
                worker.id,
                kind,
                base_path,
                filename,
                attempt=worker.attempt,
            )
        return target.key, target.storage.writer(target.key)

    key, size = await receive_file(request, open_writer, max_bytes=ctx.settings.max_upload_bytes)
    return UploadedFile(uri=ctx.storage.uri(key), size=size)


@router.get("/files/{file_id:path}/url", response_model=FileHTTPRequest)
def download_request(
    file_id: FileId, request: Request, ctx: ContextDep, worker: WorkerDep, session: SessionDep
) -> FileHTTPRequest:
    """How to download an input of a job you hold (local storage: the `/download` URL
    with your credentials)."""
    found = files.input_key(session, ctx.storage, worker.id, file_id, worker.attempt)
    entry = found.storage.stat(found.key)
    if entry is None or entry.is_dir:
        raise NotFound("file not found")
    if presigned := presigned_get(found.storage, found.key):
        return FileHTTPRequest(method="GET", url=presigned)
    uri = files.normalize_uri(file_id)
    url = f"{str(request.base_url).rstrip('/')}/files/{quote(uri, safe='')}/download"
    return FileHTTPRequest(method="GET", url=url, headers=_forwarded_auth(request))


@router.get(
    "/files/{file_id:path}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_file(
    file_id: FileId, ctx: ContextDep, worker: WorkerDep, session: SessionDep
) -> StreamingResponse:
    """Stream an input file of a job you hold."""
    found = files.input_key(session, ctx.storage, worker.id, file_id, worker.attempt)
    entry = found.storage.stat(found.key)
    if entry is None or entry.is_dir:
        raise NotFound("file not found")
    name = found.key.rpartition("/")[2]
    headers = {
        "Content-Length": str(entry.size),
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
    }
    return StreamingResponse(
        found.storage.read(found.key), media_type="application/octet-stream", headers=headers
    )
