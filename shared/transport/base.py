"""The job transport: how the user API hands messages to the worker API.

A message is a job spec to queue (`submit`) or a job to stop (`cancel`). `send`
returns only once the worker API has accepted the message (stored it in its
database) and raises TransportError otherwise, so the sender's outbox keeps the
message and tries again. Consumers must be idempotent: a message may arrive
more than once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

MessageKind = Literal["submit", "cancel"]


@dataclass(frozen=True)
class TransportMessage:
    kind: MessageKind
    job_id: int  # the user-side job id: the idempotency key
    payload: dict[str, Any] = field(default_factory=dict)  # a SubmittedJob for "submit"


class TransportError(RuntimeError):
    """The message was not accepted; send it again later."""


class MessageRefused(Exception):
    """Raised by a consumer that refuses a message for good (it would be refused the same
    way on every delivery): a broker dead-letters it at once instead of retrying it."""


class JobTransport(Protocol):
    def send(self, message: TransportMessage) -> None:
        """Deliver `message`; return when accepted, raise TransportError when not."""

    def close(self) -> None:
        """Release connections."""


MessageHandler = Callable[[TransportMessage], None]
