"""Merging a worker's log chunk into an attempt's bounded tail (pure)."""

from __future__ import annotations

from workerfacing_api.services.live_logs import Tail, merge


def test_chunks_in_order_are_appended() -> None:
    tail = merge(Tail(), 0, "a\n")
    assert tail == Tail("a\n", 2, False)
    assert merge(tail, 2, "b\n") == Tail("a\nb\n", 4, False)


def test_a_chunk_sent_again_changes_nothing() -> None:
    tail = Tail("a\nb\n", 4, False)
    assert merge(tail, 0, "a\nb\n") is None
    assert merge(tail, 2, "b\n") is None
    assert merge(tail, 4, "") is None


def test_an_overlapping_chunk_adds_only_its_new_part() -> None:
    tail = Tail("a\nb\n", 4, False)
    assert merge(tail, 2, "b\nc\n") == Tail("a\nb\nc\n", 6, False)


def test_a_chunk_after_a_gap_replaces_the_tail() -> None:
    tail = Tail("a\n", 2, False)
    assert merge(tail, 10, "z\n") == Tail("z\n", 12, True)
    assert merge(Tail(), 5, "late start\n") == Tail("late start\n", 16, True)


def test_the_tail_is_bounded() -> None:
    tail = merge(Tail(), 0, "0123456789", limit=8)
    assert tail == Tail("23456789", 10, True)
    assert merge(tail, 10, "ab", limit=8) == Tail("456789ab", 12, True)
