"""One contract for every job transport: memory, HTTP, RabbitMQ, Redis, SQS (moto).

Each case pairs a sender (`JobTransport`) with what consumes its messages: for the
memory and HTTP transports the handler sits right behind `send` (so a failing handler
makes `send` raise and the sender keeps the message); for the brokers it is a
`KombuConsumer` that the test pumps.

Delivery is at least once on every transport: these tests check that nothing is lost
and that a message handled successfully is not handed over again, not that a message
can never be duplicated (a lost ack or confirm duplicates it; the worker API's inbox
is idempotent on the job id).

Order: memory, HTTP, RabbitMQ and Redis keep the order of all messages; an SQS FIFO
queue keeps it per job (MessageGroupId = job id); a standard SQS queue keeps none, so
there only delivery is checked.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import kombu
import pytest
from fastapi import Body, FastAPI, Header, Response
from fastapi.responses import JSONResponse

from shared.auth.api_key import HEADER
from shared.transport.base import JobTransport, MessageRefused, TransportError, TransportMessage
from shared.transport.http import HttpTransport
from shared.transport.kombu import (
    DEAD_REASON_HEADER,
    RECEIVES_HEADER,
    KombuTransport,
    encode_message,
)
from shared.transport.memory import MemoryTransport
from tests.support.http_server import serve_in_thread
from tests.support.processes import free_port

MAX_RECEIVES = 3
API_KEY = "contract-test-key"


class Handler:
    """The worker API's side: records every call; can be told to fail."""

    def __init__(self) -> None:
        self.calls: list[TransportMessage] = []
        self.handled: list[TransportMessage] = []
        self.failures_left = 0
        self.always_fail = False
        self.refused: set[int] = set()  # job ids whose messages it refuses for good

    def __call__(self, message: TransportMessage) -> None:
        self.calls.append(message)
        if message.job_id in self.refused:
            raise MessageRefused(f"job {message.job_id} is another job's id")
        if self.always_fail or self.failures_left > 0:
            self.failures_left -= 1
            raise RuntimeError("the queue database is down")
        self.handled.append(message)


@dataclass
class Pair:
    name: str
    sender: JobTransport
    pump: Callable[[float], int]  # one consumer round (nothing to do for memory/HTTP)
    ordering: Literal["total", "per_job", "none"]
    # Pumped after the last expected call: long enough for a message wrongly left in the
    # queue to come back. 0 on SQS, where left_in_queue also counts invisible messages.
    quiet_s: float
    down_sender: Callable[[], JobTransport]  # a sender whose receiver is unreachable
    broker_url: str | None = None
    broker_options: dict[str, Any] | None = None
    queue: str | None = None
    dead_letter_queue: str | None = None
    left_in_queue: Callable[[], int] | None = None  # messages ready or in flight

    @property
    def is_broker(self) -> bool:
        return self.broker_url is not None


def fake_worker_api(handler: Handler) -> FastAPI:
    """The worker API's `/_jobs` endpoints, reduced to calling the handler."""
    app = FastAPI()

    def handle(message: TransportMessage, status_code: int, key: str | None) -> Response:
        if key != API_KEY:
            return JSONResponse({"detail": "bad API key"}, status_code=401)
        try:
            handler(message)
        except Exception as exc:  # refused: the sender keeps the message
            return JSONResponse({"detail": str(exc)}, status_code=503)
        return Response(status_code=status_code)

    @app.post("/_jobs")
    def submit(
        payload: dict[str, Any] = Body(),  # noqa: B008
        key: str | None = Header(None, alias=HEADER),
    ) -> Response:
        job_id = payload["job"]["meta"]["job_id"]
        return handle(TransportMessage("submit", job_id, payload), 201, key)

    @app.post("/_jobs/{job_id}/cancel")
    def cancel(job_id: int, key: str | None = Header(None, alias=HEADER)) -> Response:
        return handle(TransportMessage("cancel", job_id, {}), 204, key)

    return app


def _nothing_to_pump(timeout_s: float) -> int:
    return 0


PAIRS = ["memory", "http", "rabbitmq", "redis", "sqs", "sqs-fifo"]
_URL_FIXTURE = {
    "rabbitmq": "amqp_url",
    "redis": "redis_url",
    "sqs": "sqs_url",
    "sqs-fifo": "sqs_url",
}
_DOWN_URL = {
    "rabbitmq": "amqp://guest:guest@127.0.0.1:{port}//",
    "redis": "redis://127.0.0.1:{port}/0",
    "sqs": "sqs://testing:testing@127.0.0.1:{port}",
    "sqs-fifo": "sqs://testing:testing@127.0.0.1:{port}",
}


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture(params=PAIRS)
def pair(request: pytest.FixtureRequest, handler: Handler, scratch_broker: Any) -> Iterator[Pair]:
    yield from _pair(request.param, request, handler, scratch_broker)


@pytest.fixture(params=[p for p in PAIRS if p not in ("memory", "http")])
def broker_pair(
    request: pytest.FixtureRequest, handler: Handler, scratch_broker: Any
) -> Iterator[Pair]:
    """Only the brokers: message bodies travel as bytes there."""
    yield from _pair(request.param, request, handler, scratch_broker)


