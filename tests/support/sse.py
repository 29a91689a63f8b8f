"""Reading a Server-Sent Events stream in tests, as an EventSource would."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    event: str
    data: Any  # the JSON of the `data:` lines
    id: str | None = None


def parse(lines: Iterable[str]) -> Iterator[Event | str]:
    """Events, and the comment lines (keep-alives) as strings, in stream order."""
    fields: dict[str, list[str]] = {}
    for line in lines:
        if line == "":
            if "data" in fields or "event" in fields:
                data = "\n".join(fields.get("data", []))
                yield Event(
                    fields.get("event", ["message"])[-1],
                    json.loads(data) if data else None,
                    fields.get("id", [None])[-1],
                )
            fields = {}
        elif line.startswith(":"):
            yield line
        else:
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))


class Follower:
    """Follows a stream in a thread: `next()` waits for the next event (comments skipped)."""

    def __init__(self, http: httpx.Client, url: str, **kwargs: Any) -> None:
        self.events: queue.Queue[Event | None] = queue.Queue()
        self.comments: list[str] = []
        self.status_code: int | None = None
        self.headers: httpx.Headers | None = None
        self._http, self._url, self._kwargs = http, url, kwargs
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise AssertionError("the stream did not answer")

    def _read(self) -> None:
        try:
            with self._http.stream("GET", self._url, **self._kwargs) as response:
                self.status_code, self.headers = response.status_code, response.headers
                self._started.set()
                if response.status_code != 200:
                    return
                for item in parse(response.iter_lines()):
                    if isinstance(item, str):
                        self.comments.append(item)
                    else:
                        self.events.put(item)
        except httpx.HTTPError:
            pass  # the server went away
        finally:
            self._started.set()
            self.events.put(None)  # the stream ended

    def next(self, timeout: float = 10) -> Event | None:
        """The next event; None once the stream has ended."""
        return self.events.get(timeout=timeout)

    def until(self, event: str, timeout: float = 10) -> list[Event]:
        """Every event up to and including the first `event`."""
        seen: list[Event] = []
        while True:
            item = self.next(timeout)
            if item is None:
                raise AssertionError(f"the stream ended before `{event}`: {seen}")
            seen.append(item)
            if item.event == event:
                return seen

    def ended(self, timeout: float = 10) -> bool:
        """Whether the server closed the stream (within `timeout`)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()


def first_events(items: Iterator[Event | str], until: str) -> list[Event]:
    """Read `items` (`parse(response.iter_lines())`, in this thread) up to the first
    `until` event. Keep `items` referenced while the stream should stay open: dropping it
    (or leaving the `stream()` block) hangs up, as a client going away does."""
    seen: list[Event] = []
    for item in items:
        if isinstance(item, Event):
            seen.append(item)
            if item.event == until:
                return seen
    raise AssertionError(f"the stream ended before `{until}`: {seen}")
