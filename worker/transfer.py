"""File transfers of the worker: the FileHTTPRequest indirection and the bytes themselves.

The worker API answers "where is input X" and "where do I put output Y" with a
FileHTTPRequest: method, URL, headers and form fields. The URL may point back
at the worker API (local storage) or elsewhere (an S3 presigned URL); this
module reads such a request and performs it, streaming from and to disk.
:class:`~worker.client.WorkerClient` asks for the requests and uses these
helpers; nothing here knows about tokens or retries of API calls.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from worker.errors import ApiError, FileMissing, JobGone

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_CHUNK = 1 << 20
# Characters kept as they are inside one segment of a file URI in the URL path.
_SEGMENT_SAFE = ":@!$&'()*+,;=-._~"


class Transient(Exception):
    """A file transfer failed in a way worth retrying."""


@dataclass(frozen=True)
class FileRequest:
    """The server's FileHTTPRequest: how to transfer one file (maybe presigned, to S3)."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, payload: Any, default_method: str, base_url: httpx.URL) -> FileRequest:
        """Read a FileHTTPRequest; also a bare URL string and S3's ``{url, fields}`` shape."""
        if isinstance(payload, str):
            payload = {"url": payload}
        if not isinstance(payload, Mapping) or not payload.get("url"):
            raise ApiError(f"the server sent no file URL: {payload!r}")
        return cls(
            method=str(payload.get("method") or default_method).upper(),
            url=absolute_url(str(payload["url"]), base_url),
            headers={str(k): str(v) for k, v in (payload.get("headers") or {}).items()},
            data={
                str(k): str(v)
                for k, v in (payload.get("data") or payload.get("fields") or {}).items()
            },
        )

    def with_header(self, name: str, value: str) -> FileRequest:
        """A copy that sends ``name: value``, replacing any header of that name."""
        headers = {k: v for k, v in self.headers.items() if k.lower() != name.lower()}
        headers[name] = value
        return replace(self, headers=headers)


def file_url_path(uri: str) -> str:
    """The path of ``GET /files/{uri}/url``.

    DECODE's worker pastes the URI into the path as it is (the route is
    ``{file_id:path}``), so ``local://u/data/a.tif`` and ``s3://b/k`` go out
    unchanged. We additionally percent-encode what would otherwise break the
    URL (``?``, ``#``, ``%``, spaces) or be collapsed by URL normalisation
    (``.``/``..`` segments); the server decodes them back to the same URI.
    """
    segments = []
    for seg in uri.split("/"):
        segments.append(
            seg.replace(".", "%2E") if seg in (".", "..") else quote(seg, safe=_SEGMENT_SAFE)
        )
    return "/files/" + "/".join(segments) + "/url"


def absolute_url(url: str, base: httpx.URL) -> str:
    """``url`` made absolute: a relative one (local storage's ``/download``,
    ``/upload``) points at the worker API ``base``."""
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", url):
        return url
    if url.startswith("/"):
        return f"{base.scheme}://{base.netloc.decode('ascii')}{url}"
    return f"{base}{url}"


def is_below(url: str, base: httpx.URL) -> bool:
    """True if ``url`` has the origin of ``base`` and lies under its path."""
    target = httpx.URL(url)
    return (
        target.scheme == base.scheme
        and target.host == base.host
        and target.port == base.port
        and target.path.startswith(base.path)
    )


def retrying(what: str, once: Callable[[], T], tries: int, pause: Callable[[int, str], None]) -> T:
    """Run the whole exchange ``once`` up to ``tries`` times while it raises :class:`Transient`.

    The whole exchange is repeated, not just the transfer: a presigned URL may
    have expired meanwhile. ``pause(n, reason)`` is called between tries.
    """
    for n in range(1, tries + 1):
        try:
            return once()
        except Transient as exc:
            if n == tries:
                raise ApiError(f"{what} failed: {exc}") from None
            pause(n, f"{what}: {exc}")
    raise AssertionError("unreachable")


def stream_to_file(http: httpx.Client, request: FileRequest, dest: Path, uri: str) -> int:
    """Download ``request`` to ``dest`` through a temporary file; return the byte count.

    The temporary file sits next to the target and is renamed into place, so a
    failed download leaves nothing half-written.
    """
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with http.stream(request.method, request.url, headers=request.headers) as r:
            if r.status_code in RETRY_STATUSES:
                raise Transient(f"HTTP {r.status_code}")
            if r.status_code == 404:
                raise FileMissing(f"input {uri} not found", 404)
            if r.status_code >= 400:
                r.read()
                raise ApiError(
                    f"download of {uri}: HTTP {r.status_code}: {r.text[:200]}", r.status_code
                )
            size = 0
            with open(tmp, "xb") as out:
                for chunk in r.iter_bytes(_CHUNK):
                    out.write(chunk)
                    size += len(chunk)
        os.replace(tmp, dest)
        return size
    except httpx.TransportError as exc:
        raise Transient(str(exc) or type(exc).__name__) from exc
    finally:
        tmp.unlink(missing_ok=True)


def post_file(http: httpx.Client, request: FileRequest, path: Path, job_id: str) -> None:
    """Upload ``path`` as multipart field ``file``, after the request's ``data`` fields.

    The file is streamed from disk and opened without following symlinks.
    A 404 means the job is no longer ours (:class:`JobGone`).
    """
    # The multipart body sets its own Content-Type (with the boundary).
    headers = {
        k: v
        for k, v in request.headers.items()
        if k.lower() not in ("content-type", "content-length")
    }
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        try:
            r = http.request(
                request.method,
                request.url,
                headers=headers,
                data=request.data,
                files={"file": (path.name, f)},
            )
        except httpx.TransportError as exc:
            raise Transient(str(exc) or type(exc).__name__) from exc
    if r.status_code in RETRY_STATUSES:
        raise Transient(f"HTTP {r.status_code}")
    if r.status_code == 404:
        raise JobGone(job_id)
    if r.status_code >= 400:
        raise ApiError(
            f"upload of {path.name}: HTTP {r.status_code}: {r.text[:200]}", r.status_code
        )