def _pair(
    name: str, request: pytest.FixtureRequest, handler: Handler, scratch_broker: Any
) -> Iterator[Pair]:
    if name == "memory":
        yield Pair(name, MemoryTransport(handler), _nothing_to_pump, "total", 0, MemoryTransport)
        return
    if name == "http":
        with serve_in_thread(fake_worker_api(handler)) as base_url:
            sender = HttpTransport(base_url, API_KEY, timeout_s=5)

            def down() -> JobTransport:
                return HttpTransport(f"http://127.0.0.1:{free_port()}", API_KEY, timeout_s=2)

            yield Pair(name, sender, _nothing_to_pump, "total", 0, down)
            sender.close()
        return
    url = request.getfixturevalue(_URL_FIXTURE[name])
    broker = scratch_broker(url)
    fifo = name == "sqs-fifo"
    queue, dead_letter_queue = broker.queue(fifo), broker.queue(fifo)
    sender = KombuTransport(
        url,
        queue,
        transport_options=broker.options,
        dead_letter_queue=dead_letter_queue,
        max_receives=MAX_RECEIVES,
    )
    consumer = sender.consumer(handler)

    def down_broker() -> JobTransport:
        down_url = _DOWN_URL[name].format(port=free_port())
        return KombuTransport(down_url, queue, transport_options=broker.options, timeout_s=2)

    def left_in_queue() -> int:
        consumer.close()  # RabbitMQ: anything it still held unacked goes back (reconnects)
        return broker.messages_in(queue)

    is_sqs = name.startswith("sqs")
    yield Pair(
        name,
        sender,
        consumer.run_once,
        {"sqs": "none", "sqs-fifo": "per_job"}.get(name, "total"),
        quiet_s=0 if is_sqs else 0.3,
        down_sender=down_broker,
        broker_url=url,
        broker_options=broker.options,
        queue=queue,
        dead_letter_queue=dead_letter_queue,
        left_in_queue=left_in_queue,
    )
    consumer.close()
    sender.close()


def submit(job_id: int) -> TransportMessage:
    """A submit message with nested data and non-ASCII text (and the job id where the
    HTTP transport finds it)."""
    return TransportMessage(
        "submit",
        job_id,
        {
            "job": {
                "meta": {"job_id": job_id, "date_created": "2026-01-02T03:04:05Z"},
                "app": {
                    "cmd": ["python", "-c", "print('Grüße, 世界 ✓')"],
                    "env": {"LABEL": "naïve café 🚀", "EMPTY": ""},
                },
                "handler": {"files_down": {"data": "s3://bucket/ü/x.tif"}, "files_up": {}},
            },
            "hardware": {"cpu_cores": 2, "memory": 1.5, "gpu_model": None, "flags": [True, False]},
            "paths": [[1, 2], {"deep": {"deeper": {"deepest": "ƒ"}}}],
        },
    )


def cancel(job_id: int) -> TransportMessage:
    return TransportMessage("cancel", job_id, {})


def relay(pair: Pair, messages: list[TransportMessage], timeout_s: float = 15) -> None:
    """Send in order like the user API's outbox: keep a message until send() accepts it."""
    deadline = time.monotonic() + timeout_s
    for message in messages:
        while True:
            try:
                pair.sender.send(message)
                break
            except TransportError:
                assert time.monotonic() < deadline, f"{message} was never accepted"
                time.sleep(0.05)


def pump_quietly(pair: Pair) -> None:
    if pair.quiet_s:
        pair.pump(pair.quiet_s)


