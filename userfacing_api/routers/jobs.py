"""`/jobs`: the application catalogue, and submitting, listing and deleting jobs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response, status

from shared.api.errors import error_responses
from shared.validation import Count, RowId
from userfacing_api.dependencies import (
    CatalogueDep,
    ContextDep,
    CurrentUser,
    SessionDep,
    UserFilesDep,
    UserStorageDep,
)
from userfacing_api.schemas import JobCreate, JobPublic
from userfacing_api.services import jobs
from userfacing_api.services.job_limits import JobLimits

router = APIRouter(tags=["Jobs"], responses=error_responses(401, 403))


@router.get("/jobs/applications")
def list_applications(catalogue: CatalogueDep, _user: CurrentUser) -> dict[str, Any]:
    """application → version → entrypoint → its configuration."""
    return catalogue.model_dump(mode="json")


@router.get("/jobs", response_model=list[JobPublic])
def list_jobs(
    user: CurrentUser,
    session: SessionDep,
    offset: Count = 0,
    limit: Annotated[int, Query(ge=1, le=jobs.MAX_PAGE)] = 100,
) -> list[JobPublic]:
    """The caller's jobs, newest first."""
    return [jobs.to_public(j) for j in jobs.list_jobs(session, user.username, offset, limit)]


@router.get("/jobs/{job_id}", response_model=JobPublic, responses=error_responses(404))
def describe_job(job_id: RowId, user: CurrentUser, session: SessionDep) -> JobPublic:
    return jobs.to_public(jobs.get_job(session, user.username, job_id))


@router.post(
    "/jobs",
    status_code=status.HTTP_201_CREATED,
    response_model=JobPublic,
    responses=error_responses(
        notes={
            400: "missing or invalid input",
            409: "name taken",
            413: "over a limit of a job (environment, inputs)",
            429: "too many jobs not ended yet (MAX_QUEUED_JOBS_PER_USER)",
            507: "over the storage quota",
        }
    ),
)
def start_job(
    request: Annotated[JobCreate, Body()],
    user: CurrentUser,
    session: SessionDep,
    files: UserFilesDep,
    catalogue: CatalogueDep,
    ctx: ContextDep,
    storage: UserStorageDep,
) -> JobPublic:
    """Validate and queue a job; it is handed to the worker API in the background."""
    storage.check_room()  # no new job while over quota
    limits = JobLimits.from_settings(ctx.settings)
    job = jobs.submit_job(session, catalogue, files, request, user.email, limits=limits)
    ctx.outbox_wakeup.notify()
    return jobs.to_public(job)


@router.post(
    "/jobs/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    responses=error_responses(404),
)
def cancel_job(job_id: RowId, user: CurrentUser, session: SessionDep, ctx: ContextDep) -> JobPublic:
    """labcloud: stop a job and keep its record; it turns `canceled` once the worker
    side has stopped it (a job that has already ended stays as it is)."""
    job = jobs.cancel_job(session, user.username, job_id)
    ctx.outbox_wakeup.notify()
    return jobs.to_public(job)


@router.delete(
    "/jobs/{job_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404)
)
def delete_job(
    job_id: RowId, session: SessionDep, files: UserFilesDep, ctx: ContextDep
) -> Response:
    """Cancel the job if it still runs, then delete it and its outputs."""
    jobs.delete_job(session, files, job_id)
    ctx.usage.forget(files.root)  # its outputs are gone
    ctx.outbox_wakeup.notify()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
