"""The SMTP sender against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller

from shared.email.base import RetryLater
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
