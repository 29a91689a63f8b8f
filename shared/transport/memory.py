"""In-process transport for the embedded default: the worker API's handler is
called directly, so "accepted" means "committed to the queue database"."""

from __future__ import annotations

from shared.transport.base import MessageHandler, TransportError, TransportMessage


class MemoryTransport:
    def __init__(self, handler: MessageHandler | None = None) -> None:
        self._handler = handler

    def attach(self, handler: MessageHandler) -> None:
        """Connect the consumer (the worker API is built after the user API)."""
        self._handler = handler

    def send(self, message: TransportMessage) -> None:
        if self._handler is None:
            raise TransportError("no consumer attached yet")
        try:
            self._handler(message)
        except Exception as exc:  # the consumer failed: keep the message for a retry
            raise TransportError(f"consumer failed: {exc}") from exc

    def close(self) -> None:
        pass
