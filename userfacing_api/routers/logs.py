"""`/jobs/{id}/logs` and `/jobs/{id}/statuses` (labcloud): follow a job while it runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from fastapi.sse import EventSourceResponse, ServerSentEvent

from shared.api.errors import error_responses
from shared.validation import RowId
from userfacing_api.dependencies import ContextDep, CurrentUser, SessionDep
from userfacing_api.schemas import JobLogPublic, StatusChange
from userfacing_api.services import jobs, live_logs
from userfacing_api.services.status import status_history

router = APIRouter(tags=["Jobs"], responses=error_responses(401, 403, 404))

_STREAM_DOC = """labcloud: the job's output as Server-Sent Events, until it ends.

First a `log` event with the current tail, then `log` events with new text as it
arrives (data `{"text": "..."}`), `status` events when the status changes (data
`{"status": "running"}`, the current one first), and a final `end` event (data
`{"status": "finished"}`) after which the stream closes. A comment line keeps the
connection alive every 15 s. `log` events carry an id; an EventSource that
reconnects sends it back (`Last-Event-ID`) and gets only the text after it.
"""


@router.get("/jobs/{job_id}/logs", response_model=JobLogPublic)
def get_job_log(job_id: RowId, user: CurrentUser, session: SessionDep) -> JobLogPublic:
    """labcloud: the latest output of the job's current attempt (at most 64 Ki characters;
    `truncated` when older output was dropped). The whole log lands in `log/<job name>/`
    when the job ends."""
    return live_logs.get_log(session, user.username, job_id)


@router.get("/jobs/{job_id}/statuses", response_model=list[StatusChange])
def list_job_statuses(job_id: RowId, user: CurrentUser, session: SessionDep) -> list[StatusChange]:
    """labcloud: the job's status changes, oldest first, from `queued` at submission."""
    return status_history(session, user.username, job_id)


def own_job(job_id: RowId, user: CurrentUser, ctx: ContextDep) -> int:
    """The job id, if the job is the caller's: checked before a stream starts (404), with
    a session closed again at once."""
    with ctx.sessions() as session:
        jobs.get_job(session, user.username, job_id)
    return job_id


async def stream_slot(user: CurrentUser, ctx: ContextDep) -> AsyncIterator[None]:
    """One of the user's MAX_LOG_STREAMS_PER_USER (429 when all are taken), held until the
    stream has ended: a request-scoped dependency exits after the response is sent."""
    with ctx.log_streams.held(user.username, ctx.settings.max_log_streams_per_user):
        yield


@router.get(
    "/jobs/{job_id}/logs/stream",
    response_class=EventSourceResponse,
    responses=error_responses(notes={429: "too many streams open (MAX_LOG_STREAMS_PER_USER)"}),
    description=_STREAM_DOC,
)
async def stream_job_log(
    job_id: Annotated[int, Depends(own_job)],
    _slot: Annotated[None, Depends(stream_slot)],
    ctx: ContextDep,
    last_event_id: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> AsyncIterator[ServerSentEvent]:
    async for event in live_logs.follow(ctx.sessions, job_id, resume=last_event_id):
        yield ServerSentEvent(event=event.event, data=event.data, id=event.id)
