"""The job transport over a message broker, through kombu: RabbitMQ, Redis or SQS.

`KombuTransport` is the sending side (a `JobTransport`): `send` publishes the message
as JSON to a durable queue and returns once the broker has taken it; any broker error
becomes `TransportError`, so the user API's outbox keeps the message. `KombuConsumer`
is the receiving side: `run_once` takes messages one by one (`basic_get`), hands each
to the handler (which commits it to the worker API's database) and acks only after
the handler returned.

Delivery is at least once, never exactly once: a message is delivered again when the
consumer dies before its ack, when an ack is lost, when the outbox re-sends after a
lost confirm, or when a retry is republished. Handlers must be idempotent (the worker
API's inbox is, on the user-side job id); this module never deduplicates.

What each broker gives, and what this module adds:

* RabbitMQ (`amqp://`): durable classic queue, persistent messages (delivery mode 2),
  publisher confirms (kombu's `confirm_publish` transport option: py-amqp waits for
  the broker's basic.ack and raises on a nack), `mandatory` so that a message no queue
  takes raises instead of vanishing. An unacked message goes back to the queue when
  the consumer's connection closes.
* Redis (`redis://`): a list per queue; "accepted" means LPUSH succeeded (durability is
  the server's `appendonly`/RDB setting). kombu emulates acks: a message taken but not
  acked is kept in an "unacked" index and restored after `visibility_timeout`; kombu
  only scans that index from its consume loop, so `run_once` scans it itself, and
  keeps the timestamp of the message in hand fresh while the handler runs.
* SQS (`sqs://KEY:SECRET@host:port` or `sqs://` for the default credential chain):
  a successful SendMessage is the confirm. Receives long-poll (`wait_time_seconds`);
  a received message stays invisible for `visibility_timeout` (set when kombu creates
  the queue); kombu has no way to extend it while a task runs, so `run_once` calls
  ChangeMessageVisibility from a helper thread every third of it. SQS counts receives
  itself (ApproximateReceiveCount), so a retry simply leaves the message in the queue:
  kombu's requeue makes it visible again after `wait_time_seconds`. Standard queues do
  not keep order; a queue whose name ends in `.fifo` does, per job (MessageGroupId is
  the job id).

Failures. A handler that raises gets the message again later, up to `max_receives`
receives in all; then the message goes to the dead-letter queue (a plain queue on the
same broker, read it with another `KombuConsumer`). A body that is not a
`TransportMessage`, and a message the handler refuses for good (`MessageRefused`), go
there at once. RabbitMQ's classic queues and Redis keep no
receive count, and requeueing puts a failing message back at the head, where it would
come straight back and hold up the queue; so on those brokers a retry republishes the
message at the tail with its receive count in a header, then acks the original (a
crash in between only duplicates it). A retried message may thus overtake later ones:
the worker API's inbox copes (a cancel seen before its submit refuses the submit).
On RabbitMQ and Redis a message that kills the consumer process before the handler
returns is redelivered without being counted; SQS counts it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

try:
    import kombu
    from kombu.common import maybe_declare
except ImportError as exc:  # pragma: no cover - kombu is a dependency of labcloud
    raise ImportError("the kombu job transport needs kombu: pip install 'kombu>=5.3'") from exc

from shared.transport.base import MessageHandler, MessageRefused, TransportError, TransportMessage

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "labcloud-jobs"
DEFAULT_DEAD_LETTER_QUEUE = "labcloud-jobs-dead"
RECEIVES_HEADER = "x-labcloud-receives"  # failed receives so far (RabbitMQ, Redis)
DEAD_REASON_HEADER = "x-labcloud-dead-reason"
SOURCE_QUEUE_HEADER = "x-labcloud-source-queue"
CONTENT_TYPE = "application/json"

_SCHEMES = {
    "amqp": "amqp",
    "amqps": "amqp",
    "pyamqp": "amqp",
    "redis": "redis",
    "rediss": "redis",
    "sqs": "sqs",
}
# Defaults under the caller's transport_options. max_retries=0: fail at once when the
# broker is down (kombu's default retries forever); the outbox and pollers retry.
_DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "amqp": {"confirm_publish": True, "max_retries": 0},
    "redis": {
        "max_retries": 0,
        "visibility_timeout": 300,
        # Our own unacked index: kombu's default one is shared with any Celery on the
        # same Redis, and our visibility timeout would restore its tasks.
        "unacked_key": "labcloud-transport:unacked",
        "unacked_index_key": "labcloud-transport:unacked_index",
        "unacked_mutex_key": "labcloud-transport:unacked_mutex",
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
    },
    "sqs": {
        "max_retries": 0,
        "is_secure": True,  # kombu would talk plain HTTP to an endpoint named in the URL
        "wait_time_seconds": 10,
        "visibility_timeout": 60,
        "client-config": {
            "connect_timeout": 5,
            "retries": {"mode": "standard", "total_max_attempts": 2},
        },
    },
}


def broker_kind(url: str) -> str:
    """The kind of broker a URL names: "amqp", "redis" or "sqs"; ValueError otherwise."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _SCHEMES:
        # the scheme only: the URL may hold a password
        raise ValueError(f"not a kombu broker URL (amqp://, redis://, sqs://): {scheme!r}")
    return _SCHEMES[scheme]


