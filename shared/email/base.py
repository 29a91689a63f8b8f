"""Sending email: a small interface with console, SMTP and Mailjet implementations, and
the checks every one of them makes on the header values before building a message."""

from __future__ import annotations

import re
from typing import Protocol

from shared.validation import has_control_characters

MAX_SUBJECT = 200  # characters; a longer subject is cut
# One plain address: no spaces, controls, or the characters that would make the header
# say more (a second recipient, a display name, a comment).
_ADDRESS = re.compile(r"[^\s@,;:<>()\[\]\\\"]+@[^\s@,;:<>()\[\]\\\"]+")
_SPACES = re.compile(r"\s+")


class EmailError(RuntimeError):
    """Sending failed and will not succeed by retrying (bad address, bad key)."""


class RetryLater(RuntimeError):
    """Sending failed for now (rate limit, outage); try again after `after_s` seconds
    (None: the caller backs off as it sees fit)."""

    def __init__(self, message: str, after_s: float | None = None) -> None:
        super().__init__(message)
        self.after_s = after_s


def checked_headers(to: str, subject: str) -> tuple[str, str]:
    """The recipient and subject fit for a message's headers.

    A recipient that is not one plain address is refused (EmailError: never sent, never
    retried); line breaks and other controls in the subject become spaces, so nothing
    a user named (a job, say) can add a header or end the headers early.
    """
    if has_control_characters(to) or not _ADDRESS.fullmatch(to):
        raise EmailError(f"not a plain email address: {to[:80]!r}")
    if has_control_characters(subject):
        subject = "".join(" " if has_control_characters(c) else c for c in subject)
    subject = _SPACES.sub(" ", subject).strip()
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 1] + "…"
    return to, subject


class EmailSender(Protocol):
    def send(self, to: str, subject: str, body: str) -> None:
        """Send a plain-text email; raise RetryLater or EmailError on failure."""
