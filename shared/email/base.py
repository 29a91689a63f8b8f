"""Sending email: a small interface with console and Mailjet implementations."""

from __future__ import annotations

from typing import Protocol


class EmailError(RuntimeError):
    """Sending failed and will not succeed by retrying (bad address, bad key)."""


class RetryLater(RuntimeError):
    """Sending failed for now (rate limit, outage); try again after `after_s` seconds
    (None: the caller backs off as it sees fit)."""

    def __init__(self, message: str, after_s: float | None = None) -> None:
        super().__init__(message)
        self.after_s = after_s


class EmailSender(Protocol):
    def send(self, to: str, subject: str, body: str) -> None:
        """Send a plain-text email; raise RetryLater or EmailError on failure."""
