"""Map service errors to HTTP answers in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from workerfacing_api.services.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ServiceError,
)

STATUS = {NotFound: 404, Forbidden: 403, Conflict: 409, BadRequest: 400}


def register_error_handlers(app: FastAPI) -> None:
    async def on_service_error(_request: Request, exc: Exception) -> JSONResponse:
        code = next((c for cls, c in STATUS.items() if isinstance(exc, cls)), 400)
        return JSONResponse({"detail": str(exc)}, status_code=code)

    app.add_exception_handler(ServiceError, on_service_error)
