"""The SMTP sender against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller

from shared.email.base import EmailError, RetryLater
from shared.email.smtp import SmtpEmailSender
from tests.support.processes import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_email_reaches_the_smtp_server(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    sender = SmtpEmailSender("127.0.0.1", port, "labcloud@lab.example")
    sender.send("ada@lab.example", "labcloud: job 'x' (id 7) finished", "Your job ended.")
    [(mail_from, rcpt, content)] = inbox.messages
    assert mail_from == "labcloud@lab.example" and rcpt == ["ada@lab.example"]
    message = message_from_bytes(content)
    assert message["Subject"] == "labcloud: job 'x' (id 7) finished"
    assert message.get_payload().strip() == "Your job ended."


def test_an_unreachable_server_means_retry_later() -> None:
    sender = SmtpEmailSender("127.0.0.1", free_port(), "labcloud@lab.example", timeout_s=2)
    with pytest.raises(RetryLater):
        sender.send("ada@lab.example", "s", "b")


@pytest.mark.parametrize(
    "recipient",
    [
        "ada@lab.example\r\nBcc: eve@evil.example",
        "ada@lab.example\nBcc: eve@evil.example",
        "ada@lab.example, eve@evil.example",
        "Eve <eve@evil.example>",
        "not-an-address",
    ],
)
def test_a_recipient_that_is_not_one_plain_address_is_refused_and_nothing_sent(
    smtp_server: tuple[Inbox, int], recipient: str
) -> None:
    inbox, port = smtp_server
    sender = SmtpEmailSender("127.0.0.1", port, "labcloud@lab.example")
    with pytest.raises(EmailError, match="not a plain email address"):
        sender.send(recipient, "labcloud: job 'x' finished", "body")
    assert inbox.messages == []


def test_line_breaks_in_the_subject_cannot_add_a_header(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    sender = SmtpEmailSender("127.0.0.1", port, "labcloud@lab.example")
    sender.send("ada@lab.example", "job 'x'\r\nBcc: eve@evil.example\r\n\r\nhi' finished", "b")
    [(_, rcpt, content)] = inbox.messages
    message = message_from_bytes(content)
    assert rcpt == ["ada@lab.example"] and message["Bcc"] is None
    assert message["Subject"] == "job 'x' Bcc: eve@evil.example hi' finished"
