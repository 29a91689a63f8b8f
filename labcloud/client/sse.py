"""Server-Sent Events, read from lines of text (the `text/event-stream` format).

Pure: no I/O, so it is tested on its own. `parse_sse` turns lines into events;
`log_events` turns the user API's log stream (`GET /jobs/{id}/logs/stream`:
`log` events with `{"text"}`, `status` events with `{"status"}`, a final `end`
with `{"status"}`) into :class:`~labcloud.client.models.LogEvent`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from labcloud.client.models import LogEvent


@dataclass(frozen=True)
class SSEEvent:
    event: str
    data: str
    id: str | None = None


def parse_sse(lines: Iterable[str]) -> Iterator[SSEEvent]:
    """Events from the lines of a stream (line endings already stripped or not).

    As the spec says: a blank line ends an event; `data:` lines are joined with
    newlines; one space after the colon is dropped; lines starting with `:` are
    comments (keep-alives); an event without `data` is not dispatched; the type
    defaults to `message`; a stream that ends mid-event drops that event.
    """
    event, last_id = "", None
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if line == "":
            if data:
                yield SSEEvent(event or "message", "\n".join(data), last_id)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            last_id = value
        # `retry` and unknown fields are ignored


def log_event(sse: SSEEvent) -> LogEvent | None:
    """The log stream's event, or None for an unknown type or unreadable data."""
    try:
        payload = json.loads(sse.data)
    except ValueError:
        payload = {"text": sse.data} if sse.event == "log" else {}
    if not isinstance(payload, dict):
        return None
    if sse.event == "log":
        text = str(payload.get("text") or "")
        return LogEvent("log", text=text) if text else None  # nothing new to show
    if sse.event == "status" and payload.get("status"):
        return LogEvent("status", status=str(payload["status"]))
    if sse.event == "end":
        status = payload.get("status")
        return LogEvent("end", status=str(status) if status else None)
    return None


def log_events(events: Iterable[SSEEvent]) -> Iterator[LogEvent]:
    """The log stream's events up to and including `end`; others are skipped."""
    for sse in events:
        event = log_event(sse)
        if event is not None:
            yield event
            if event.kind == "end":
                return
