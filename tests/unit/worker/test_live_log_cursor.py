"""The live-log cursor (what of a run's output is new) and the shipper around it."""

from __future__ import annotations

from typing import Any

import pytest

from worker.client import ApiError, JobGone
from worker.live_log import ANCHOR_CHARS, Chunk, LiveLog, LogCursor


def test_each_chunk_is_what_was_written_since_the_last_one() -> None:
    cursor = LogCursor()
    assert cursor.pending("") is None
    assert cursor.pending("a\n") == Chunk(0, "a\n")
    cursor.acknowledge()
    assert cursor.pending("a\n") is None
    assert cursor.pending("a\nb\nc\n") == Chunk(2, "b\nc\n")
    cursor.acknowledge()
    assert cursor.offset == 6


def test_an_unacknowledged_chunk_is_offered_again_grown() -> None:
    cursor = LogCursor()
    assert cursor.pending("one\n") == Chunk(0, "one\n")  # not delivered
    assert cursor.pending("one\ntwo\n") == Chunk(0, "one\ntwo\n")
    cursor.acknowledge()
    assert cursor.offset == 8


def test_more_than_a_chunk_skips_ahead_to_the_latest_output() -> None:
    cursor = LogCursor(max_chunk=4)
    assert cursor.pending("0123456789") == Chunk(6, "6789")
    cursor.acknowledge()
    assert cursor.offset == 10
    assert cursor.pending("0123456789ab") == Chunk(10, "ab")


def test_the_place_is_found_again_when_the_log_drops_its_beginning() -> None:
    cursor = LogCursor()
    lines = [f"line {i:05d}\n" for i in range(2000)]
    first = "".join(lines[:1000])
    cursor.pending(first)
    cursor.acknowledge()
    # The runner's bound: the log now starts at line 500.
    slid = "".join(lines[500:1200])
    assert cursor.pending(slid) == Chunk(len(first), "".join(lines[1000:1200]))


def test_with_its_place_lost_the_whole_log_counts_as_new() -> None:
    cursor = LogCursor()
    cursor.pending("x" * (2 * ANCHOR_CHARS) + "end of the first part\n")
    cursor.acknowledge()
    sent = cursor.offset
    chunk = cursor.pending("something else entirely\n")
    assert chunk == Chunk(sent, "something else entirely\n")


class FakeClient:
    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, int, str, int | None]] = []

    def send_log(self, job_id: str, offset: int, text: str, *, attempt: int | None) -> bool:
        self.sent.append((job_id, offset, text, attempt))
        answer = self.answers.pop(0) if self.answers else True
        if isinstance(answer, Exception):
            raise answer
        return bool(answer)


def test_live_log_sends_new_output_once_and_retries_a_failure() -> None:
    client = FakeClient(ApiError("down", 503), True, True)
    live = LiveLog(client, "7", attempt=3)  # type: ignore[arg-type]
    live.ship()  # nothing read yet
    live.update("a\n")
    live.ship()  # fails: kept
    live.ship()  # sent again, taken
    live.ship()  # nothing new
    live.update("a\nb\n")
    live.ship()
    assert client.sent == [("7", 0, "a\n", 3), ("7", 0, "a\n", 3), ("7", 2, "b\n", 3)]


def test_an_older_server_turns_live_logs_off_and_a_gone_job_is_said() -> None:
    client = FakeClient(False)
    live = LiveLog(client, "7", attempt=None)  # type: ignore[arg-type]
    live.update("a\n")
    live.ship()
    live.update("a\nb\n")
    live.ship()
    assert len(client.sent) == 1
    gone = LiveLog(FakeClient(JobGone("8")), "8", attempt=1)  # type: ignore[arg-type]
    gone.update("x")
    with pytest.raises(JobGone):
        gone.ship()
