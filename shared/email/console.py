"""The default sender: emails are written to the log, one line each, nothing leaves the machine."""

from __future__ import annotations

import json
import logging

from shared.email.base import checked_headers

log = logging.getLogger("labcloud.email")


class ConsoleEmailSender:
    def send(self, to: str, subject: str, body: str) -> None:
        to, subject = checked_headers(to, subject)  # as the real senders do
        # One line per email, so operators (and tests) can count and grep them.
        log.warning("EMAIL %s", json.dumps({"to": to, "subject": subject, "body": body}))
