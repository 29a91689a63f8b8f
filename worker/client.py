"""Client of the worker-facing API: DECODE's worker protocol plus labcloud's extensions.

One :class:`WorkerClient` per worker process, shared by its job threads
(``httpx.Client`` is thread-safe). Every call carries the bearer token and the
process's ``X-Worker-Id``; transient failures (connection errors, 429, 5xx) are
retried with exponential backoff, and a 404 on a job's endpoint raises
:class:`JobGone`: the server no longer counts the job as ours.

Fencing: ``GET /jobs`` puts the lease's attempt number in each spec
(``meta.extra["attempt"]``, see :func:`lease_attempt`). Every call about the job
then passes it as ``attempt=`` and sends it as ``X-Labcloud-Attempt``, also on a
file transfer that goes to the worker API itself; the server answers 404 to a
superseded attempt, so a worker that lost its lease cannot touch the new one.

Job ids are the keys of the ``GET /jobs`` answer, as DECODE's worker uses them
for ``/jobs/{id}/status`` and ``/jobs/{id}/files/url``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from shared.jobs.specs import JobSpecs, OutputKind
from shared.jobs.states import JobStatus
from shared.log_context import job_fields
from worker import transfer
from worker.errors import ApiError, AuthError, FileMissing, JobGone
from worker.hardware import Capacity
from worker.login import cognito_login, token_expiry
from worker.transfer import RETRY_STATUSES, FileRequest, file_url_path

if TYPE_CHECKING:
    from worker.settings import WorkerSettings

__all__ = [
    "ATTEMPT_HEADER",
    "ApiError",
    "AuthError",
    "FileMissing",
    "FileRequest",
    "JobGone",
    "WorkerClient",
    "file_url_path",
    "lease_attempt",
]

log = logging.getLogger(__name__)

#: Re-login when the token has less than this many seconds left (as DECODE's worker).
MIN_VALIDITY_S = 300
#: Header carrying the attempt number of the lease a call is about.
ATTEMPT_HEADER = "X-Labcloud-Attempt"
#: FastAPI's 404 detail for a path it does not serve (an older server), as opposed to
#: a job that is no longer ours.
_NO_SUCH_ROUTE = "Not Found"


def lease_attempt(extra: Mapping[str, Any] | None) -> int | None:
    """The attempt number the server put in a spec's ``meta.extra``; None if absent.

    Older servers send none; then calls go out unfenced, as before.
    """
    value = (extra or {}).get("attempt")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


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
        api_key: str | None = None,
        login: Callable[[str, str], tuple[str, Any]] | None = None,
        worker_id: str | None = None,
        tries: int = 6,
        backoff_s: float = 1.0,
        backoff_max_s: float = 30.0,
        min_validity_s: float = MIN_VALIDITY_S,
        timeout_s: float = 60.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if (
            token is None
            and api_key is None
            and not ((auth_url or login) and username and password)
        ):
            raise ValueError("give a token, an API key, or auth_url (or login), username, password")
        self.api_url = httpx.URL(api_url.rstrip("/") + "/")
        self.worker_id = worker_id or str(uuid.uuid4())
        self._auth_url = (auth_url or "").rstrip("/")
        self._username, self._password = username, password
        self._static_token = token
        # The internal API key makes this client the worker API's own cloud poller.
        self._api_key = api_key
        self._password_login = login or self._user_api_login
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
    def from_settings(cls, settings: WorkerSettings, **options: Any) -> WorkerClient:
        """The client that the worker's settings describe (``options``: see __init__)."""
        secret = settings.password.get_secret_value() if settings.password else None
        token = settings.token.get_secret_value() if settings.token else None
        api_key = settings.api_key.get_secret_value() if settings.api_key else None
        login = None
        if settings.cognito_client_id:
            login = cognito_login(
                settings.cognito_client_id,
                settings.cognito_client_secret.get_secret_value()
                if settings.cognito_client_secret
                else None,
                settings.cognito_region,
            )
        return cls(
            settings.api_url,
            auth_url=settings.auth_url,
            username=settings.username,
            password=secret,
            token=token,
            api_key=api_key,
            login=login,
            worker_id=settings.id,
            **options,
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
        runners: Iterable[str] = (),
        older_than: int = 0,
        wait: float = 0,
    ) -> dict[str, JobSpecs]:
        """Lease up to ``limit`` jobs that fit ``hardware``: ``{job id: spec}``, maybe empty.

        ``runners`` are the runners this worker may use (query ``runners``,
        repeated): the server offers a job needing another runner than docker
        only to workers that list it. ``wait`` asks the server to hold an empty
        answer that long (long poll); a server that does not know the parameter
        answers at once. A spec that does not parse is reported to the server as
        ``error`` and left out.
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
        if runners := list(runners):
            params["runners"] = runners
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
                log.error("job %s: unreadable job spec: %s", job_id, exc, extra=job_fields(job_id))
                self.set_status(
                    str(job_id),
                    JobStatus.error,
                    f"the worker could not read the job spec: {exc}"[:1000],
                    attempt=_raw_attempt(raw),
                )
        return jobs

    def set_status(
        self,
        job_id: str,
        status: JobStatus | str,
        runtime_details: str | None = None,
        *,
        attempt: int | None = None,
    ) -> None:
        """Report (or re-send, as keep-alive) a job's status; raises :class:`JobGone` on 404."""
        params = {"status": JobStatus(status).value}
        if runtime_details is not None:
            params["runtime_details"] = runtime_details
        self._send(
            "PUT", f"jobs/{_seg(job_id)}/status", job_id=job_id, attempt=attempt, params=params
        )

    def get_status(self, job_id: str, *, attempt: int | None = None) -> JobStatus:
        """The server's view of a job's status."""
        resp = self._send("GET", f"jobs/{_seg(job_id)}/status", job_id=job_id, attempt=attempt)
        return JobStatus(resp.json())

    def release(self, job_id: str, *, attempt: int | None = None, failed: bool = False) -> bool:
        """Hand a job back to the queue (labcloud extension); not a failed attempt unless
        ``failed`` (its run was lost).

        False if the server lacks the call, or (404) no longer counts the job as ours.
        """
        params = {"failed": "true"} if failed else None
        try:
            self._send("POST", f"jobs/{_seg(job_id)}/release", attempt=attempt, params=params)
        except ApiError as exc:
            if exc.status_code in (404, 405):
                return False
            raise
        return True

    def send_log(self, job_id: str, offset: int, text: str, *, attempt: int | None = None) -> bool:
        """Send the new part of a running job's output (labcloud extension, live logs):
        ``text`` starts at character ``offset`` of the run's output.

        Idempotent on ``offset`` at the server. False if the server lacks the call (an
        older worker API); raises :class:`JobGone` when the job is no longer ours.
        """
        try:
            self._send(
                "POST",
                f"jobs/{_seg(job_id)}/log",
                attempt=attempt,
                json={"offset": offset, "text": text},
            )
        except ApiError as exc:
            if exc.status_code == 405 or (exc.status_code == 404 and exc.detail == _NO_SUCH_ROUTE):
                return False
            if exc.status_code == 404:
                raise JobGone(job_id) from None
            raise
        return True

    def download_input(
        self, file_uri: str, dest_path: Path | str, *, attempt: int | None = None
    ) -> int:
        """Fetch one input (``GET /files/{uri}/url``, then the returned request) to ``dest_path``.

        Streams to a temporary file next to the target and renames it into place,
        so a failed download leaves nothing half-written. Returns the byte count.
        ``attempt`` is the lease of the job that needs the input.
        """
        dest = Path(dest_path)

        def once() -> int:
            try:
                resp = self._send("GET", file_url_path(file_uri).lstrip("/"), attempt=attempt)
            except ApiError as exc:
                if exc.status_code == 404:
                    raise FileMissing(f"input {file_uri} not found", 404) from None
                raise
            request = self._file_request(resp, "GET", attempt)
            return transfer.stream_to_file(self._http, request, dest, file_uri)

        return transfer.retrying(f"download of {file_uri}", once, self._tries, self._pause)

    def upload_output(
        self,
        job_id: str,
        kind: OutputKind | str,
        base_path: str,
        local_file: Path | str,
        *,
        attempt: int | None = None,
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
            resp = self._send("POST", url_path, job_id=job_id, attempt=attempt, params=params)
            request = self._file_request(resp, "POST", attempt)
            transfer.post_file(self._http, request, path, job_id)

        transfer.retrying(f"upload of {path.name}", once, self._tries, self._pause)

    def _file_request(
        self, resp: httpx.Response, default_method: str, attempt: int | None
    ) -> FileRequest:
        request = FileRequest.parse(resp.json(), default_method, self.api_url)
        # Fenced like any job call when it goes back to us; never leaked to S3 & co.
        if attempt is not None and transfer.is_below(request.url, self.api_url):
            request = request.with_header(ATTEMPT_HEADER, str(attempt))
        return request

    # --- requests, retries, tokens ------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        job_id: str | None = None,
        attempt: int | None = None,
        authed: bool = True,
        url: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        # Concatenated, not URL.join(): joining collapses the `//` of `local://...`.
        target = url or f"{self.api_url}{path}"
        relogged = False
        tries = 0
        while True:
            tries += 1
            headers = {"X-Worker-Id": self.worker_id}
            if attempt is not None:
                headers[ATTEMPT_HEADER] = str(attempt)
            if authed and self._api_key is not None:
                headers["X-API-KEY"] = self._api_key
            token = self._bearer() if authed and self._api_key is None else None
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            try:
                resp = self._http.request(method, target, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                if tries >= self._tries:
                    raise ApiError(f"{method} {target}: {exc or type(exc).__name__}") from exc
                self._pause(tries, f"{method} {target}: {exc or type(exc).__name__}")
                continue
            code = resp.status_code
            if code == 401 and token is not None and self._can_login and not relogged:
                # Revoked or expired early (clock skew): log in again once, for free.
                relogged = True
                tries -= 1
                self._forget(token)
                continue
            if code == 404 and job_id is not None:
                raise JobGone(job_id)
            if code in RETRY_STATUSES and tries < self._tries:
                self._pause(
                    tries, f"{method} {target}: HTTP {code}", resp.headers.get("Retry-After")
                )
                continue
            if code >= 400:
                kind = AuthError if code == 401 else ApiError
                detail = _detail(resp)
                raise kind(f"{method} {target}: HTTP {code}: {detail}", code, detail)
            return resp

    @property
    def _can_login(self) -> bool:
        return self._static_token is None and self._api_key is None

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
        now = self._clock()
        token, expires_in = self._password_login(self._username or "", self._password or "")
        self._token, self._expiry = token, token_expiry(token, expires_in, now)
        # A server issuing short tokens must not make us log in before every call.
        self._min_validity_s = min(self._min_validity_s, max(0.0, (self._expiry - now) / 2))
        self.logins += 1
        log.info("logged in as %s (token valid for %.0f s)", self._username, self._expiry - now)

    def _user_api_login(self, username: str, password: str) -> tuple[str, Any]:
        """Log in with the user API's `POST /token` (local accounts, or its Cognito proxy)."""
        form = {"username": username, "password": password}
        try:
            resp = self._send("POST", "", url=f"{self._auth_url}/token", authed=False, data=form)
        except ApiError as exc:
            if exc.status_code in (400, 401, 403, 404):
                raise AuthError(f"login as {username!r} failed: {exc}", 401) from None
            raise
        body = resp.json()
        return str(body["id_token"]), body.get("expires_in")

    def _pause(self, tries: int, what: str, retry_after: str | None = None) -> None:
        delay = min(self._backoff_max_s, self._backoff_s * 2 ** (tries - 1))
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), self._backoff_max_s))
        log.warning("%s; retry %d/%d in %.1f s", what, tries, self._tries - 1, delay)
        self._sleep(delay)


def _raw_attempt(raw: Any) -> int | None:
    # The attempt of a spec that did not parse, if its meta is readable at all.
    meta = raw.get("meta") if isinstance(raw, Mapping) else None
    extra = meta.get("extra") if isinstance(meta, Mapping) else None
    return lease_attempt(extra) if isinstance(extra, Mapping) else None


def _seg(job_id: str) -> str:
    return quote(str(job_id), safe="")


def _detail(resp: httpx.Response) -> str:
    try:
        detail = resp.json().get("detail", resp.text)
    except (ValueError, AttributeError):
        detail = resp.text
    return str(detail)[:300]
