"""Job transports: how the user API hands job messages to the worker API.

`make_transport` picks the implementation from a URL (or "memory"); kombu is only
imported when a broker URL asks for it.
"""

from __future__ import annotations

from typing import Any

from shared.transport.base import (
    JobTransport,
    MessageHandler,
    MessageRefused,
    TransportError,
    TransportMessage,
)

__all__ = [
    "JobTransport",
    "MessageHandler",
    "MessageRefused",
    "TransportError",
    "TransportMessage",
    "make_transport",
]

_BROKER_SCHEMES = ("amqp", "amqps", "pyamqp", "redis", "rediss", "sqs")


def make_transport(url: str, *, api_key: str | None = None, **options: Any) -> JobTransport:
    """The sending side of the job transport that `url` names.

    - "memory": `MemoryTransport` (in-process; `options` may give its `handler`);
    - "http://…", "https://…": `HttpTransport` to the worker API at that base URL,
      authenticated with `api_key` (required); `options` may give `timeout_s`;
    - "amqp://…", "redis://…", "sqs://…": `KombuTransport` on that broker; `options`
      are its keyword arguments (`queue`, `transport_options`, `dead_letter_queue`, …).

    Raises ValueError for anything else.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else url.strip().lower()
    if scheme == "memory":
        from shared.transport.memory import MemoryTransport

        return MemoryTransport(**options)
    if scheme in ("http", "https"):
        if not api_key:
            raise ValueError("the http job transport needs the worker API's api_key")
        from shared.transport.http import HttpTransport

        return HttpTransport(url, api_key, **options)
    if scheme in _BROKER_SCHEMES:
        from shared.transport.kombu import KombuTransport

        return KombuTransport(url, **options)
    raise ValueError(
        f"unknown job transport {scheme!r}: use 'memory', an http(s):// worker API URL, "
        "or a broker URL (amqp://, redis://, sqs://)"
    )
