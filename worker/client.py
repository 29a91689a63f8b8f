"""Client of the worker-facing API: DECODE's worker protocol plus labcloud's extensions.

One :class:`WorkerClient` per worker process, shared by its job threads
(``httpx.Client`` is thread-safe). Every call carries the bearer token and the
process's ``X-Worker-Id``; transient failures (connection errors, 429, 5xx) are
retried with exponential backoff, and a 404 on a job's endpoint raises
:class:`JobGone`: the server no longer counts the job as ours.

Job ids are the keys of the ``GET /jobs`` answer, as DECODE's worker uses them
for ``/jobs/{id}/status`` and ``/jobs/{id}/files/url``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx
import jwt
from pydantic import ValidationError

from shared.jobs.specs import JobSpecs, OutputKind
from shared.jobs.states import JobStatus
from worker.hardware import Capacity

if TYPE_CHECKING:
    from worker.settings import WorkerSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Re-login when the token has less than this many seconds left (as DECODE's worker).
MIN_VALIDITY_S = 300
_CHUNK = 1 << 20
# Characters kept as they are inside one segment of a file URI in the URL path.
_SEGMENT_SAFE = ":@!$&'()*+,;=-._~"


class ApiError(RuntimeError):
    """The worker API refused a call or could not be reached."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class AuthError(ApiError):
    """Logging in failed, the server refuses our token, or the account may not lease jobs."""


