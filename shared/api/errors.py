"""Errors the services of both APIs raise, and their one mapping to HTTP answers.

Services raise these (no FastAPI in services); `register_error_handlers` turns
each into one status code with `{"detail": message}`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(UnsafePath, on_unsafe_path)
    app.add_exception_handler(OutsideScope, on_outside_scope)
