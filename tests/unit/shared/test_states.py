import itertools

import pytest

from shared.jobs.states import (
    TERMINAL,
    IllegalTransition,
    JobStatus,
    can_transition,
    requeue,
    transition,
)

S = JobStatus
LIVE_ORDER = [S.queued, S.pulled, S.preprocessing, S.running, S.postprocessing]

LEGAL = (
    {(a, b) for i, a in enumerate(LIVE_ORDER) for b in LIVE_ORDER[i + 1 :]}
    # any live job may end, even before a late `pulled` arrives
    | {(a, end) for a in LIVE_ORDER for end in (S.finished, S.error, S.canceled)}
)


@pytest.mark.parametrize("current,target", sorted(LEGAL, key=str))
def test_legal_moves_are_applied(current: JobStatus, target: JobStatus) -> None:
    assert transition(current, target) is target
    assert can_transition(current.value, target.value)


ILLEGAL = set(itertools.product(S, S)) - LEGAL


@pytest.mark.parametrize("current,target", sorted(ILLEGAL, key=str))
def test_every_other_move_is_refused_with_a_reason(current: JobStatus, target: JobStatus) -> None:
    with pytest.raises(IllegalTransition) as info:
        transition(current, target)
    assert info.value.current is current and info.value.target is target
    assert current.value in str(info.value) and info.value.reason
    assert not can_transition(current, target)


def test_there_are_exactly_three_terminal_states() -> None:
    assert TERMINAL == {S.finished, S.error, S.canceled}
    assert all(s.is_terminal for s in TERMINAL)


@pytest.mark.parametrize("current", [S.pulled, S.preprocessing, S.running, S.postprocessing])
def test_requeue_returns_a_leased_job_to_the_queue(current: JobStatus) -> None:
    assert requeue(current) is S.queued


@pytest.mark.parametrize("current", [S.queued, *TERMINAL])
def test_requeue_refuses_queued_and_ended_jobs(current: JobStatus) -> None:
    with pytest.raises(IllegalTransition):
        requeue(current)


def test_unknown_status_string_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        transition("queued", "exploded")


def test_revive_only_from_error() -> None:
    from shared.jobs.states import revive

    assert revive("error") is S.queued
    for status in S:
        if status is not S.error:
            with pytest.raises(IllegalTransition):
                revive(status)
