"""`MAX_REQUEST_HEADER_BYTES`: the most bytes a request's head (request line and headers)
may have, enforced by the HTTP server itself, before any app code runs.

uvicorn offers one option for this, `h11_max_incomplete_event_size`, and it holds only
for its h11 parser (answered with a bare 400), not for httptools, which it prefers when
installed (as `uvicorn[standard]` does) and which has no bound at all. So the APIs run
httptools through `LimitedHttpTools`, which counts a request's head as it arrives:
a head that passes the limit is answered 431 with a message naming the setting, and
the connection is closed; at most the limit plus one network read is ever buffered.
Without httptools, h11 is used with uvicorn's option.
"""

from __future__ import annotations

import json
from typing import Any

from shared.api.limits import size_text

SETTING = "MAX_REQUEST_HEADER_BYTES"
STATUS = 431  # Request Header Fields Too Large (RFC 6585)


def too_large_message(max_bytes: int) -> str:
    return (
        f"the request line and headers are too large: at most {size_text(max_bytes)} ({SETTING})"
    )


def _answer(max_bytes: int) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"detail": too_large_message(max_bytes)}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    return headers, body


def uvicorn_options(max_header_bytes: int) -> dict[str, Any]:
    """The `uvicorn.Config` / `uvicorn.run` options that bound request heads."""
    try:
        protocol = limited_httptools(max_header_bytes)
    except ImportError:
        return {"http": "h11", "h11_max_incomplete_event_size": max_header_bytes}
    return {"http": protocol, "h11_max_incomplete_event_size": max_header_bytes}


def limited_httptools(max_header_bytes: int) -> type:
    """uvicorn's httptools protocol, bounded to `max_header_bytes` per request head."""
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

    headers, body = _answer(max_header_bytes)

    async def refuse(_scope: Any, _receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": STATUS, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    raw_answer = STATUS_LINE[STATUS] + head + b"\r\n" + body

    class LimitedHttpTools(HttpToolsProtocol):  # type: ignore[misc]
        """Counts the bytes of each request head: while the head is incomplete, every byte
        received; once it is complete, its exact size (request line and header lines)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_bytes: int | None = 0  # None while a request's body is read

        def data_received(self, data: bytes) -> None:
            if self._head_bytes is not None:
                self._head_bytes += len(data)
            super().data_received(data)
            if (
                self._head_bytes is not None
                and self._head_bytes > max_header_bytes
                and not self.transport.is_closing()
            ):
                # still no end of the head, and already too much of it
                self.transport.write(raw_answer)
                self.transport.close()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_bytes = self._head_bytes or 0

        def on_headers_complete(self) -> None:
            self._head_bytes = None
            size = _head_size(self.parser.get_method(), self.url, self.headers)
            if size <= max_header_bytes:
                super().on_headers_complete()
                return
            app, self.app = self.app, refuse  # the request runs the refusal instead
            try:
                super().on_headers_complete()
            finally:
                self.app = app

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._head_bytes = 0  # the next request's head follows

    return LimitedHttpTools


def _head_size(method: bytes, url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """The bytes of `METHOD url HTTP/1.1\\r\\n`, of each `name: value\\r\\n`, and the final
    `\\r\\n`: what the client sent, when it wrote the head the usual way."""
    request_line = len(method) + 1 + len(url) + len(" HTTP/1.1\r\n")
    return request_line + sum(len(n) + len(v) + 4 for n, v in headers) + 2