class JobGone(ApiError):
    """404 on a job call: the job was cancelled, deleted or given to another worker."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} is no longer ours", 404)
        self.job_id = job_id


class FileMissing(ApiError):
    """An input file named by the job does not exist (or is not ours to read)."""


class _Transient(Exception):
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
            url=_absolute(str(payload["url"]), base_url),
            headers={str(k): str(v) for k, v in (payload.get("headers") or {}).items()},
            data={
                str(k): str(v)
                for k, v in (payload.get("data") or payload.get("fields") or {}).items()
            },
        )


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


def _token_expiry(token: str, expires_in: Any, now: float) -> float:
    # The JWT's own `exp` is the truth; `expires_in` is the fallback for opaque tokens.
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
        if exp is not None:
            return float(exp)
    except jwt.PyJWTError:
        pass
    try:
        return now + float(expires_in)
    except (TypeError, ValueError):
        return now + 3600.0


class WorkerClient:
    """Synchronous client of one worker API, authenticated as one worker account."""

    def __init__(
        self,
        api_url: str,
        *,
        auth_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        worker_id: str | None = None,
        tries: int = 6,
        backoff_s: float = 1.0,
        backoff_max_s: float = 30.0,
        min_validity_s: float = MIN_VALIDITY_S,
        timeout_s: float = 60.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if token is None and not (auth_url and username and password):
            raise ValueError("give a token, or auth_url, username and password")
        self.api_url = httpx.URL(api_url.rstrip("/") + "/")
        self.worker_id = worker_id or str(uuid.uuid4())
        self._auth_url = (auth_url or "").rstrip("/")
        self._username, self._password = username, password
        self._static_token = token
        self._tries = max(1, tries)
        self._backoff_s, self._backoff_max_s = backoff_s, backoff_max_s
        self._min_validity_s = min_validity_s
        self._clock, self._sleep = clock, sleep
        self._token: str | None = token
        self._expiry = float("inf")
        self._token_lock = threading.Lock()
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=10.0), follow_redirects=True
        )
        self.logins = 0  # how often we logged in; for logs and tests

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> WorkerClient:
        """The client that the worker's settings describe."""
        secret = settings.password.get_secret_value() if settings.password else None
        token = settings.token.get_secret_value() if settings.token else None
        return cls(
            settings.api_url,
            auth_url=settings.auth_url,
            username=settings.username,
            password=secret,
            token=token,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> WorkerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the protocol ---------------------------------------------------------

    def fetch_jobs(
        self,
        hardware: Capacity,
        *,
        limit: int = 1,
        groups: Iterable[str] = (),
        older_than: int = 0,
        wait: float = 0,
    ) -> dict[str, JobSpecs]:
        """Lease up to ``limit`` jobs that fit ``hardware``: ``{job id: spec}``, maybe empty.

        ``wait`` asks the server to hold an empty answer that long (long poll); a
        server that does not know the parameter answers at once. A spec that does
        not parse is reported to the server as ``error`` and left out.
        """
        params: dict[str, Any] = {
            "memory": hardware.memory_mb,
            "cpu_cores": hardware.cpu_cores,
            "gpu_mem": hardware.gpu_mem_mb,
            "gpus": hardware.gpus,
            "limit": limit,
            "older_than": older_than,
        }
        if hardware.gpu_model:
            params["gpu_model"] = hardware.gpu_model
        if hardware.gpu_archi:
            params["gpu_archi"] = hardware.gpu_archi
        if groups := list(groups):
            params["groups"] = groups
        if wait > 0:
            params["wait"] = int(wait) if float(wait).is_integer() else wait
        timeout = httpx.Timeout(wait + 60.0, connect=10.0)
        try:
            resp = self._send("GET", "jobs", params=params, timeout=timeout)
        except ApiError as exc:
            if exc.status_code == 403:  # e.g. the account is not in the `workers` group
                raise AuthError(f"this account may not lease jobs: {exc}", 403) from None
            raise
        jobs: dict[str, JobSpecs] = {}
        for job_id, raw in (resp.json() or {}).items():
            try:
                jobs[str(job_id)] = JobSpecs.model_validate(raw)
            except ValidationError as exc:
                log.error("job %s: unreadable job spec: %s", job_id, exc)
                self.set_status(
                    str(job_id),
                    JobStatus.error,
                    f"the worker could not read the job spec: {exc}"[:1000],
                )
        return jobs

    def set_status(
        self, job_id: str, status: JobStatus | str, runtime_details: str | None = None
    ) -> None:
        """Report (or re-send, as keep-alive) a job's status; raises :class:`JobGone` on 404."""
        params = {"status": JobStatus(status).value}
        if runtime_details is not None:
            params["runtime_details"] = runtime_details
        self._send("PUT", f"jobs/{_seg(job_id)}/status", job_id=job_id, params=params)

    def get_status(self, job_id: str) -> JobStatus:
        """The server's view of a job's status."""
        resp = self._send("GET", f"jobs/{_seg(job_id)}/status", job_id=job_id)
        return JobStatus(resp.json())

    def release(self, job_id: str) -> bool:
        """Hand a job back to the queue (labcloud extension); False if the server lacks it."""
        try:
            self._send("POST", f"jobs/{_seg(job_id)}/release")
        except ApiError as exc:
            if exc.status_code in (404, 405):
                return False
            raise
        return True

    def download_input(self, file_uri: str, dest_path: Path | str) -> int:
        """Fetch one input (``GET /files/{uri}/url``, then the returned request) to ``dest_path``.

        Streams to a temporary file next to the target and renames it into place,
        so a failed download leaves nothing half-written. Returns the byte count.
        """
        dest = Path(dest_path)

        def once() -> int:
            try:
                resp = self._send("GET", file_url_path(file_uri).lstrip("/"))
            except ApiError as exc:
                if exc.status_code == 404:
                    raise FileMissing(f"input {file_uri} not found", 404) from None
                raise
            request = FileRequest.parse(resp.json(), "GET", self.api_url)
            return self._stream_to_file(request, dest, file_uri)

        return self._retrying(f"download of {file_uri}", once)

    def upload_output(
        self, job_id: str, kind: OutputKind | str, base_path: str, local_file: Path | str
    ) -> None:
        """Upload one output file: ``POST /jobs/{id}/files/url``, then a multipart POST.

        The file goes in field ``file`` under its own name, after the returned
        ``data`` fields (an S3 presigned POST needs them first); it is streamed
        from disk. Symlinks are refused, whatever the caller checked before.
        """
        path = Path(local_file)
        params = {"type": OutputKind(kind).value, "base_path": base_path}

        def once() -> None:
            url_path = f"jobs/{_seg(job_id)}/files/url"
            resp = self._send("POST", url_path, job_id=job_id, params=params)
            self._post_file(FileRequest.parse(resp.json(), "POST", self.api_url), path, job_id)

        self._retrying(f"upload of {path.name}", once)

    # --- transfers --------------------------------------------------------------

    def _retrying(self, what: str, once: Callable[[], T]) -> T:
        # The whole exchange is retried: a presigned URL may have expired meanwhile.
        for attempt in range(1, self._tries + 1):
            try:
                return once()
            except _Transient as exc:
                if attempt == self._tries:
                    raise ApiError(f"{what} failed: {exc}") from None
                self._pause(attempt, f"{what}: {exc}")
        raise AssertionError("unreachable")

    def _stream_to_file(self, request: FileRequest, dest: Path, uri: str) -> int:
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            with self._http.stream(request.method, request.url, headers=request.headers) as r:
                if r.status_code in RETRY_STATUSES:
                    raise _Transient(f"HTTP {r.status_code}")
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
            raise _Transient(str(exc) or type(exc).__name__) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def _post_file(self, request: FileRequest, path: Path, job_id: str) -> None:
        # The multipart body sets its own Content-Type (with the boundary).
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("content-type", "content-length")
        }
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            try:
                r = self._http.request(
                    request.method,
                    request.url,
                    headers=headers,
                    data=request.data,
                    files={"file": (path.name, f)},
                )
            except httpx.TransportError as exc:
                raise _Transient(str(exc) or type(exc).__name__) from exc
        if r.status_code in RETRY_STATUSES:
            raise _Transient(f"HTTP {r.status_code}")
        if r.status_code == 404:
            raise JobGone(job_id)
        if r.status_code >= 400:
            raise ApiError(
                f"upload of {path.name}: HTTP {r.status_code}: {r.text[:200]}", r.status_code
            )

    # --- requests, retries, tokens ------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        job_id: str | None = None,
        authed: bool = True,
        url: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        # Concatenated, not URL.join(): joining collapses the `//` of `local://...`.
        target = url or f"{self.api_url}{path}"
        relogged = False
        attempt = 0
        while True:
            attempt += 1
            headers = {"X-Worker-Id": self.worker_id}
            token = self._bearer() if authed else None
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            try:
                resp = self._http.request(method, target, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                if attempt >= self._tries:
                    raise ApiError(f"{method} {target}: {exc or type(exc).__name__}") from exc
                self._pause(attempt, f"{method} {target}: {exc or type(exc).__name__}")
                continue
            code = resp.status_code
            if code == 401 and token is not None and self._can_login and not relogged:
                # Revoked or expired early (clock skew): log in again once, for free.
                relogged = True
                attempt -= 1
                self._forget(token)
                continue
            if code == 404 and job_id is not None:
                raise JobGone(job_id)
            if code in RETRY_STATUSES and attempt < self._tries:
                self._pause(
                    attempt, f"{method} {target}: HTTP {code}", resp.headers.get("Retry-After")
                )
                continue
            if code >= 400:
                kind = AuthError if code == 401 else ApiError
                raise kind(f"{method} {target}: HTTP {code}: {_detail(resp)}", code)
            return resp

    @property
    def _can_login(self) -> bool:
        return self._static_token is None

    def _bearer(self) -> str:
        with self._token_lock:
            if self._static_token is not None:
                return self._static_token
            lifetime_left = self._expiry - self._clock()
            if self._token is None or lifetime_left < self._min_validity_s:
                self._login()
            assert self._token is not None
            return self._token

    def _forget(self, token: str) -> None:
        with self._token_lock:
            if self._token == token:  # another thread may have logged in already
                self._token = None

    def _login(self) -> None:
        form = {"username": self._username or "", "password": self._password or ""}
        try:
            resp = self._send("POST", "", url=f"{self._auth_url}/token", authed=False, data=form)
        except ApiError as exc:
            if exc.status_code in (400, 401, 403, 404):
                raise AuthError(f"login as {self._username!r} failed: {exc}", 401) from None
            raise
        body = resp.json()
        now = self._clock()
        token = str(body["id_token"])
        self._token, self._expiry = token, _token_expiry(token, body.get("expires_in"), now)
        # A server issuing short tokens must not make us log in before every call.
        self._min_validity_s = min(self._min_validity_s, max(0.0, (self._expiry - now) / 2))
        self.logins += 1
        log.info("logged in as %s (token valid for %.0f s)", self._username, self._expiry - now)

    def _pause(self, attempt: int, what: str, retry_after: str | None = None) -> None:
        delay = min(self._backoff_max_s, self._backoff_s * 2 ** (attempt - 1))
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), self._backoff_max_s))
        log.warning("%s; retry %d/%d in %.1f s", what, attempt, self._tries - 1, delay)
        self._sleep(delay)


def _absolute(url: str, base: httpx.URL) -> str:
    # A relative URL (local storage's /download or /upload) points at the worker API.
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", url):
        return url
    if url.startswith("/"):
        return f"{base.scheme}://{base.netloc.decode('ascii')}{url}"
    return f"{base}{url}"


def _seg(job_id: str) -> str:
    return quote(str(job_id), safe="")


def _detail(resp: httpx.Response) -> str:
    try:
        detail = resp.json().get("detail", resp.text)
    except (ValueError, AttributeError):
        detail = resp.text
    return str(detail)[:300]
