"""Brokers for the job-transport tests: RabbitMQ and Redis on loopback (skipped when
absent), and SQS as moto's server on a free port (never real AWS)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Any

import kombu
import pytest
from moto.server import ThreadedMotoServer

from tests.support.processes import free_port


def _unavailable(reason: str) -> None:
    """Skip on a developer's machine; in CI (where .ci/run starts the brokers) fail."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def amqp_url() -> str:
    if not _listening(5672):
        _unavailable("RabbitMQ is not running on 127.0.0.1:5672")
    return "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _listening(6379):
        _unavailable("Redis is not running on 127.0.0.1:6379")
    return "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def sqs_url() -> Iterator[str]:
    """moto's SQS on loopback; the credentials are dummies it accepts."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"sqs://testing:testing@127.0.0.1:{port}"
    finally:
        server.stop()


class TestBroker:
    """Unique queues and fast, isolated transport options on one broker."""

    __test__ = False  # not a test class

    def __init__(self, url: str) -> None:
        self.url = url
        self.options: dict[str, Any] = {}
        if url.startswith("sqs://"):
            # one-second long polls, so a retried message is back after a second
            self.options = {"is_secure": False, "region": "us-east-1", "wait_time_seconds": 1}
        elif url.startswith("redis://"):
            # an unacked index of its own: tests never restore each other's messages
            prefix = f"labcloud-test-{uuid.uuid4().hex[:8]}"
            self.options = {
                "unacked_key": f"{prefix}:unacked",
                "unacked_index_key": f"{prefix}:unacked_index",
                "unacked_mutex_key": f"{prefix}:unacked_mutex",
            }
        self._queues: list[str] = []

    def queue(self, fifo: bool = False) -> str:
        name = f"labcloud-test-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
        self._queues.append(name)
        return name

    def connection(self) -> kombu.Connection:
        return kombu.Connection(self.url, transport_options=self.options)

    def messages_in(self, queue: str) -> int:
        """Messages in `queue`, ready or taken but not acked (RabbitMQ: ready only)."""
        with self.connection() as connection:
            channel = connection.default_channel
            if self.url.startswith("sqs://"):
                attributes = channel.sqs().get_queue_attributes(
                    QueueUrl=channel._new_queue(queue),
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                    ],
                )["Attributes"]
                return sum(int(n) for n in attributes.values())
            if self.url.startswith("redis://"):
                client = channel.client
                return int(client.llen(queue)) + int(client.hlen(self.options["unacked_key"]))
            return int(channel.queue_declare(queue, passive=True).message_count)

    def cleanup(self) -> None:
        # kombu's queue_delete does nothing on Redis and SQS for a queue this connection
        # did not bind, so those are deleted with the broker's own client.
        with self.connection() as connection:
            channel = connection.default_channel
            for name in self._queues:
                with suppress(Exception):  # never declared
                    if self.url.startswith("sqs://"):
                        channel.sqs().delete_queue(QueueUrl=channel._resolve_queue_url(name))
                    elif self.url.startswith("redis://"):
                        channel.client.delete(*(channel._q_for_pri(name, p) for p in (0, 3, 6, 9)))
                    else:
                        channel.queue_delete(name)
            if self.url.startswith("redis://"):
                keys = ("unacked_key", "unacked_index_key", "unacked_mutex_key")
                channel.client.delete(*(self.options[k] for k in keys))


@pytest.fixture
def scratch_broker() -> Iterator[Callable[[str], TestBroker]]:
    """`scratch_broker(url)`: a TestBroker whose queues are deleted after the test."""
    made: list[TestBroker] = []

    def make(url: str) -> TestBroker:
        made.append(TestBroker(url))
        return made[-1]

    yield make
    for broker in made:
        broker.cleanup()
