"""The job state machine, shared by both APIs. Pure: no I/O.

`queued → pulled → preprocessing → running → postprocessing → finished | error`,
plus `canceled`. A job may skip forward (a worker that has nothing to stage can
go from `pulled` to `running`), may fail or be cancelled from any live state, and
never leaves a terminal state. Only the lease sweeper moves a job back to
`queued`, through `requeue()`, which is kept apart on purpose.
"""

from __future__ import annotations

import enum


class JobStatus(enum.StrEnum):
    queued = "queued"
    pulled = "pulled"
    preprocessing = "preprocessing"
    running = "running"
    postprocessing = "postprocessing"
    finished = "finished"
    error = "error"
    canceled = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.finished, JobStatus.error, JobStatus.canceled})

# Forward order of the live states; a move must go strictly forward in it.
_ORDER = [
    JobStatus.queued,
    JobStatus.pulled,
    JobStatus.preprocessing,
    JobStatus.running,
    JobStatus.postprocessing,
]


class IllegalTransition(ValueError):
    """A move the state machine refuses; `reason` says why in words."""

    def __init__(self, current: JobStatus, target: JobStatus, reason: str) -> None:
        super().__init__(f"cannot move a job from '{current.value}' to '{target.value}': {reason}")
        self.current = current
        self.target = target
        self.reason = reason


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    """Whether `current → target` is a legal forward move."""
    try:
        transition(current, target)
    except IllegalTransition:
        return False
    return True


def transition(current: JobStatus | str, target: JobStatus | str) -> JobStatus:
    """Return the new status of a job moving from `current` to `target`.

    Raises IllegalTransition for a move out of a terminal state and a move
    backwards or sideways (including `x → x`). Any live state may end: reports
    can arrive late or out of order, so `finished` may well come before `pulled`.
    """
    current, target = JobStatus(current), JobStatus(target)
    if current.is_terminal:
        raise IllegalTransition(current, target, "the job has already ended")
    if target in TERMINAL:
        return target
    if _ORDER.index(target) <= _ORDER.index(current):
        raise IllegalTransition(current, target, "status may only move forward")
    return target


def requeue(current: JobStatus | str) -> JobStatus:
    """The sweeper's move: a leased, still-live job goes back to `queued`."""
    current = JobStatus(current)
    if current.is_terminal or current is JobStatus.queued:
        raise IllegalTransition(current, JobStatus.queued, "only a leased live job can be requeued")
    return JobStatus.queued


def revive(current: JobStatus | str) -> JobStatus:
    """An operator's explicit requeue of a job that ended in `error` (the dead-letter
    queue). Not a worker's move: only the admin requeue command makes it."""
    current = JobStatus(current)
    if current is not JobStatus.error:
        raise IllegalTransition(current, JobStatus.queued, "only a job in 'error' can be revived")
    return JobStatus.queued
