"""Internal endpoints for the worker API, authenticated with the shared API key."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from shared.api.errors import error_responses
from userfacing_api.dependencies import ContextDep, SessionDep, require_api_key
from userfacing_api.schemas import (
    JobLogUpdate,
    JobStatusBatch,
    JobStatusResult,
    JobStatusResults,
    JobStatusUpdate,
)
from userfacing_api.services.live_logs import apply_log_update
from userfacing_api.services.status import apply_status_update, apply_status_updates

router = APIRouter(
    tags=["_Internal"],
    dependencies=[Depends(require_api_key)],
    responses=error_responses(400, 401),
)


@router.put(
    "/_job_status", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404)
)
def update_job_status(update: JobStatusUpdate, session: SessionDep, ctx: ContextDep) -> Response:
    """Apply a status report. 404 for an unknown job (the worker side cancels it), and for
    a report about another submission of the job's id (`submission_id`, labcloud).
    A report the state machine refuses is recorded, not applied, and flagged in the
    `X-Labcloud-Applied` header."""
    outcome = apply_status_update(
        session,
        update.job_id,
        update.status,
        update.runtime_details,
        operator_requeue=update.operator_requeue,
        submission_id=update.submission_id,
    )
    if outcome.applied and outcome.status.is_terminal:
        ctx.notify_wakeup.notify()
    headers = {
        "X-Labcloud-Applied": "true" if outcome.applied else "false",
        "X-Labcloud-Status": outcome.status.value,
    }
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=headers)


@router.put("/_job_statuses")
def update_job_statuses(
    batch: JobStatusBatch, session: SessionDep, ctx: ContextDep
) -> JobStatusResults:
    """labcloud: a batch of status reports, applied in order, each as `PUT /_job_status`
    applies one, in one transaction; one report's failure neither undoes nor blocks the
    others. One result per report, in the same order (`gone`: the job is unknown)."""
    outcomes = apply_status_updates(session, batch.events)
    if any(o.outcome and o.outcome.applied and o.outcome.status.is_terminal for o in outcomes):
        ctx.notify_wakeup.notify()
    return JobStatusResults(
        results=[JobStatusResult(outcome=o.result, detail=o.detail) for o in outcomes]
    )


@router.put("/_job_log", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404))
def update_job_log(update: JobLogUpdate, session: SessionDep) -> Response:
    """labcloud: the latest tail of an attempt's output (live logs). 404 for an unknown
    job, or another submission of its id. A tail no newer than the one kept (a duplicate,
    a late delivery, an earlier attempt) changes nothing and is flagged in the
    `X-Labcloud-Applied` header."""
    applied = apply_log_update(session, update)
    headers = {"X-Labcloud-Applied": "true" if applied else "false"}
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=headers)
