"""`/jobs`: workers lease jobs, report their status and heartbeat (DECODE's routes).

The `{job_id}` of every route here is the key under which `GET /jobs` handed the
job out. DECODE's worker uses that key, unread, for all its later calls;
labcloud makes it the user-side job id (`meta.job_id`), so one number names a
job everywhere (user API, worker API, logs).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from fastapi import status as http
from starlette.concurrency import run_in_threadpool

from shared.jobs.specs import JobSpecs
from shared.jobs.states import JobStatus
from workerfacing_api.context import AppContext
from workerfacing_api.db.models import utcnow
from workerfacing_api.db.session import write_session
from workerfacing_api.dependencies import ContextDep, SessionDep, Worker, WorkerDep
from workerfacing_api.schemas import LogChunk
from workerfacing_api.services import leases, live_logs, queue, releases

router = APIRouter(tags=["Jobs"])

MAX_LIMIT = 100
RECHECK_S = 1.0  # a long poll looks again at least this often, wakeup or not


def lease_timeout(ctx: AppContext, worker: Worker) -> int:
    """labcloud's worker heartbeats in every phase; DECODE's is silent while it
    transfers files, so it gets DECODE's longer lease."""
    return ctx.settings.lease_timeout if worker.labcloud else ctx.settings.decode_lease_timeout


def _claim(
    ctx: AppContext, offer: queue.WorkerOffer, limit: int, lease_s: int
) -> dict[int, dict[str, Any]]:
    with ctx.metrics.timing_claim() as timing, write_session(ctx.sessions) as session:
        jobs = queue.claim(session, offer, limit, lease_s, utcnow())
        timing.jobs = len(jobs)
        return {job.job_id: _with_attempt(job.spec["job"], job.attempt) for job in jobs}


def _with_attempt(spec: dict[str, Any], attempt: int) -> dict[str, Any]:
    """The spec with the lease's attempt number in `meta.extra`, for the worker to send
    back (`X-Labcloud-Attempt`) so that a stale run of the same worker is fenced off."""
    meta = spec.get("meta", {})
    return {**spec, "meta": {**meta, "extra": {**meta.get("extra", {}), "attempt": attempt}}}


@router.get("/jobs", response_model=dict[int, JobSpecs])
async def pull_jobs(
    ctx: ContextDep,
    worker: WorkerDep,
    memory: Annotated[int, Query(ge=0, description="MB")],
    cpu_cores: Annotated[int, Query(ge=0)] = 1,
    gpu_mem: Annotated[int | None, Query(ge=0, description="MB")] = None,
    gpu_memory: Annotated[
        int | None, Query(ge=0, description="DECODE's worker's spelling of gpu_mem")
    ] = None,
    gpu_model: str | None = None,
    gpu_archi: str | None = None,
    groups: Annotated[list[str] | None, Query()] = None,
    gpus: Annotated[
        int | None,
        Query(
            ge=0, description="labcloud: GPUs free on the worker; jobs needing more are not offered"
        ),
    ] = None,
    runners: Annotated[
        list[str] | None,
        Query(description="labcloud: runners this worker can use; default docker only"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1,
    older_than: Annotated[
        float, Query(ge=0, description="seconds a job of environment 'any' must have waited")
    ] = 0,
    wait: Annotated[
        float,
        Query(
            ge=0, description="labcloud: seconds to wait for work (long poll), capped by the server"
        ),
    ] = 0,
) -> dict[int, dict[str, Any]]:
    """Lease up to `limit` jobs this worker can run: `{job_id: JobSpecs}`, possibly empty.

    Async only to wait without holding a thread: each claim runs in the thread pool.
    """
    offer = queue.WorkerOffer(
        worker_id=worker.id,
        environment=worker.environment,
        memory=memory,
        cpu_cores=cpu_cores,
        gpu_mem=gpu_mem if gpu_mem is not None else (gpu_memory or 0),
        gpu_model=gpu_model,
        gpu_archi=gpu_archi,
        groups=tuple(groups or ()),
        older_than=older_than,
        gpus=gpus,
        runners=tuple(runners or ("docker",)),
    )
    deadline = time.monotonic() + min(wait, ctx.settings.long_poll_cap)
    while True:
        jobs = await run_in_threadpool(_claim, ctx, offer, limit, lease_timeout(ctx, worker))
        remaining = deadline - time.monotonic()
        if jobs or remaining <= 0:
            return jobs
        await ctx.work_wakeup.wait(min(remaining, RECHECK_S))


@router.get(
    "/jobs/{job_id}/status",
    response_model=JobStatus,
    responses={404: {"description": "not (any longer) yours: stop the job"}},
)
def get_job_status(job_id: int, worker: WorkerDep, session: SessionDep) -> JobStatus:
    """The status of a job you hold; 404 for any other job (cancelled, deleted, given to
    another worker, ended, or never yours)."""
    job = leases.held_job(session, job_id, worker.id, attempt=worker.attempt, after_error=True)
    return JobStatus(job.status)


@router.put(
    "/jobs/{job_id}/status",
    status_code=http.HTTP_204_NO_CONTENT,
    responses={
        404: {"description": "not (any longer) yours: stop the job"},
        409: {"description": "the state machine refuses this move"},
    },
)
def put_job_status(
    job_id: int,
    ctx: ContextDep,
    worker: WorkerDep,
    status: JobStatus,
    runtime_details: str | None = None,
) -> Response:
    """Report the job's status; the same status again is a heartbeat. Either extends the
    lease. 404 means the job was cancelled, deleted or given to another worker."""
    with write_session(ctx.sessions) as session:
        leases.update_status(
            session,
            job_id,
            worker.id,
            status,
            runtime_details,
            lease_timeout=lease_timeout(ctx, worker),
            now=utcnow(),
            attempt=worker.attempt,
        )
    return Response(status_code=http.HTTP_204_NO_CONTENT)


@router.post(
    "/jobs/{job_id}/log",
    status_code=http.HTTP_204_NO_CONTENT,
    responses={404: {"description": "not (any longer) yours: stop the job"}},
)
def post_job_log(
    job_id: int, chunk: Annotated[LogChunk, Body()], ctx: ContextDep, worker: WorkerDep
) -> Response:
    """labcloud: the new part of the job's output (live logs), fenced like a status report.

    Idempotent on `offset`: text that was sent before is not appended again. The
    attempt's latest 64 Ki characters are kept and relayed to the user API.
    """
    with write_session(ctx.sessions) as session:
        live_logs.append_chunk(
            session, job_id, worker.id, chunk.offset, chunk.text, utcnow(), attempt=worker.attempt
        )
    return Response(status_code=http.HTTP_204_NO_CONTENT)


@router.post(
    "/jobs/{job_id}/release",
    status_code=http.HTTP_204_NO_CONTENT,
    responses={404: {"description": "not (any longer) yours"}},
)
def release_job(
    job_id: int,
    ctx: ContextDep,
    worker: WorkerDep,
    failed: Annotated[
        bool,
        Query(
            description="labcloud: the run was lost, not stopped: the attempt counts against "
            "MAX_RETRIES (a hand-back does not)"
        ),
    ] = False,
) -> Response:
    """labcloud: give a held job back (the worker is shutting down); it is queued again
    at once instead of after the lease timeout, and the attempt does not count."""
    with write_session(ctx.sessions) as session:
        releases.release(
            session,
            job_id,
            worker.id,
            utcnow(),
            worker.attempt,
            failed=failed,
            max_retries=ctx.settings.max_retries,
        )
    return Response(status_code=http.HTTP_204_NO_CONTENT)
