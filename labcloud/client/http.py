"""The one place the SDK talks HTTP: base URL, bearer token, errors, re-login."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx

from labcloud.client.config import Session
from labcloud.client.errors import (
    AuthError,
    LabcloudError,
    ServerError,
    connection_error,
    error_from_response,
)

RETRY_STATUSES = frozenset({502, 503, 504})


def url_path(path: str) -> str:
    """A user path made safe for a URL: each segment percent-encoded, slashes kept."""
    return quote(path, safe="/")


class Connection:
    """An httpx client bound to one server and (maybe) one session.

    `relogin`, when set, is called to get a fresh session once the current one
    has expired or is refused (a client that logged in with a password).
    """

    def __init__(
        self,
        url: str,
        session: Session | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        verify: bool = True,
    ) -> None:
        self.url = url
        self.session = session
        self.relogin: Callable[[], Session] | None = None
        self.http = httpx.Client(
            base_url=url,
            timeout=timeout,
            transport=transport,
            verify=verify,
            headers={"User-Agent": "labcloud-client"},
        )

    def close(self) -> None:
        self.http.close()

    # --- auth -----------------------------------------------------------------

    def auth_headers(self, required: bool = True) -> dict[str, str]:
        """The Authorization header; AuthError when there is no usable session."""
        session = self.session
        if session is not None and session.expired(margin_s=30) and self.relogin is not None:
            session = self.session = self.relogin()
        if session is None:
            if not required:
                return {}
            raise AuthError(f"not logged in to {self.url}: run `labcloud login` (or give a token)")
        if session.expired():
            assert session.expires_at is not None
            when = dt.datetime.fromtimestamp(session.expires_at).astimezone()
            raise AuthError(
                f"your session on {self.url} expired at {when:%Y-%m-%d %H:%M:%S %Z}: "
                "log in again (`labcloud login`)"
            )
        return {"Authorization": f"Bearer {session.token}"}

    def _explain_auth(self, error: LabcloudError) -> LabcloudError:
        if isinstance(error, AuthError) and error.status_code == 401:
            error.args = (f"{error.args[0]} — log in again (`labcloud login`)",)
        return error

    # --- requests -------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        ok: tuple[int, ...] = (),
        retries: int = 2,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request; raise the matching LabcloudError unless it succeeded.

        Statuses in `ok` are returned as they are (e.g. 404 when "absent" is an
        answer). Idempotent methods are retried on connection errors and 502-504.
        """
        idempotent = method in ("GET", "HEAD", "PUT", "DELETE")
        extra_headers = kwargs.pop("headers", {})
        for attempt in range(retries + 1):
            headers = {**extra_headers, **self.auth_headers(auth)}
            try:
                response = self.http.request(method, path, headers=headers, **kwargs)
            except httpx.HTTPError as exc:
                if idempotent and attempt < retries:
                    time.sleep(0.5 * 2**attempt)
                    continue
                raise connection_error(exc, self.url) from None
            if response.status_code == 401 and self.relogin is not None and attempt < retries:
                self.session = self.relogin()
                continue
            if response.status_code in RETRY_STATUSES and idempotent and attempt < retries:
                time.sleep(0.5 * 2**attempt)
                continue
            if response.is_success or response.status_code in ok:
                return response
            raise self._explain_auth(error_from_response(response))
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """`request`, then the body as JSON (ServerError if it is not JSON)."""
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ServerError(
                f"{method} {path}: the server answered {response.status_code} "
                f"with something that is not JSON: {response.text[:200]!r}"
            ) from None

    @contextlib.contextmanager
    def stream(
        self, method: str, path: str, *, timeout: httpx.Timeout | None = None, **kwargs: Any
    ) -> Iterator[httpx.Response]:
        """A streamed response (checked like `request`; the body is read on error)."""
        headers = {**kwargs.pop("headers", {}), **self.auth_headers()}
        try:
            with self.http.stream(
                method, path, headers=headers, timeout=timeout or self.http.timeout, **kwargs
            ) as response:
                if not response.is_success:
                    response.read()
                    raise self._explain_auth(error_from_response(response))
                yield response
        except httpx.HTTPError as exc:
            raise connection_error(exc, self.url) from None
