"""Email through an SMTP server (a lab's own relay), with STARTTLS and login when set."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from shared.email.base import EmailError, RetryLater, checked_headers


class SmtpEmailSender:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 30,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password = username, password
        self._starttls, self._timeout = starttls, timeout_s

    def send(self, to: str, subject: str, body: str) -> None:
        to, subject = checked_headers(to, subject)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self._sender, to, subject
        message.set_content(body)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls()
                if self._username:
                    smtp.login(self._username, self._password or "")
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise EmailError(f"SMTP login refused ({exc.smtp_code})") from None
        except smtplib.SMTPRecipientsRefused:
            raise EmailError(f"SMTP server refused the recipient {to}") from None
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:  # temporary: greylisting, rate limits
                raise RetryLater(f"SMTP server answered {exc.smtp_code}") from None
            raise EmailError(f"SMTP server answered {exc.smtp_code}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise RetryLater(f"SMTP server unreachable: {type(exc).__name__}") from None
