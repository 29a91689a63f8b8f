"""Refuse, before any route, a JSON body that Python's `json` reads but that is not JSON
a service can keep: NaN or Infinity (not JSON at all) and escaped lone surrogates
(`"\\ud800"`: not text, so no database and no UTF-8 encoder takes it).

Python's `json.loads`, which FastAPI uses, accepts both, and they would fail deep
down (a 500 on the database write or on the answer). Most bodies hold neither
`\\u` nor those words and pass unparsed; the others are parsed once more here.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_CONSTANTS = (b"NaN", b"Infinity")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class NotJSON(ValueError):
    """The body is read by Python's `json` but is not JSON a service can keep."""


def _refuse_constant(name: str) -> Any:
    raise NotJSON(f"the JSON body holds {name}, which JSON does not allow: send a number")


def _check_strings(value: Any) -> None:
    if isinstance(value, str):
        if not value.isascii() and _LONE_SURROGATE.search(value):
            raise NotJSON(
                "the JSON body holds a lone surrogate (an escape from \\ud800 to \\udfff "
                "without its pair), which is not a character"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key)
            _check_strings(item)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item)


def check_json(body: bytes) -> None:
    """Raise NotJSON if `body` parses with Python's `json` yet holds NaN, Infinity or a
    lone surrogate; say nothing of a body that does not parse (the route answers that)."""
    has_escape = b"\\u" in body
    if not has_escape and not any(word in body for word in _CONSTANTS):
        return
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except NotJSON:
        raise
    except ValueError:
        return
    if has_escape:
        _check_strings(value)


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False  # FastAPI (strict_content_type) does not read such a body as JSON


class StrictJSONMiddleware:
    """A 400 for a request whose JSON body `check_json` refuses; other requests pass
    untouched (a JSON body is read whole first, as the route would read it anyway)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD") or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away: let the route see it
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        try:
            check_json(b"".join(chunks))
        except NotJSON as exc:
            await _answer_400(send, str(exc))
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _answer_400(send: Send, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body})
