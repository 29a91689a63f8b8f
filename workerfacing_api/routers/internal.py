"""Internal endpoints for the user API and operators, authenticated with the shared API key.

`POST /_jobs` is DECODE's transport (the user API posts each job spec here);
labcloud adds cancel, a read-back for reconciliation, and the dead letters:
listing jobs by status and requeueing a failed one.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response
from fastapi import status as http
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from shared.api.errors import error_responses
from shared.jobs.specs import SubmittedJob
from shared.jobs.states import JobStatus
from shared.transport.base import TransportMessage
from shared.validation import Count, RowId
from workerfacing_api.db.models import utcnow
from workerfacing_api.db.session import write_session
from workerfacing_api.dependencies import ContextDep, SessionDep, require_api_key
from workerfacing_api.schemas import (
    InvalidSpecRecorded,
    QueuedJobState,
    QueuedJobSummary,
    RequeueAnswer,
)
from workerfacing_api.services import dead_letters, inbox, leases

router = APIRouter(
    tags=["_Internal"],
    dependencies=[Depends(require_api_key)],
    responses=error_responses(400, 401),
)

MAX_LIST = 1000
# The body is read as plain JSON so that an invalid spec can still be recorded against
# its job; the documentation shows the model it should be.
_SUBMITTED_JOB_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmittedJob"}}},
    }
}


@router.post(
    "/_jobs",
    status_code=http.HTTP_201_CREATED,
    response_model=SubmittedJob,
    openapi_extra=_SUBMITTED_JOB_BODY,
    responses={
        202: {
            "model": InvalidSpecRecorded,
            "description": "labcloud: the spec is invalid; the job was recorded as failed",
        },
        **error_responses(
            notes={
                409: "labcloud: the job id is known from another submission "
                "(`submission_id`): refused, and reported to the user API as that job's error"
            }
        ),
    },
)
def submit_job(payload: Annotated[dict[str, Any], Body()], ctx: ContextDep) -> Any:
    """Queue a job (idempotent on `job.meta.job_id` and `submission_id`: a repeat changes
    nothing; the same job id with another submission id is refused with 409).

    A spec that fails validation but names its job is recorded as that job in
    `error` ("invalid spec: …"), reported back to the user API, and answered 202, so
    that the sender stops sending it; without a usable job id it is refused (422).
    """
    try:
        job = SubmittedJob.model_validate(payload)
    except ValidationError as exc:
        job_id = inbox.spec_job_id(payload)
        if job_id is None:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            raise RequestValidationError(errors) from None
        ctx.handle_message(TransportMessage("submit", job_id, payload))
        return JSONResponse(
            {"job_id": job_id, "status": "error", "detail": inbox.invalid_spec_reason(exc)},
            status_code=http.HTTP_202_ACCEPTED,
        )
    ctx.handle_message(TransportMessage("submit", job.job.meta.job_id, job.model_dump(mode="json")))
    return job


@router.get("/_jobs", response_model=list[QueuedJobSummary])
def list_jobs(
    session: SessionDep,
    status: Annotated[
        JobStatus | None, Query(description="only jobs in this status (error: dead letters)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 100,
    offset: Count = 0,
) -> list[QueuedJobSummary]:
    """labcloud: jobs, the most recently updated first; `status=error` lists the dead
    letters, each with the reason it failed."""
    return [
        QueuedJobSummary(
            job_id=job.job_id,
            submission_id=job.submission_id,
            status=JobStatus(job.status),
            attempt=job.attempt,
            worker_id=job.worker_id,
            terminal_reason=job.terminal_reason,
            updated_at=job.updated_at,
        )
        for job in dead_letters.list_jobs(session, status, limit, offset)
    ]


@router.post("/_jobs/{job_id}/cancel", status_code=http.HTTP_204_NO_CONTENT)
def cancel_job(
    job_id: RowId,
    ctx: ContextDep,
    submission_id: Annotated[
        uuid.UUID | None,
        Query(description="labcloud: the submission to cancel; another one's is left alone"),
    ] = None,
) -> Response:
    """Cancel a job (idempotent; a job not seen yet will be refused when it arrives)."""
    payload = {"submission_id": str(submission_id)} if submission_id else {}
    ctx.handle_message(TransportMessage("cancel", job_id, payload))
    return Response(status_code=http.HTTP_204_NO_CONTENT)


@router.post(
    "/_jobs/{job_id}/requeue",
    response_model=RequeueAnswer,
    responses=error_responses(
        notes={
            404: "unknown job",
            409: "finished or cancelled (not a dead letter), or an invalid spec",
        }
    ),
)
def requeue_job(job_id: RowId, ctx: ContextDep) -> RequeueAnswer:
    """labcloud: give a failed job (`error`) another round, with a fresh retry budget.
    Idempotent: a job that is queued or live already is left alone (`requeued: false`)."""
    with write_session(ctx.sessions) as session:
        result = dead_letters.requeue_job(session, job_id, utcnow())
    return RequeueAnswer(requeued=result.requeued, status=result.status)


@router.get("/_jobs/{job_id}", response_model=QueuedJobState, responses=error_responses(404))
def describe_job(job_id: RowId, session: SessionDep) -> QueuedJobState:
    """The worker side's view of a job, for reconciliation with the user API."""
    job = leases.get_job(session, job_id)
    return QueuedJobState(
        job_id=job.job_id,
        submission_id=job.submission_id,
        status=JobStatus(job.status),
        attempt=job.attempt,
        worker_id=job.worker_id,
        terminal_reason=job.terminal_reason,
    )
