"""The SDK's Server-Sent Events reader and the log stream's events."""

from __future__ import annotations

from labcloud.client.models import LogEvent
from labcloud.client.sse import SSEEvent, log_events, parse_sse


def test_events_are_split_on_blank_lines() -> None:
    lines = [
        "event: log",
        'data: {"text": "hello\\n"}',
        "id: 7",
        "",
        ": keep-alive",
        "",
        "event: status",
        'data: {"status": "running"}',
        "",
    ]
    assert list(parse_sse(lines)) == [
        SSEEvent("log", '{"text": "hello\\n"}', "7"),
        SSEEvent("status", '{"status": "running"}', "7"),  # the last id sticks
    ]


def test_data_lines_join_and_one_space_is_dropped() -> None:
    lines = ["data:first", "data:  second", "", "data: x\r\n", "\r\n"]
    assert list(parse_sse(lines)) == [
        SSEEvent("message", "first\n second"),
        SSEEvent("message", "x"),
    ]


def test_an_event_cut_off_by_the_end_of_the_stream_is_dropped() -> None:
    assert list(parse_sse(["event: log", 'data: {"text": "half"}'])) == []


def test_an_event_without_data_is_not_dispatched() -> None:
    assert list(parse_sse(["event: ping", "", "retry: 100", "", "data: y", ""])) == [
        SSEEvent("message", "y")
    ]


def test_log_events_stop_at_end() -> None:
    events = [
        SSEEvent("log", '{"text": "a"}'),
        SSEEvent("log", '{"text": ""}'),  # nothing new: not passed on
        SSEEvent("status", '{"status": "running"}'),
        SSEEvent("unknown", "{}"),
        SSEEvent("log", "not json"),
        SSEEvent("status", "[1, 2]"),
        SSEEvent("end", '{"status": "finished"}'),
        SSEEvent("log", '{"text": "after the end"}'),
    ]
    assert list(log_events(events)) == [
        LogEvent("log", text="a"),
        LogEvent("status", status="running"),
        LogEvent("log", text="not json"),
        LogEvent("end", status="finished"),
    ]
