"""Mailjet (Send API v3.1) through mailjet-rest."""

from __future__ import annotations

from mailjet_rest import ApiRateLimitError, Client, MailjetAuthError, ValidationError

from shared.email.base import EmailError, RetryLater, checked_headers


class MailjetEmailSender:
    def __init__(
        self, api_key: str, secret_key: str, sender: str, api_url: str | None = None
    ) -> None:
        options = {"version": "v3.1"}
        if api_url:
            options["api_url"] = api_url
        self._client = Client(auth=(api_key, secret_key), **options)
        self._sender = sender

    def send(self, to: str, subject: str, body: str) -> None:
        to, subject = checked_headers(to, subject)
        message = {
            "From": {"Email": self._sender, "Name": "labcloud"},
            "To": [{"Email": to}],
            "Subject": subject,
            "TextPart": body,
        }
        try:
            response = self._client.send.create(data={"Messages": [message]})
        except ApiRateLimitError as exc:
            raise RetryLater("mailjet rate limit (429)", after_s=30.0) from exc
        except (MailjetAuthError, ValidationError) as exc:
            raise EmailError(f"mailjet refused the email: {type(exc).__name__}") from exc
        except Exception as exc:  # connection errors and outages: the service may come back
            raise RetryLater(f"mailjet unreachable: {type(exc).__name__}") from exc
        if response.status_code == 429:
            raise RetryLater("mailjet rate limit (429)", after_s=30.0)
        if response.status_code >= 500:
            raise RetryLater(f"mailjet answered {response.status_code}")
        if response.status_code >= 300:
            raise EmailError(f"mailjet refused the email: {response.status_code}")
