"""Internal endpoints for the user API, authenticated with the shared API key.

`POST /_jobs` is DECODE's transport (the user API posts each job spec here);
labcloud adds cancel and a read-back for reconciliation.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from fastapi import status as http

from shared.jobs.specs import SubmittedJob
from shared.jobs.states import JobStatus
from shared.transport.base import TransportMessage
from workerfacing_api.dependencies import ContextDep, SessionDep, require_api_key
from workerfacing_api.schemas import QueuedJobState
from workerfacing_api.services import leases

router = APIRouter(tags=["_Internal"], dependencies=[Depends(require_api_key)])


@router.post("/_jobs", status_code=http.HTTP_201_CREATED, response_model=SubmittedJob)
def submit_job(job: SubmittedJob, ctx: ContextDep) -> SubmittedJob:
    """Queue a job (idempotent on `job.meta.job_id`: a repeat changes nothing)."""
    ctx.handle_message(TransportMessage("submit", job.job.meta.job_id, job.model_dump(mode="json")))
    return job


@router.post("/_jobs/{job_id}/cancel", status_code=http.HTTP_204_NO_CONTENT)
def cancel_job(job_id: int, ctx: ContextDep) -> Response:
    """Cancel a job (idempotent; a job not seen yet will be refused when it arrives)."""
    ctx.handle_message(TransportMessage("cancel", job_id))
    return Response(status_code=http.HTTP_204_NO_CONTENT)


@router.get("/_jobs/{job_id}", response_model=QueuedJobState, responses={404: {}})
def describe_job(job_id: int, session: SessionDep) -> QueuedJobState:
    """The worker side's view of a job, for reconciliation with the user API."""
    job = leases.get_job(session, job_id)
    return QueuedJobState(
        job_id=job.job_id,
        status=JobStatus(job.status),
        attempt=job.attempt,
        worker_id=job.worker_id,
        terminal_reason=job.terminal_reason,
    )
