"""GA4GH TES tasks as the client sees them: show, list (filters, pages), cancel.

The task document comes from the job's `attributes["tes"]`, the state from the
job's status (see :func:`~userfacing_api.services.tes_views.tes_state`), and the
executor and output logs from the `tes-task.json` the worker uploaded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.api.errors import BadRequest, NotFound
from shared.jobs.states import JobStatus
from shared.jobs.tes_spec import TASK_LOG_NAME
from shared.validation import parse_int
from userfacing_api.db.models import Job, OutboxMessage, StatusEvent
from userfacing_api.services import jobs
from userfacing_api.services.files import UserFiles
from userfacing_api.services.tes import APPLICATION
from userfacing_api.services.tes_views import (
    WorkerTaskLog,
    job_statuses,
    parse_worker_log,
    render_task,
    tes_state,
)
from userfacing_api.tes_schemas import TesState, TesView

MAX_TASK_LOG_BYTES = 4 * 1024 * 1024
DEFAULT_PAGE_SIZE = 256
MAX_PAGE_SIZE = 2047
_BATCH = 200


def _is_tes(job: Job) -> bool:
    return (
        isinstance(job.application, dict)
        and job.application.get("application") == (APPLICATION["application"])
    )


def get_job(session: Session, user_id: str, task_id: str) -> Job:
    """The user's TES job named by ``task_id``; NotFound otherwise."""
    job_id = parse_int(task_id)
    job = session.get(Job, job_id) if job_id is not None else None
    if job is None or job.user_id != user_id or not _is_tes(job):
        raise NotFound("task not found")
    return job


def _cancel_flags(session: Session, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    query = select(OutboxMessage.job_id).where(
        OutboxMessage.job_id.in_(ids), OutboxMessage.kind == "cancel"
    )
    return set(session.scalars(query))


def _error_details(session: Session, jobs_: list[Job]) -> dict[int, str]:
    """The runtime details each failed job's `error` came with."""
    ids = [j.id for j in jobs_ if j.status == JobStatus.error.value]
    found: dict[int, str] = {}
    if ids:
        query = (
            select(StatusEvent.job_id, StatusEvent.runtime_details)
            .where(
                StatusEvent.job_id.in_(ids),
                StatusEvent.status == JobStatus.error.value,
                StatusEvent.applied.is_(True),
            )
            .order_by(StatusEvent.id)
        )
        for job_id, details in session.execute(query):
            found[job_id] = details or ""
    for j in jobs_:
        if j.id in ids and j.id not in found:
            found[j.id] = j.runtime_details or ""
    return found


def read_worker_log(files: UserFiles, job: Job) -> WorkerTaskLog | None:
    """The task log the worker uploaded for ``job``, if there is a readable one."""
    key = files.key(f"log/{job.job_name}/{TASK_LOG_NAME}")
    try:  # ValueError: also a link placed there that leads out of the user's folder
        entry = files.storage.stat(key)
        if entry is None or entry.is_dir or entry.size > MAX_TASK_LOG_BYTES:
            return None
        raw = json.loads(b"".join(files.storage.read(key)))
    except (ValueError, OSError):
        return None
    return parse_worker_log(raw)


@dataclass
class _Batch:
    session: Session
    files: UserFiles
    jobs: list[Job]

    def __post_init__(self) -> None:
        self.cancels = _cancel_flags(self.session, [j.id for j in self.jobs])
        self.errors = _error_details(self.session, self.jobs)

    def state(self, job: Job) -> TesState:
        return tes_state(job.status, self.errors.get(job.id), job.id in self.cancels)

    def render(self, job: Job, view: TesView) -> dict[str, Any]:
        state = self.state(job)
        worker_log = None
        if view is not TesView.MINIMAL and job.date_started is not None:
            worker_log = read_worker_log(self.files, job)
        system_logs = list(job.attributes.get("tes_warnings") or [])
        if state in (TesState.SYSTEM_ERROR, TesState.PREEMPTED, TesState.EXECUTOR_ERROR):
            system_logs.append(self.errors.get(job.id, ""))
        return render_task(
            task_id=str(job.id),
            stored=job.attributes.get("tes") or {},
            state=state,
            view=view,
            created=job.date_created,
            started=job.date_started,
            finished=job.date_finished,
            worker_log=worker_log,
            system_logs=[s for s in system_logs if s],
        )


def show_task(session: Session, files: UserFiles, task_id: str, view: TesView) -> dict[str, Any]:
    job = get_job(session, files.root, task_id)
    return _Batch(session, files, [job]).render(job, view)


@dataclass(frozen=True)
class TaskFilter:
    name_prefix: str | None = None
    state: TesState | None = None
    tags: tuple[tuple[str, str], ...] = ()  # value "" matches any value

    def matches_document(self, stored: dict[str, Any]) -> bool:
        if self.name_prefix and not str(stored.get("name") or "").startswith(self.name_prefix):
            return False
        tags = stored.get("tags") or {}
        return all(k in tags and (not v or tags[k] == v) for k, v in self.tags)


def _candidates(
    session: Session, user_id: str, flt: TaskFilter, before: int | None
) -> Iterator[list[Job]]:
    """The user's TES jobs, newest first, in batches, pre-filtered in SQL where possible."""
    query = select(Job).where(Job.user_id == user_id).order_by(Job.id.desc()).limit(_BATCH)
    if flt.state is not None:
        query = query.where(Job.status.in_([s.value for s in job_statuses(flt.state)]))
    while True:
        page = query.where(Job.id < before) if before is not None else query
        batch = list(session.scalars(page))
        if not batch:
            return
        yield [j for j in batch if _is_tes(j)]
        before = batch[-1].id


def list_tasks(
    session: Session,
    files: UserFiles,
    flt: TaskFilter,
    view: TesView,
    page_size: int,
    page_token: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the user's tasks, newest first, and the token of the next page."""
    before = None
    if page_token:
        before = parse_int(page_token)
        if before is None:
            raise BadRequest("invalid page_token")
    if flt.state is not None and not job_statuses(flt.state):
        return [], None
    picked: list[tuple[_Batch, Job]] = []
    more = False
    for jobs_ in _candidates(session, files.root, flt, before):
        docs = [j for j in jobs_ if flt.matches_document(j.attributes.get("tes") or {})]
        batch = _Batch(session, files, docs)
        for job in docs:
            if flt.state is not None and batch.state(job) is not flt.state:
                continue
            if len(picked) == page_size:
                more = True
                break
            picked.append((batch, job))
        if more:
            break
    tasks = [batch.render(job, view) for batch, job in picked]
    token = str(picked[-1][1].id) if more and picked else None
    return tasks, token


def cancel_task(session: Session, user_id: str, task_id: str) -> Job:
    """Ask for the task's job to be stopped (nothing happens to a task that has ended)."""
    job = get_job(session, user_id, task_id)
    return jobs.cancel_job(session, user_id, job.id)
