"""Map service errors to HTTP answers in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from userfacing_api.services.errors import (
    BadRequest,
    Conflict,
    InvalidField,
    NotAllowed,
    NotFound,
    ServiceError,
)

STATUS = {NotFound: 404, Conflict: 409, BadRequest: 400, NotAllowed: 405}


def register_error_handlers(app: FastAPI) -> None:
    async def on_service_error(_request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, InvalidField):
            # Same shape as FastAPI's own validation errors, which DECODE's frontend shows.
            detail = [{"loc": list(exc.loc), "msg": str(exc), "type": "value_error"}]
            return JSONResponse({"detail": detail}, status_code=422)
        code = next((c for cls, c in STATUS.items() if isinstance(exc, cls)), 400)
        return JSONResponse({"detail": str(exc)}, status_code=code)

    app.add_exception_handler(ServiceError, on_service_error)