def encode_message(message: TransportMessage) -> str:
    """The JSON body of `message`."""
    return json.dumps(
        {"kind": message.kind, "job_id": message.job_id, "payload": message.payload},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode_message(body: bytes | str) -> TransportMessage:
    """Parse a body written by `encode_message`; ValueError if it is not one."""
    text = bytes(body).decode("utf-8") if not isinstance(body, str) else body
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    kind, job_id, payload = data.get("kind"), data.get("job_id"), data.get("payload", {})
    if kind not in ("submit", "cancel"):
        raise ValueError(f"unknown message kind {kind!r}")
    if type(job_id) is not int:
        raise ValueError(f"job_id must be an integer, not {job_id!r}")
    if not isinstance(payload, dict):
        raise ValueError("payload must be a JSON object")
    return TransportMessage(kind, job_id, payload)


class _Broker:
    """One kombu connection, used by one thread at a time, re-opened after an error."""

    def __init__(
        self, url: str, transport_options: dict[str, Any] | None, timeout_s: float
    ) -> None:
        self.url = url
        self.kind = broker_kind(url)
        self.options = {**_DEFAULT_OPTIONS[self.kind], **(transport_options or {})}
        self.timeout_s = timeout_s
        self._connection: kombu.Connection | None = None

    @property
    def connected(self) -> bool:
        return self._connection is not None

    def channel(self) -> Any:
        if self._connection is None:
            self._connection = kombu.Connection(
                self.url, transport_options=self.options, connect_timeout=self.timeout_s
            )
        return self._connection.default_channel

    def queue(self, name: str) -> kombu.Queue:
        """Declare `name` (durable, on the default exchange) once per connection."""
        queue = kombu.Queue(name, routing_key=name, durable=True, auto_delete=False)
        channel = self.channel()
        maybe_declare(queue, channel)
        return queue.bind(channel)

    def publish(
        self,
        queue: str,
        body: bytes | str,
        *,
        content_type: str | None = CONTENT_TYPE,
        content_encoding: str | None = "utf-8",
        headers: dict[str, Any] | None = None,
        group_id: str | None = None,
    ) -> None:
        """Publish to `queue`; return once the broker has it (RabbitMQ: confirmed)."""
        self.queue(queue)
        properties: dict[str, Any] = {}
        if self.kind == "sqs" and queue.endswith(".fifo") and group_id is not None:
            properties["MessageGroupId"] = group_id  # order is kept per job
        kombu.Producer(self.channel()).publish(
            body,
            exchange="",
            routing_key=queue,
            content_type=content_type or "application/octet-stream",
            content_encoding=content_encoding or "binary",
            headers=headers or {},
            delivery_mode=2,  # persistent
            mandatory=self.kind == "amqp",  # unroutable: py-amqp raises on basic.return
            timeout=self.timeout_s,
            confirm_timeout=self.timeout_s,
            **properties,
        )

    def reset(self) -> None:
        """Drop the connection (after an error); the next call opens a new one."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with suppress(Exception):
                connection.release()


class KombuTransport:
    """The sending side: publishes job messages to `queue` on the broker at `url`.

    The queue and the dead-letter queue are declared on first use, so that nothing
    published before the first consumer runs is dropped. `dead_letter_queue` and
    `max_receives` are handed on to `consumer()`, the matching receiving side.
    """

    def __init__(
        self,
        url: str,
        queue: str = DEFAULT_QUEUE,
        *,
        transport_options: dict[str, Any] | None = None,
        dead_letter_queue: str | None = DEFAULT_DEAD_LETTER_QUEUE,
        max_receives: int = 5,
        timeout_s: float = 10.0,
    ) -> None:
        self._url = url
        self._queue = queue
        self._transport_options = transport_options
        self._dead_letter_queue = dead_letter_queue
        self._max_receives = max_receives
        self._broker = _Broker(url, transport_options, timeout_s)
        self._lock = threading.Lock()  # a kombu connection is not thread-safe

    def send(self, message: TransportMessage) -> None:
        """Publish `message`; return once the broker has it, raise TransportError if not."""
        body = encode_message(message)
        with self._lock:
            # A connection that worked before may have been closed by the broker or the
            # network meanwhile: try once more on a fresh one (a duplicate is harmless).
            for last_try in (not self._broker.connected, True):
                try:
                    if self._dead_letter_queue:
                        self._broker.queue(self._dead_letter_queue)
                    self._broker.publish(self._queue, body, group_id=str(message.job_id))
                    return
                except Exception as exc:  # whatever the broker said, it did not take it
                    self._broker.reset()
                    if last_try:
                        raise TransportError(
                            f"{self._broker.kind} broker did not accept the message: {exc!r}"
                        ) from exc

    def consumer(self, handler: MessageHandler, **options: Any) -> KombuConsumer:
        """The receiving side of this queue, with the same broker settings."""
        return KombuConsumer(
            self._url,
            self._queue,
            handler,
            transport_options=self._transport_options,
            dead_letter_queue=self._dead_letter_queue,
            max_receives=self._max_receives,
            **options,
        )

    def close(self) -> None:
        with self._lock:
            self._broker.reset()


class KombuConsumer:
    """The receiving side: hands each message of `queue` to `handler`, acks after it.

    `run_once` is one round of a background loop (worker API inbox poller); it returns
    the number of messages settled (handled and acked, or dead-lettered), so that the
    loop goes again at once while there is work and waits after a failure.
    """

    def __init__(
        self,
        url: str,
        queue: str,
        handler: MessageHandler,
        *,
        transport_options: dict[str, Any] | None = None,
        dead_letter_queue: str | None = DEFAULT_DEAD_LETTER_QUEUE,
        max_receives: int = 5,
        max_messages: int = 10,
        poll_interval_s: float = 0.1,
        timeout_s: float = 10.0,
    ) -> None:
        if max_receives < 1:
            raise ValueError("max_receives must be at least 1")
        self._queue = queue
        self._handler = handler
        self._dead_letter_queue = dead_letter_queue
        self._max_receives = max_receives
        self._max_messages = max_messages
        self._poll_interval_s = poll_interval_s
        self._broker = _Broker(url, transport_options, timeout_s)
        self._lock = threading.Lock()

    def run_once(self, timeout_s: float = 1.0) -> int:
        """Handle up to `max_messages` messages, waiting up to `timeout_s` for the first.

        Stops at the first handler failure: it is most likely the database, and going
        on would spend the other messages' receives. On SQS one receive long-polls for
        `wait_time_seconds`, which may be longer than `timeout_s`. Raises
        TransportError when the broker cannot be reached.
        """
        deadline = time.monotonic() + timeout_s
        settled = 0
        with self._lock:
            try:
                queue = self._broker.queue(self._queue)
                if self._dead_letter_queue:
                    self._broker.queue(self._dead_letter_queue)
                self._restore_visible()
                while settled < self._max_messages:
                    message = queue.get(no_ack=False)
                    if message is None:
                        if settled or time.monotonic() >= deadline:
                            break
                        # (on SQS the receive itself long-polled, unless wait_time_seconds=0)
                        pause = min(self._poll_interval_s, deadline - time.monotonic())
                        time.sleep(max(0.0, pause))
                        continue
                    if not self._settle(message):
                        break
                    settled += 1
            except Exception as exc:
                self._broker.reset()
                raise TransportError(f"{self._broker.kind} broker failed: {exc!r}") from exc
        return settled

    def close(self) -> None:
        with self._lock:
            self._broker.reset()

    def _settle(self, message: Any) -> bool:
        """Hand `message` to the handler and ack it, retry it or dead-letter it.

        Returns False when the message was given back for a retry.
        """
        receives = self._receives(message)
        try:
            decoded = decode_message(message.body)
        except ValueError as exc:
            self._dead_letter(message, f"not a job transport message: {exc}", receives)
            return True
        if receives > self._max_receives:  # SQS: earlier receives never came back
            self._dead_letter(message, f"received {receives} times", receives, decoded.job_id)
            return True
        try:
            with self._keep_invisible(message):
                self._handler(decoded)
        except MessageRefused as exc:
            self._dead_letter(message, f"refused: {exc}", receives, decoded.job_id)
            return True
        except Exception as exc:
            if receives >= self._max_receives:
                reason = f"handler failed {receives} times, last: {exc!r}"
                self._dead_letter(message, reason, receives, decoded.job_id)
                return True
            log.warning(
                "job message %s %s failed (receive %d of %d); will retry: %r",
                decoded.kind,
                decoded.job_id,
                receives,
                self._max_receives,
                exc,
            )
            self._retry(message, receives)
            return False
        message.ack()  # only now: the handler has committed it
        return True

    def _receives(self, message: Any) -> int:
        """How many times this message has been received, this time included."""
        if self._broker.kind == "sqs":
            attributes = message.delivery_info.get("sqs_message", {}).get("Attributes", {})
            return int(attributes.get("ApproximateReceiveCount", 1))
        return int((message.headers or {}).get(RECEIVES_HEADER, 0)) + 1

    def _retry(self, message: Any, receives: int) -> None:
        if self._broker.kind == "sqs":
            message.requeue()  # visible again after wait_time_seconds; SQS counts
            return
        self._broker.publish(
            self._queue,
            message.body,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            headers={**(message.headers or {}), RECEIVES_HEADER: receives},
            group_id=None,
        )
        message.ack()

    def _dead_letter(
        self, message: Any, reason: str, receives: int, job_id: int | None = None
    ) -> None:
        log.error("job message dead-lettered from %s: %s", self._queue, reason)
        if self._dead_letter_queue:
            headers = {
                **(message.headers or {}),
                RECEIVES_HEADER: receives,
                DEAD_REASON_HEADER: reason[:1000],
                SOURCE_QUEUE_HEADER: self._queue,
            }
            self._broker.publish(
                self._dead_letter_queue,
                message.body,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                headers=headers,
                group_id=str(job_id if job_id is not None else "dead"),
            )
        message.ack()  # only once the dead-letter queue has it

    def _restore_visible(self) -> None:
        """Redis: put back messages taken but not acked for `visibility_timeout`."""
        if self._broker.kind == "redis":
            channel = self._broker.channel()
            channel.qos.restore_visible(num=channel.unacked_restore_limit, interval=1)

    @contextmanager
    def _keep_invisible(self, message: Any) -> Iterator[None]:
        """While the handler runs, keep `message` from being handed to another consumer."""
        touch, timeout_s = self._toucher(message)
        if touch is None:
            yield
            return
        stop = threading.Event()

        def keep_touching() -> None:
            while not stop.wait(timeout_s / 3):
                try:
                    touch()
                except Exception as exc:  # the message may reappear: a duplicate at worst
                    log.warning("could not extend the visibility of a job message: %r", exc)

        thread = threading.Thread(target=keep_touching, name="visibility", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _toucher(self, message: Any) -> tuple[Callable[[], object] | None, float]:
        channel = self._broker.channel()
        if self._broker.kind == "sqs":
            info = message.delivery_info
            client = channel.sqs(queue=channel.canonical_queue_name(self._queue))
            timeout = int(channel.visibility_timeout)

            def touch_sqs() -> object:
                return client.change_message_visibility(
                    QueueUrl=info["sqs_queue"],
                    ReceiptHandle=info["sqs_message"]["ReceiptHandle"],
                    VisibilityTimeout=timeout,
                )

            return touch_sqs, timeout
        if self._broker.kind == "redis":
            client, key, tag = channel.client, channel.unacked_index_key, message.delivery_tag
            # xx: only while still unacked, never re-add an acked message
            return (lambda: client.zadd(key, {tag: time.time()}, xx=True)), float(
                channel.visibility_timeout
            )
        return None, 0.0  # RabbitMQ: an unacked message stays with its consumer


def probe_broker(
    url: str,
    queue: str = DEFAULT_QUEUE,
    *,
    transport_options: dict[str, Any] | None = None,
    timeout_s: float = 3.0,
) -> int:
    """Reach the broker and declare `queue` as the transport does; return its depth.

    For readiness checks: raises when the broker cannot be reached or refuses the queue
    (on SQS, a queue that does not exist or that the role may not read).
    """
    broker = _Broker(url, transport_options, timeout_s)
    try:
        _name, depth, _consumers = broker.queue(queue).queue_declare()
        return int(depth or 0)
    finally:
        broker.reset()
