"""Refusals for going over a limit (413, 429, 507), and their one mapping to HTTP answers.

Each names the limit and the setting that sets it, so that the user knows what was
refused and the operator what to change. Services raise them (no FastAPI there);
`register_limit_handler` answers `{"detail": message}`; a 413 or 507 also with
`Connection: close`, since the refused request may still be sending a body nobody reads.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shared.api.errors import ServiceError
from shared.settings import GIB, KIB, MIB


def size_text(n: int) -> str:
    """Bytes as a person reads them: exact, with a binary unit where one fits."""
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= size:
            shown = f"{n / size:.1f}".removesuffix(".0")
            return f"{n} bytes ({shown} {unit})"
    return f"{n} bytes"


class LimitExceeded(ServiceError):
    """Over a limit; `status` is the HTTP answer, `setting` the env name of the limit."""

    status = 413
    close_connection = True

    def __init__(self, message: str, setting: str) -> None:
        super().__init__(f"{message} ({setting})")
        self.setting = setting


class TooLarge(LimitExceeded):
    """The request, or something in it, is bigger than a limit allows (413)."""

    status = 413


class TooMany(LimitExceeded):
    """The caller already has as many of something as a limit allows (429)."""

    status = 429
    close_connection = False  # the request was read whole: keep the connection


class OverQuota(LimitExceeded):
    """Storing this would take the caller over their storage quota (507)."""

    status = 507


def register_limit_handler(app: FastAPI) -> None:
    """Answer every `LimitExceeded` with its status and message (the more specific handler
    wins over the one `register_error_handlers` installs for all service errors)."""

    async def on_limit(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, LimitExceeded)
        headers = {"Connection": "close"} if exc.close_connection else None
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)

    app.add_exception_handler(LimitExceeded, on_limit)
