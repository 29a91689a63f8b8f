"""Errors the services of both APIs raise, and their one mapping to HTTP answers.

Services raise these (no FastAPI in services); `register_error_handlers` turns
each into one status code with `{"detail": message}` (`ErrorMessage`), and makes
FastAPI's own 422 answer safe for any input. `error_responses` documents them in the
OpenAPI specs, so that the specs list every status a route answers.
"""

from __future__ import annotations

import errno
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from shared.storage.base import OutsideScope
from shared.storage.paths import UnsafePath


class ServiceError(Exception):
    """Base: `str(exc)` is a message fit for the client."""


class NotFound(ServiceError):
    """Unknown, or not (any longer) yours (404); for a worker, the cue to stop the job."""


class Forbidden(ServiceError):
    """The caller may not touch this object (403)."""


class Conflict(ServiceError):
    """The object's state does not allow this (409)."""


class BadRequest(ServiceError):
    """The request itself is invalid (400)."""


class NotAllowed(ServiceError):
    """The operation is not allowed on this object (405, as DECODE answers)."""


class InvalidField(ServiceError):
    """A request field is invalid; `loc` points at it the way FastAPI's 422 does."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


STATUS: dict[type[ServiceError], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    BadRequest: 400,
    NotAllowed: 405,
}


class ErrorMessage(BaseModel):
    """Every error but validation errors (422): what is wrong, for a person to read."""

    detail: str = Field(examples=["job not found"])


#: What each error status means, as the specs say it.
DESCRIPTIONS = {
    400: "Invalid request: the message says what is wrong",
    401: "Missing or invalid credentials",
    403: "Not allowed for this account",
    404: "Not found, or not yours",
    405: "Not allowed on this object",
    409: "The object's state does not allow this",
    413: "Over a size limit (the message names the setting)",
    415: "Unsupported content type",
    429: "Over a limit of things at once (the message names the setting)",
    503: "Busy: try again shortly (see Retry-After)",
    507: "Over the storage quota",
}


def error_responses(
    *codes: int, notes: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route or router for these error statuses (`ErrorMessage`);
    `notes` says what a status means on this route instead of the generic words."""
    notes = notes or {}
    # `content` too: FastAPI documents a `model` under the route's media type, which
    # for a stream (text/event-stream) is not what an error is sent as.
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorMessage"}}}
    return {
        code: {
            "model": ErrorMessage,
            "content": content,
            "description": notes.get(code, DESCRIPTIONS[code]),
        }
        for code in (*codes, *notes)
    }


def _json_safe(value: Any) -> Any:
    """`value` as JSON can carry it: a 422 echoes the input, which may be raw bytes that
    are not UTF-8, NaN or infinity (FastAPI's own handler fails on those: a 500)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def validation_errors(errors: Any) -> list[dict[str, Any]]:
    """FastAPI's `detail` list (loc, msg, type, input, ctx), safe to send as JSON."""
    return [_json_safe(dict(error)) for error in errors]


def register_error_handlers(app: FastAPI) -> None:
    async def on_service_error(_request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, InvalidField):
            # Same shape as FastAPI's own validation errors, which DECODE's frontend shows.
            detail = [{"loc": list(exc.loc), "msg": str(exc), "type": "value_error"}]
            return JSONResponse({"detail": detail}, status_code=422)
        code = next((c for cls, c in STATUS.items() if isinstance(exc, cls)), 400)
        return JSONResponse({"detail": str(exc)}, status_code=code)

    async def on_unsafe_path(_request: Request, exc: Exception) -> JSONResponse:
        # e.g. a symlink in storage that leads out of the root
        return JSONResponse({"detail": f"invalid path: {exc}"}, status_code=400)

    async def on_outside_scope(_request: Request, exc: Exception) -> JSONResponse:
        # a key outside the caller's folder, or a link placed by hand that leads out of it
        return JSONResponse({"detail": str(exc)}, status_code=403)

    async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"detail": validation_errors(exc.errors())}, status_code=422)

    async def on_os_error(_request: Request, exc: Exception) -> JSONResponse:
        # A name or path the file system cannot hold (the storage root counts too);
        # anything else is a fault of the service and stays a 500.
        if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
            return JSONResponse({"detail": "invalid path: too long for the storage"}, 400)
        raise exc

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(UnsafePath, on_unsafe_path)
    app.add_exception_handler(OutsideScope, on_outside_scope)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(OSError, on_os_error)
