"""What can go wrong talking to labcloud, as exceptions that say what the server said.

Every error the SDK raises is a :class:`LabcloudError`; the subclass tells the
kind (the CLI maps each to its own exit code), and ``str(error)`` reads like
``GET /files/data/nope/: 404 Not Found: 'data/nope/' is not a directory``.
"""

from __future__ import annotations

from typing import Any

import httpx


class LabcloudError(Exception):
    """Base class: the request, the HTTP status and the server's own explanation."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        detail: Any = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail
        self.method = method
        self.path = path


class AuthError(LabcloudError):
    """Not logged in, wrong user name or password, an expired session, or not allowed (401/403)."""


class NotFoundError(LabcloudError):
    """The file, folder, job or application does not exist, or is not yours (404)."""


class RequestRejected(LabcloudError):
    """The server refused the request as invalid or not allowed (400, 405, 422)."""


class ConflictError(RequestRejected):
    """The request clashes with what exists, e.g. a job name already taken (409)."""


class ServerError(LabcloudError):
    """The server failed (5xx) or answered something the SDK cannot read."""


class ConnectionFailed(LabcloudError):
    """The server could not be reached, or the connection broke or timed out."""


def describe_detail(detail: Any) -> str:
    """FastAPI's `detail`, readable: a string as is, a validation list as `where: what`."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = [str(p) for p in item.get("loc", []) if p != "body"]
                msg = str(item.get("msg", item))
                parts.append(f"{' → '.join(loc)}: {msg}" if loc else msg)
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if detail is None:
        return ""
    return str(detail)


def error_from_response(response: httpx.Response) -> LabcloudError:
    """The exception for an unsuccessful response (the body must have been read)."""
    try:
        body = response.json()
        detail = body.get("detail", body) if isinstance(body, dict) else body
    except ValueError:
        detail = response.text.strip()[:500] or None
    code = response.status_code
    method, path = response.request.method, response.request.url.path
    explained = describe_detail(detail)
    message = f"{method} {path}: {code} {response.reason_phrase}"
    if explained:
        message += f": {explained}"
    cls: type[LabcloudError]
    if code in (401, 403):
        cls = AuthError
    elif code == 404:
        cls = NotFoundError
    elif code == 409:
        cls = ConflictError
    elif code >= 500:
        cls = ServerError
    else:
        cls = RequestRejected
    return cls(message, status_code=code, detail=detail, method=method, path=path)


def connection_error(exc: httpx.HTTPError, url: str) -> ConnectionFailed:
    """A transport failure (refused, DNS, timeout, broken stream) as a ConnectionFailed."""
    reason = str(exc) or type(exc).__name__
    return ConnectionFailed(f"cannot reach {url}: {reason}")
