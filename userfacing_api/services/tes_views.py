"""How a labcloud job looks as a GA4GH TES task: its state, and its MINIMAL, BASIC
and FULL views. Pure: the caller fetches the job, its cancel flag, the details of
its final error and the task log the worker uploaded."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.jobs.states import JobStatus
from shared.timestamps import rfc3339
from userfacing_api.tes_schemas import TesExecutorLog, TesOutputFileLog, TesState, TesView

#: What an `error` caused by the task's own command starts with (the worker's wording).
EXECUTOR_ERROR_PREFIX = "exit code"
#: What an `error` because the capacity was taken back starts with.
PREEMPTED_PREFIX = "preempted"

_ENDED = frozenset(
    {
        TesState.COMPLETE,
        TesState.EXECUTOR_ERROR,
        TesState.SYSTEM_ERROR,
        TesState.CANCELED,
        TesState.PREEMPTED,
    }
)
_LIVE_STATES = {
    JobStatus.queued: TesState.QUEUED,
    JobStatus.pulled: TesState.INITIALIZING,
    JobStatus.preprocessing: TesState.INITIALIZING,
    JobStatus.running: TesState.RUNNING,
    JobStatus.postprocessing: TesState.RUNNING,
}


def tes_state(
    status: JobStatus | str, error_details: str | None = None, cancel_requested: bool = False
) -> TesState:
    """The TES state of a job in ``status``.

    ``error_details`` are the runtime details of the job's final ``error``: one
    that starts with "exit code" is the executor's (EXECUTOR_ERROR), one that
    starts with "preempted" is PREEMPTED, any other (staging, an upload, a lost
    lease after the last retry, an invalid spec) is SYSTEM_ERROR. A live job whose
    cancel has been asked for is CANCELING until the worker side has stopped it.
    """
    status = JobStatus(status)
    if status is JobStatus.finished:
        return TesState.COMPLETE
    if status is JobStatus.canceled:
        return TesState.CANCELED
    if status is JobStatus.error:
        first = (error_details or "").lstrip().lower()
        if first.startswith(EXECUTOR_ERROR_PREFIX):
            return TesState.EXECUTOR_ERROR
        if first.startswith(PREEMPTED_PREFIX):
            return TesState.PREEMPTED
        return TesState.SYSTEM_ERROR
    if cancel_requested:
        return TesState.CANCELING
    return _LIVE_STATES[status]


def job_statuses(state: TesState) -> set[JobStatus]:
    """The job statuses that may show as ``state`` (the filter of `GET /tasks?state=`)."""
    if state is TesState.CANCELING:
        return set(_LIVE_STATES)
    found = {s for s in JobStatus if not s.is_terminal and _LIVE_STATES[s] is state}
    found |= {
        s
        for s, shown in (
            (JobStatus.finished, {TesState.COMPLETE}),
            (JobStatus.canceled, {TesState.CANCELED}),
            (
                JobStatus.error,
                {TesState.EXECUTOR_ERROR, TesState.SYSTEM_ERROR, TesState.PREEMPTED},
            ),
        )
        if state in shown
    }
    return found


class WorkerTaskLog(BaseModel):
    """The task log the worker uploads next to the job's log (`tes-task.json`)."""

    model_config = ConfigDict(extra="ignore")

    start_time: str | None = None
    end_time: str | None = None
    logs: list[TesExecutorLog] = []
    outputs: list[TesOutputFileLog] = []
    metadata: dict[str, str] = {}
    system_logs: list[str] = []


def parse_worker_log(raw: Any) -> WorkerTaskLog | None:
    """The worker's task log, or None if it is unreadable (the user may have edited it)."""
    try:
        return WorkerTaskLog.model_validate(raw)
    except ValidationError:
        return None


def render_task(
    *,
    task_id: str,
    stored: dict[str, Any],
    state: TesState,
    view: TesView,
    created: dt.datetime,
    started: dt.datetime | None,
    finished: dt.datetime | None,
    worker_log: WorkerTaskLog | None,
    system_logs: list[str],
) -> dict[str, Any]:
    """A task in ``view``: ``stored`` is the task document as accepted at submission."""
    if view is TesView.MINIMAL:
        return {"id": task_id, "state": state.value}
    task: dict[str, Any] = {"id": task_id, "state": state.value}
    task.update({k: v for k, v in stored.items() if k not in task})
    if view is TesView.BASIC and task.get("inputs"):
        task["inputs"] = [{k: v for k, v in i.items() if k != "content"} for i in task["inputs"]]
    task["creation_time"] = rfc3339(created)
    log = _task_log(state, started, finished, worker_log, system_logs, full=view is TesView.FULL)
    if log is not None:
        task["logs"] = [log]
    return task


def _task_log(
    state: TesState,
    started: dt.datetime | None,
    finished: dt.datetime | None,
    worker_log: WorkerTaskLog | None,
    system_logs: list[str],
    *,
    full: bool,
) -> dict[str, Any] | None:
    if started is None and finished is None and worker_log is None and not system_logs:
        return None
    wl = worker_log or WorkerTaskLog()
    executors = []
    for e in wl.logs:
        shown = e.model_dump(exclude_none=True)
        if not full:
            shown.pop("stdout", None)
            shown.pop("stderr", None)
        executors.append(shown)
    log: dict[str, Any] = {
        "logs": executors,
        "outputs": [o.model_dump() for o in wl.outputs],
        "start_time": wl.start_time or rfc3339(started),
    }
    if state in _ENDED:
        log["end_time"] = wl.end_time or rfc3339(finished)
    if wl.metadata:
        log["metadata"] = dict(wl.metadata)
    if full:
        log["system_logs"] = [*system_logs, *wl.system_logs]
    return {k: v for k, v in log.items() if v is not None}
