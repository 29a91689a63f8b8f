"""`/files`: list, upload, download, rename and delete a user's files (DECODE's routes)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Path, Request, Response, status
from fastapi.params import Query
from fastapi.responses import StreamingResponse

from shared.api.errors import NotFound, error_responses
from shared.api.uploads import (
    OPENAPI_BODY,
    announced_file_bytes,
    check_announced_size,
    receive_file,
)
from shared.storage.presign import presigned_get, presigned_post
from userfacing_api.dependencies import ContextDep, UserFilesDep, UserStorageDep
from userfacing_api.schemas import FileHTTPRequest, FileInfo, FileRename, UploadFileType

router = APIRouter(
    tags=["Files"],
    responses=error_responses(
        400, 401, 404, notes={403: "outside your folder (a link placed there)"}
    ),
)

_PATH_RULES = "names of at most 255 bytes (UTF-8), at most 4096 bytes in all, no control characters"
FilePath = Annotated[
    str,
    Path(description=f"relative to your root; {_PATH_RULES}", examples=["data/demo/frames.tif"]),
]
FolderPath = Annotated[
    str, Path(description=f"relative to the `f_type` folder; {_PATH_RULES}", examples=["demo"])
]


def _sibling_url(request: Request, suffix: str) -> str:
    """The URL of this request with its last segment (`/url`) replaced by `suffix`."""
    base = str(request.url.replace(query=""))
    return base[: base.rfind("/")] + suffix


def _auth_headers(request: Request) -> dict[str, str]:
    auth = request.headers.get("authorization")
    return {"Authorization": auth} if auth else {}


@router.get(
    "/files/{file_path:path}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}, "application/zip": {}}}},
)
def download(file_path: FilePath, files: UserFilesDep) -> StreamingResponse:
    """Stream a file, or a directory as a zip built while it is sent."""
    result = files.download(file_path)
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(result.filename)}"}
    if result.size is not None:
        headers["Content-Length"] = str(result.size)
    media = "application/zip" if result.is_zip else "application/octet-stream"
    return StreamingResponse(result.chunks, media_type=media, headers=headers)


@router.get("/files/{file_path:path}/url", response_model=FileHTTPRequest)
def download_request(file_path: FilePath, request: Request, files: UserFilesDep) -> FileHTTPRequest:
    """How to download the file yourself: a presigned GET on S3 (600 s), else the
    `/download` URL with your auth (a folder always: it comes as a zip)."""
    entry = files.find(file_path)
    if entry is None:
        raise NotFound(f"'{file_path}' not found")
    if not entry.is_dir and (url := presigned_get(files.storage, entry.key)):
        return FileHTTPRequest(method="GET", url=url)
    return FileHTTPRequest(
        method="GET", url=_sibling_url(request, "/download"), headers=_auth_headers(request)
    )


@router.get("/files/{base_path:path}", response_model=list[FileInfo])
def list_files(
    files: UserFilesDep,
    base_path: Annotated[
        str, Path(description=f"relative to your root; {_PATH_RULES}", examples=["data/"])
    ],
    show_dirs: Annotated[bool, Query()] = True,
    recursive: Annotated[bool, Query()] = False,
    exact_sizes: Annotated[
        bool, Query(description="labcloud: add each file's size in bytes (`bytes`)")
    ] = False,
    checksums: Annotated[
        bool,
        Query(description="labcloud: add each file's `bytes` and SHA-256 (reads the files)"),
    ] = False,
) -> list[FileInfo]:
    """The entries of a directory, sorted by path; directories end with '/'.

    labcloud: with `exact_sizes` or `checksums`, a path naming a file lists just
    that file, so a client can check whether an upload is already there."""
    return files.list(
        base_path,
        show_dirs=show_dirs,
        recursive=recursive,
        exact_sizes=exact_sizes,
        checksums=checksums,
    )


async def _upload(
    f_type: UploadFileType,
    base_path: FolderPath,
    request: Request,
    files: UserFilesDep,
    storage: UserStorageDep,
    ctx: ContextDep,
) -> FileInfo:
    # Refused before the body is read: a bad path, a file too big (413) or that cannot
    # fit (507); then the file's bytes count toward the quota as they arrive.
    files.upload_target(f_type.value, base_path)
    check_announced_size(request, ctx.settings.max_upload_bytes)
    announced = announced_file_bytes(request)
    with await anyio.to_thread.run_sync(storage.start_upload, announced) as upload:
        rel, size = await receive_file(
            request,
            lambda filename: upload.open(files, f_type.value, base_path, filename),
            max_bytes=ctx.settings.max_upload_bytes,
            budget=upload,
        )
        upload.committed(size)
    return await anyio.to_thread.run_sync(files.uploaded, rel)


def _upload_request(
    f_type: UploadFileType,
    base_path: FolderPath,
    request: Request,
    files: UserFilesDep,
    storage: UserStorageDep,
    ctx: ContextDep,
) -> FileHTTPRequest:
    target = files.upload_folder(f_type.value, base_path)  # validates the path
    storage.check_room()
    # S3 checks the size itself: at most a file's limit, and what is left of the quota
    max_bytes = min(ctx.settings.max_upload_bytes, storage.quota.bytes - storage.used())
    if post := presigned_post(files.storage, files.key(target), max_bytes):
        # S3: a form POST straight to the bucket, any file name into the folder
        return FileHTTPRequest(method="POST", url=post["url"], data=post["fields"])
    return FileHTTPRequest(
        method="POST", url=_sibling_url(request, "/upload"), headers=_auth_headers(request)
    )


@router.post(
    "/files/{f_type}/{base_path:path}/upload",
    status_code=status.HTTP_201_CREATED,
    response_model=FileInfo,
    responses=error_responses(
        409, notes={413: "the file is over MAX_UPLOAD_BYTES", 507: "over the storage quota"}
    ),
    openapi_extra=OPENAPI_BODY,
)
async def upload(
    f_type: UploadFileType,
    base_path: FolderPath,
    request: Request,
    files: UserFilesDep,
    storage: UserStorageDep,
    ctx: ContextDep,
) -> FileInfo:
    """Upload one file (multipart field `file`; other fields are ignored) into
    `<f_type>/<base_path>/`. It is streamed into storage and appears only once complete.
    413 over MAX_UPLOAD_BYTES, 507 over the storage quota: nothing is stored then."""
    return await _upload(f_type, base_path, request, files, storage, ctx)


@router.post(
    "/files/{f_type}/upload",
    status_code=status.HTTP_201_CREATED,
    response_model=FileInfo,
    include_in_schema=False,
)
async def upload_top(
    f_type: UploadFileType,
    request: Request,
    files: UserFilesDep,
    storage: UserStorageDep,
    ctx: ContextDep,
) -> FileInfo:
    return await _upload(f_type, "", request, files, storage, ctx)


@router.post(
    "/files/{f_type}/{base_path:path}/url",
    status_code=status.HTTP_201_CREATED,
    response_model=FileHTTPRequest,
    responses=error_responses(notes={507: "over the storage quota"}),
)
def upload_request(
    f_type: UploadFileType,
    base_path: FolderPath,
    request: Request,
    files: UserFilesDep,
    storage: UserStorageDep,
    ctx: ContextDep,
) -> FileHTTPRequest:
    """How to upload into the folder yourself (local storage: `/upload` with your auth;
    S3: a presigned POST that takes at most MAX_UPLOAD_BYTES and what is left of your
    quota). 507 when you are over your storage quota."""
    return _upload_request(f_type, base_path, request, files, storage, ctx)


@router.post(
    "/files/{f_type}/url",
    status_code=status.HTTP_201_CREATED,
    response_model=FileHTTPRequest,
    include_in_schema=False,
)
def upload_request_top(
    f_type: UploadFileType,
    request: Request,
    files: UserFilesDep,
    storage: UserStorageDep,
    ctx: ContextDep,
) -> FileHTTPRequest:
    return _upload_request(f_type, "", request, files, storage, ctx)


@router.post(
    "/files/{f_type}/{base_path:path}/",
    status_code=status.HTTP_201_CREATED,
    response_model=FileInfo,
    responses=error_responses(409),
)
def create_directory(
    f_type: UploadFileType, base_path: FolderPath, files: UserFilesDep
) -> FileInfo:
    """Create a directory (and its parents)."""
    return files.mkdir(f_type.value, base_path)


@router.put(
    "/files/{file_path:path}",
    response_model=FileInfo,
    responses=error_responses(409, notes={405: "predefined or non-empty directory"}),
)
def rename(file_path: FilePath, body: FileRename, files: UserFilesDep) -> FileInfo:
    """Rename a file or an empty directory to `path` (`//` in it is normalised)."""
    return files.rename(file_path, body.path)


@router.delete(
    "/files/{file_path:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(notes={405: "the root or a predefined folder"}),
)
def delete(file_path: FilePath, files: UserFilesDep, ctx: ContextDep) -> Response:
    """Delete a file, or a folder with all it holds (a link: the link itself).
    labcloud: the root and the predefined folders cannot be deleted (405)."""
    files.delete(file_path)
    ctx.usage.forget(files.root)  # measured again at the next upload
    return Response(status_code=status.HTTP_204_NO_CONTENT)
