"""TES states and views of labcloud jobs (pure), checked against the specification's
OpenAPI document."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.jobs.states import JobStatus
from tests.support.tes_openapi import assert_task_view
from userfacing_api.services.tes_views import (
    WorkerTaskLog,
    job_statuses,
    parse_worker_log,
    render_task,
    rfc3339,
    tes_state,
)
from userfacing_api.tes_schemas import TesState, TesView


@pytest.mark.parametrize(
    ("status", "details", "cancel", "state"),
    [
        ("queued", None, False, TesState.QUEUED),
        ("pulled", None, False, TesState.INITIALIZING),
        ("preprocessing", None, False, TesState.INITIALIZING),
        ("running", None, False, TesState.RUNNING),
        ("postprocessing", None, False, TesState.RUNNING),
        ("finished", None, False, TesState.COMPLETE),
        ("finished", None, True, TesState.COMPLETE),  # it ended before the cancel landed
        ("error", "exit code 3 (executor 1 of 2)\nboom", False, TesState.EXECUTOR_ERROR),
        ("error", "input missing: data/x", False, TesState.SYSTEM_ERROR),
        ("error", "lost: max retries reached", False, TesState.SYSTEM_ERROR),
        ("error", "invalid spec: job.handler: field required", False, TesState.SYSTEM_ERROR),
        ("error", "timeout after 60 s", False, TesState.SYSTEM_ERROR),
        ("error", None, False, TesState.SYSTEM_ERROR),
        ("error", "preempted: spot capacity reclaimed", False, TesState.PREEMPTED),
        ("running", None, True, TesState.CANCELING),
        ("queued", None, True, TesState.CANCELING),
        ("canceled", None, True, TesState.CANCELED),
    ],
)
def test_state_mapping(status: str, details: str | None, cancel: bool, state: TesState) -> None:
    assert tes_state(status, details, cancel) is state


def test_every_state_filter_names_the_statuses_it_can_come_from() -> None:
    for status in JobStatus:
        for details in ("exit code 1", "lost", "preempted"):
            for cancel in (False, True):
                shown = tes_state(status, details, cancel)
                assert status in job_statuses(shown), (status, details, cancel, shown)
    assert job_statuses(TesState.PAUSED) == set() == job_statuses(TesState.UNKNOWN)


STORED = {
    "name": "t",
    "inputs": [{"path": "/in.txt", "content": "secret", "type": "FILE"}],
    "outputs": [{"path": "/out/x", "url": "file:///x", "type": "FILE"}],
    "executors": [{"image": "alpine", "command": ["cat", "/in.txt"]}],
    "tags": {"a": "b"},
}
WORKER_LOG = WorkerTaskLog(
    start_time="2024-01-01T00:00:01Z",
    end_time="2024-01-01T00:00:09Z",
    logs=[{"exit_code": 0, "stdout": "out", "stderr": "err", "start_time": "2024-01-01T00:00:02Z"}],
    outputs=[{"url": "file:///x", "path": "/out/x", "size_bytes": "12"}],
    metadata={"worker_id": "w1"},
    system_logs=["note"],
)
T0 = dt.datetime(2024, 1, 1)


@pytest.mark.parametrize("view", list(TesView))
def test_views_follow_the_specification(view: TesView) -> None:
    task = render_task(
        task_id="7",
        stored=STORED,
        state=TesState.COMPLETE,
        view=view,
        created=T0,
        started=T0,
        finished=T0,
        worker_log=WORKER_LOG,
        system_logs=["a warning"],
    )
    assert_task_view(task, view.value)
    if view is TesView.FULL:
        [log] = task["logs"]
        assert log["system_logs"] == ["a warning", "note"]
        assert log["logs"][0]["stdout"] == "out" and task["inputs"][0]["content"] == "secret"
        assert log["end_time"] == "2024-01-01T00:00:09Z"


def test_a_queued_task_has_no_logs_and_a_running_one_no_end() -> None:
    common = dict(task_id="1", stored=STORED, view=TesView.FULL, created=T0, system_logs=[])
    queued = render_task(
        state=TesState.QUEUED, started=None, finished=None, worker_log=None, **common
    )  # type: ignore[arg-type]
    assert "logs" not in queued
    running = render_task(
        state=TesState.RUNNING, started=T0, finished=None, worker_log=None, **common
    )  # type: ignore[arg-type]
    assert running["logs"][0]["start_time"] == rfc3339(T0) and "end_time" not in running["logs"][0]
    assert_task_view(running, "FULL")


def test_an_unreadable_worker_log_is_ignored() -> None:
    assert parse_worker_log({"logs": [{"exit_code": "not a number"}]}) is None
    assert parse_worker_log([1, 2]) is None
    assert parse_worker_log({"logs": []}) == WorkerTaskLog()
