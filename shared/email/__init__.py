"""Email senders; `make_email_sender` picks one from `EMAIL_SENDER_SERVICE`."""

from __future__ import annotations

from shared.email.base import EmailError, EmailSender, RetryLater

__all__ = ["EmailError", "EmailSender", "RetryLater", "make_email_sender"]


def make_email_sender(
    service: str,
    *,
    address: str | None = None,
    api_key: str | None = None,
    secret_key: str | None = None,
    api_url: str | None = None,
    smtp_host: str | None = None,
    smtp_port: int = 25,
    smtp_starttls: bool = False,
) -> EmailSender | None:
    """None when email is off (service "")."""
    if service == "":
        return None
    if service == "console":
        from shared.email.console import ConsoleEmailSender

        return ConsoleEmailSender()
    if service == "mailjet":
        from shared.email.mailjet import MailjetEmailSender

        assert address and api_key and secret_key
        return MailjetEmailSender(api_key, secret_key, address, api_url=api_url)
    if service == "smtp":
        from shared.email.smtp import SmtpEmailSender

        assert address and smtp_host
        # EMAIL_SENDER_API_KEY / _SECRET_KEY are the SMTP login, when the relay wants one.
        return SmtpEmailSender(
            smtp_host,
            smtp_port,
            address,
            username=api_key,
            password=secret_key,
            starttls=smtp_starttls,
        )
    raise ValueError(f"unknown EMAIL_SENDER_SERVICE '{service}'; known: console, mailjet, smtp")