def pump_until(pair: Pair, done: Callable[[], bool], timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "the consumer did not get there in time"
        pair.pump(0.5)


def take(pair: Pair, queue: str, count: int, timeout_s: float = 10) -> list[kombu.Message]:
    """Take `count` messages off `queue` on the pair's broker."""
    assert pair.broker_url is not None
    taken: list[kombu.Message] = []
    deadline = time.monotonic() + timeout_s
    with kombu.Connection(pair.broker_url, transport_options=pair.broker_options) as conn:
        bound = kombu.Queue(queue, routing_key=queue, durable=True)(conn.default_channel)
        while len(taken) < count and time.monotonic() < deadline:
            message = bound.get(no_ack=False)
            if message is None:
                time.sleep(0.05)
                continue
            message.ack()
            taken.append(message)
    return taken


def body_bytes(message: kombu.Message) -> bytes:
    """py-amqp hands over a body as text when it has a text content_encoding."""
    body = message.body
    return body.encode(message.content_encoding) if isinstance(body, str) else bytes(body)


def test_message_reaches_the_handler_exactly_as_sent(pair: Pair, handler: Handler) -> None:
    sent = [submit(7), cancel(7)]
    relay(pair, sent)
    pump_until(pair, lambda: len(handler.handled) == 2)
    assert Counter(map(repr, handler.handled)) == Counter(map(repr, sent))
    received = next(m for m in handler.handled if m.kind == "submit")
    assert received == sent[0]
    assert received.payload["job"]["app"]["env"]["LABEL"] == "naïve café 🚀"
    assert type(received.job_id) is int


def test_messages_of_one_job_keep_their_order(pair: Pair, handler: Handler) -> None:
    sent = [submit(101), submit(102), cancel(101), submit(103), cancel(102), cancel(103)]
    relay(pair, sent)
    pump_until(pair, lambda: len(handler.handled) == len(sent))
    if pair.ordering == "total":
        assert handler.handled == sent
    elif pair.ordering == "per_job":
        for job_id in (101, 102, 103):
            assert [m for m in handler.handled if m.job_id == job_id] == [
                m for m in sent if m.job_id == job_id
            ]
    else:  # standard SQS: no order, only delivery
        assert Counter(map(repr, handler.handled)) == Counter(map(repr, sent))


def test_a_failed_message_comes_again_until_handled_then_never(
    pair: Pair, handler: Handler
) -> None:
    handler.failures_left = MAX_RECEIVES - 1
    relay(pair, [submit(5)])
    pump_until(pair, lambda: len(handler.handled) == 1)
    assert handler.calls == [submit(5)] * MAX_RECEIVES
    pump_quietly(pair)  # a message still around would be back by now
    assert handler.calls == [submit(5)] * MAX_RECEIVES
    assert handler.handled == [submit(5)]
    if pair.left_in_queue is not None:
        assert pair.left_in_queue() == 0  # acked: not waiting out a visibility timeout


def test_a_message_that_always_fails_ends_in_the_dead_letter_queue(
    pair: Pair, handler: Handler
) -> None:
    handler.always_fail = True
    if not pair.is_broker:  # no queue: the sender keeps it and send() keeps failing
        for _ in range(MAX_RECEIVES + 1):
            with pytest.raises(TransportError):
                pair.sender.send(submit(9))
        assert handler.calls == [submit(9)] * (MAX_RECEIVES + 1)
        return
    pair.sender.send(submit(9))
    pump_until(pair, lambda: len(handler.calls) == MAX_RECEIVES)
    assert pair.dead_letter_queue is not None
    dead = take(pair, pair.dead_letter_queue, 1)
    assert len(dead) == 1
    assert body_bytes(dead[0]) == encode_message(submit(9)).encode()
    assert dead[0].headers[RECEIVES_HEADER] == MAX_RECEIVES
    assert "the queue database is down" in dead[0].headers[DEAD_REASON_HEADER]
    pump_quietly(pair)
    assert handler.calls == [submit(9)] * MAX_RECEIVES
    assert pair.left_in_queue is not None and pair.left_in_queue() == 0  # gone from the queue


def test_a_body_that_is_not_a_message_is_dead_lettered_at_once(
    broker_pair: Pair, handler: Handler
) -> None:
    pair = broker_pair
    pair.sender.send(submit(1))  # declares the queues
    garbage = [b"\xff\xfe not even UTF-8", b'{"kind": "explode", "job_id": 1}', b"[1, 2]"]
    with kombu.Connection(pair.broker_url, transport_options=pair.broker_options) as conn:
        producer = kombu.Producer(conn.default_channel)
        for body in garbage:
            producer.publish(
                body,
                exchange="",
                routing_key=pair.queue,
                content_type="application/octet-stream",
                content_encoding="binary",
            )
    pair.sender.send(submit(2))
    pump_until(pair, lambda: len(handler.handled) == 2)
    pump_quietly(pair)
    assert sorted(m.job_id for m in handler.calls) == [1, 2]  # garbage never reached it
    assert pair.dead_letter_queue is not None
    dead = take(pair, pair.dead_letter_queue, len(garbage))
    assert sorted(map(body_bytes, dead)) == sorted(garbage)
    assert all(m.headers[RECEIVES_HEADER] == 1 for m in dead)
    assert pair.left_in_queue is not None and pair.left_in_queue() == 0


def test_a_refused_message_is_dead_lettered_at_once_and_the_others_go_on(
    broker_pair: Pair, handler: Handler
) -> None:
    pair = broker_pair
    handler.refused.add(3)
    relay(pair, [submit(3), submit(4)])
    pump_until(pair, lambda: len(handler.handled) == 1)
    pump_quietly(pair)
    assert [m.job_id for m in handler.calls].count(3) == 1  # never retried
    assert [m.job_id for m in handler.handled] == [4]
    assert pair.dead_letter_queue is not None
    [dead] = take(pair, pair.dead_letter_queue, 1)
    assert body_bytes(dead) == encode_message(submit(3)).encode()
    assert dead.headers[DEAD_REASON_HEADER] == "refused: job 3 is another job's id"
    assert dead.headers[RECEIVES_HEADER] == 1
    assert pair.left_in_queue is not None and pair.left_in_queue() == 0


def test_send_to_a_receiver_that_is_down_raises(pair: Pair) -> None:
    sender = pair.down_sender()
    started = time.monotonic()
    with pytest.raises(TransportError):
        sender.send(submit(3))
    assert time.monotonic() - started < 10
    sender.close()
