"""The default sender: emails are written to the log, one line each, nothing leaves the machine."""

from __future__ import annotations

import json
import logging

log = logging.getLogger("labcloud.email")


class ConsoleEmailSender:
    def send(self, to: str, subject: str, body: str) -> None:
        # One line per email, so operators (and tests) can count and grep them.
        log.warning("EMAIL %s", json.dumps({"to": to, "subject": subject, "body": body}))
