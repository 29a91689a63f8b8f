"""`MAX_REQUEST_BYTES`: the most bytes any request body may have, checked before the
app sees it.

A body announced bigger (`Content-Length`) is refused at once, unread; a body without
one (chunked) is counted as it is received and refused as soon as it passes the limit,
so at most `max_bytes` of it are ever held. Routes that stream their body into storage
(file uploads) have a limit of their own (`MAX_UPLOAD_BYTES`) and are exempted.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.api.limits import register_limit_handler, size_text

SETTING = "MAX_REQUEST_BYTES"


def too_large_message(max_bytes: int) -> str:
    return f"the request body is too large: at most {size_text(max_bytes)} ({SETTING})"


class BodyTooLarge(HTTPException):
    """Raised from `receive` once the body passes the limit. An HTTPException, so that
    FastAPI, which wraps other errors of body parsing into a 400, lets it through."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, too_large_message(max_bytes), headers={"Connection": "close"})


def announced_length(scope: Scope) -> int | None:
    """The request's Content-Length, if it has a valid one."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def is_streamed_upload(scope: Scope) -> bool:
    """The file-upload routes of both APIs (`POST …/upload`), which stream their body into
    storage under MAX_UPLOAD_BYTES (see `shared.api.uploads`)."""
    return scope.get("method") == "POST" and str(scope.get("path", "")).endswith("/upload")


def install_limits(app: FastAPI, max_request_bytes: int) -> None:
    """Bound every request body of `app` but the uploads', and answer every limit refusal
    (`shared.api.limits`) with its status. Call before adding CORS, so that a refusal
    still carries CORS headers and a browser can read it."""
    app.add_middleware(RequestBodyLimit, max_bytes=max_request_bytes, exempt=is_streamed_upload)
    register_limit_handler(app)


class RequestBodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`, unless `exempt(scope)`."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, exempt: Callable[[Scope], bool] = lambda _s: False
    ) -> None:
        self.app, self.max_bytes, self.exempt = app, max_bytes, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.exempt(scope):
            await self.app(scope, receive, send)
            return
        length = announced_length(scope)
        if length is not None and length > self.max_bytes:
            await _refuse(send, self.max_bytes)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            if started:  # the app read its body while answering: nothing else to do
                raise
            await _refuse(send, self.max_bytes)


async def _refuse(send: Send, max_bytes: int) -> None:
    body = json.dumps({"detail": too_large_message(max_bytes)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
