"""What a follower of a job's live log is sent, snapshot after snapshot (pure)."""

from __future__ import annotations

from shared.jobs.states import JobStatus
from userfacing_api.services.live_logs import Follower, Snapshot, StreamEvent


def test_first_the_current_tail_then_what_is_new_then_the_end() -> None:
    follower = Follower()
    assert follower.events(Snapshot(JobStatus.queued)) == [
        StreamEvent("log", {"text": ""}),
        StreamEvent("status", {"status": "queued"}),
    ]
    assert follower.events(Snapshot(JobStatus.queued)) == []
    assert follower.events(Snapshot(JobStatus.running, 1, "a\n", 2)) == [
        StreamEvent("log", {"text": "a\n"}, "1-2"),
        StreamEvent("status", {"status": "running"}),
    ]
    assert follower.events(Snapshot(JobStatus.running, 1, "a\nb\n", 4)) == [
        StreamEvent("log", {"text": "b\n"}, "1-4"),
    ]
    assert follower.events(Snapshot(JobStatus.finished, 1, "a\nb\nc\n", 6)) == [
        StreamEvent("log", {"text": "c\n"}, "1-6"),
        StreamEvent("end", {"status": "finished"}),
    ]


def test_a_tail_that_moved_past_what_was_kept_is_sent_whole() -> None:
    follower = Follower()
    follower.events(Snapshot(JobStatus.running, 1, "abc", 3))
    # 100 characters later, of which the tail keeps the last 4.
    assert follower.events(Snapshot(JobStatus.running, 1, "wxyz", 103))[0].data == {"text": "wxyz"}


def test_a_retry_starts_over_with_the_new_attempt() -> None:
    follower = Follower()
    follower.events(Snapshot(JobStatus.running, 1, "first try\n", 10))
    events = follower.events(Snapshot(JobStatus.running, 2, "second\n", 7))
    assert events == [StreamEvent("log", {"text": "second\n"}, "2-7")]


def test_a_reconnecting_client_gets_only_what_it_has_not_seen() -> None:
    follower = Follower(resume="1-4")
    assert follower.events(Snapshot(JobStatus.running, 1, "a\nb\nc\n", 6))[0] == StreamEvent(
        "log", {"text": "c\n"}, "1-6"
    )
    garbage = Follower(resume="not-an-id")
    assert garbage.events(Snapshot(JobStatus.running, 1, "a\n", 2))[0].data == {"text": "a\n"}


def test_a_job_that_already_ended_gives_its_tail_and_the_end() -> None:
    events = Follower().events(Snapshot(JobStatus.error, 3, "boom\n", 5))
    assert events == [
        StreamEvent("log", {"text": "boom\n"}, "3-5"),
        StreamEvent("end", {"status": "error"}),
    ]
