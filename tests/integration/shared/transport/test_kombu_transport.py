"""What the kombu transport adds per broker, beyond the contract every transport keeps
(tests/integration/shared/transport/test_transport_contract.py): the factory, RabbitMQ
durability and publisher confirms, visibility on Redis and SQS, SQS's receive count."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import amqp
import kombu
import pytest

from shared.transport import make_transport
from shared.transport.base import TransportError, TransportMessage
from shared.transport.http import HttpTransport
from shared.transport.kombu import (
    DEAD_REASON_HEADER,
    KombuConsumer,
    KombuTransport,
    decode_message,
    encode_message,
)
from shared.transport.memory import MemoryTransport

SUBMIT = TransportMessage("submit", 42, {"job": {"meta": {"job_id": 42}}, "note": "ünïcode"})


def test_make_transport_picks_the_implementation_from_the_url() -> None:
    assert isinstance(make_transport("memory"), MemoryTransport)
    http = make_transport("http://127.0.0.1:8001", api_key="k", timeout_s=3)
    assert isinstance(http, HttpTransport)
    http.close()
    for url in ("amqp://guest:guest@127.0.0.1:5672//", "redis://127.0.0.1:6379/0", "sqs://"):
        transport = make_transport(url, queue="q", dead_letter_queue=None)
        assert isinstance(transport, KombuTransport)  # connects on first send only
        transport.close()
    with pytest.raises(ValueError, match="api_key"):
        make_transport("https://worker.example")
    with pytest.raises(ValueError, match="unknown job transport 'kafka'") as raised:
        make_transport("kafka://user:s3cret@broker:9092")
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize(
    "body",
    [
        b"\xff",
        b"not json",
        b"[]",
        b'{"kind": "submit", "job_id": "42"}',
        b'{"kind": "submit", "job_id": true}',
        b'{"kind": "delete", "job_id": 42}',
        b'{"kind": "cancel", "job_id": 42, "payload": []}',
    ],
)
def test_decode_message_refuses_what_is_not_a_transport_message(body: bytes) -> None:
    with pytest.raises(ValueError):
        decode_message(body)


def test_encode_and_decode_round_trip() -> None:
    assert decode_message(encode_message(SUBMIT).encode()) == SUBMIT
    assert decode_message('{"kind": "cancel", "job_id": 3}') == TransportMessage("cancel", 3, {})


# RabbitMQ


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=30)


def test_rabbitmq_queue_is_durable_and_messages_persistent(
    amqp_url: str, scratch_broker: Any
) -> None:
    broker = scratch_broker(amqp_url)
    queue = broker.queue()
    sender = KombuTransport(amqp_url, queue, dead_letter_queue=None)
    sender.send(SUBMIT)
    sender.close()
    with broker.connection() as connection:
        channel = connection.default_channel
        message = channel.basic_get(queue, no_ack=True)
        assert message.properties["delivery_mode"] == 2
        with pytest.raises(amqp.exceptions.PreconditionFailed):  # it exists as durable
            channel.queue_declare(queue, durable=False)


def test_rabbitmq_send_raises_when_the_broker_refuses_the_message(
    amqp_url: str, scratch_broker: Any
) -> None:
    """Publisher confirms: the broker nacks a message for a full queue (overflow
    reject-publish), and send() raises instead of reporting it sent."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("needs rabbitmqctl to set a queue-length policy")
    broker = scratch_broker(amqp_url)
    queue = broker.queue()
    policy = f"{queue}-full"
    try:
        _rabbitmqctl(
            "set_policy", "--apply-to", "queues", policy, f"^{queue}$",
            json.dumps({"max-length": 1, "overflow": "reject-publish"}),
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot set a RabbitMQ policy here: {exc}")
    try:
        sender = KombuTransport(amqp_url, queue, dead_letter_queue=None)
        sender.send(SUBMIT)
        with pytest.raises(TransportError, match="amqp broker did not accept"):
            sender.send(SUBMIT)
        sender.close()
    finally:
        _rabbitmqctl("clear_policy", policy)


def test_rabbitmq_message_no_queue_takes_is_not_reported_sent(
    amqp_url: str, scratch_broker: Any
) -> None:
    """The queue was deleted behind the sender's back (its declaration is cached per
    connection): the broker returns the unroutable message (mandatory) instead of
    confirming it into the void, and send() publishes it again on a fresh connection,
    which declares the queue again."""
    broker = scratch_broker(amqp_url)
    queue = broker.queue()
    sender = KombuTransport(amqp_url, queue, dead_letter_queue=None)
    sender.send(SUBMIT)
    with broker.connection() as connection:
        connection.default_channel.queue_delete(queue)
    sender.send(SUBMIT)
    sender.close()
    assert broker.messages_in(queue) == 1


# Visibility: a message being handled is not handed to a second consumer


@pytest.mark.parametrize("broker_name", ["redis", "sqs"])
def test_a_message_in_hand_stays_invisible_past_the_visibility_timeout(
    broker_name: str, request: pytest.FixtureRequest, scratch_broker: Any
) -> None:
    url = request.getfixturevalue(f"{broker_name}_url")
    broker = scratch_broker(url)
    options = {**broker.options, "visibility_timeout": 1}  # SQS: set on the new queue
    queue = broker.queue()
    calls: list[TransportMessage] = []
    in_hand = threading.Event()

    def slow_handler(message: TransportMessage) -> None:
        calls.append(message)
        in_hand.set()
        time.sleep(2.5)  # longer than the visibility timeout

    sender = KombuTransport(url, queue, transport_options=options, dead_letter_queue=None)
    sender.send(SUBMIT)
    first = sender.consumer(slow_handler)
    second = sender.consumer(calls.append)
    worker = threading.Thread(target=first.run_once, args=(5.0,))
    worker.start()
    assert in_hand.wait(5)
    while worker.is_alive():
        second.run_once(0.3)  # Redis: also restores what it finds overdue
    worker.join()
    second.run_once(0.5)
    assert calls == [SUBMIT]
    assert broker.messages_in(queue) == 0
    for closable in (first, second, sender):
        closable.close()


def test_redis_message_of_a_dead_consumer_comes_back_after_the_visibility_timeout(
    redis_url: str, scratch_broker: Any
) -> None:
    broker = scratch_broker(redis_url)
    options = {**broker.options, "visibility_timeout": 1}
    queue = broker.queue()
    sender = KombuTransport(redis_url, queue, transport_options=options, dead_letter_queue=None)
    sender.send(SUBMIT)
    # A consumer takes the message and dies without acking it (no restore at shutdown).
    dead = kombu.Connection(redis_url, transport_options=options)
    channel = dead.default_channel
    assert kombu.Queue(queue, routing_key=queue)(channel).get(no_ack=False) is not None
    channel.qos.restore_at_shutdown = False
    dead.release()
    handled: list[TransportMessage] = []
    consumer = sender.consumer(handled.append)
    assert consumer.run_once(0.2) == 0  # still invisible
    time.sleep(1.2)
    assert consumer.run_once(1.0) == 1
    assert handled == [SUBMIT]
    consumer.close()
    sender.close()


def test_sqs_message_received_too_often_is_dead_lettered_without_handling(
    sqs_url: str, scratch_broker: Any
) -> None:
    """SQS counts every receive, also those of consumers that died while handling: a
    message received more than max_receives times goes to the dead-letter queue."""
    broker = scratch_broker(sqs_url)
    queue, dead_letter_queue = broker.queue(), broker.queue()
    sender = KombuTransport(
        sqs_url,
        queue,
        transport_options=broker.options,
        dead_letter_queue=dead_letter_queue,
        max_receives=2,
    )
    sender.send(SUBMIT)
    with broker.connection() as connection:  # two consumers that died mid-handler
        channel = connection.default_channel
        url = channel._new_queue(queue)
        for _ in range(2):
            received = channel.sqs().receive_message(QueueUrl=url, VisibilityTimeout=0)
            assert len(received["Messages"]) == 1
    handled: list[TransportMessage] = []
    consumer = sender.consumer(handled.append)
    assert consumer.run_once(1.0) == 1
    assert handled == []
    dead = KombuConsumer(
        sqs_url, dead_letter_queue, handled.append, transport_options=broker.options
    )
    assert dead.run_once(2.0) == 1
    assert handled == [SUBMIT]
    for closable in (consumer, dead, sender):
        closable.close()


def test_dead_letters_say_why(redis_url: str, scratch_broker: Any) -> None:
    broker = scratch_broker(redis_url)
    queue, dead_letter_queue = broker.queue(), broker.queue()
    sender = KombuTransport(
        redis_url,
        queue,
        transport_options=broker.options,
        dead_letter_queue=dead_letter_queue,
        max_receives=1,
    )
    sender.send(SUBMIT)

    def refuse(message: TransportMessage) -> None:
        raise ValueError("no usable job id")

    consumer: Callable[[float], int] = sender.consumer(refuse).run_once
    assert consumer(0.5) == 1
    with broker.connection() as connection:
        bound = kombu.Queue(dead_letter_queue, routing_key=dead_letter_queue)
        message = bound(connection.default_channel).get(no_ack=True)
    assert message is not None
    assert "no usable job id" in message.headers[DEAD_REASON_HEADER]
    assert message.headers["x-labcloud-source-queue"] == queue
    sender.close()
