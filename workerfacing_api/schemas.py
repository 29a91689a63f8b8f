"""Request and response shapes of the worker API (DECODE OpenCloud's, plus additions)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from shared.jobs.states import JobStatus
from shared.timestamps import UtcDateTime
from shared.validation import BigCount, StorableText
from workerfacing_api.services.live_logs import MAX_TAIL_CHARS


class FileHTTPRequest(BaseModel):
    """How to do the transfer yourself: method, URL, headers and form fields."""

    method: str
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)


class UploadedFile(BaseModel):
    """labcloud: where an upload landed and how big it is."""

    uri: str
    size: int


SUBMISSION_ID = "labcloud: the submission this job came from (null: sent without one)"


class QueuedJobState(BaseModel):
    """`GET /_jobs/{job_id}`: the worker side's view of a job, for reconciliation."""

    job_id: int
    submission_id: str | None = Field(description=SUBMISSION_ID)
    status: JobStatus
    attempt: int
    worker_id: str | None
    terminal_reason: str | None


class InvalidSpecRecorded(BaseModel):
    """labcloud: the 202 of `POST /_jobs` for an invalid spec that names its job: the job
    was recorded as failed, so that the sender stops sending it."""

    job_id: int
    status: JobStatus
    detail: str


class QueuedJobSummary(BaseModel):
    """labcloud: one row of `GET /_jobs` (the dead letters, with `status=error`)."""

    job_id: int
    submission_id: str | None = Field(description=SUBMISSION_ID)
    status: JobStatus
    attempt: int
    worker_id: str | None
    terminal_reason: str | None
    updated_at: UtcDateTime


class RequeueAnswer(BaseModel):
    """labcloud: `POST /_jobs/{job_id}/requeue`."""

    requeued: bool = Field(description="false: the job was queued or live already")
    status: JobStatus


class LogChunk(BaseModel):
    """labcloud: `POST /jobs/{job_id}/log`, the new part of a running job's output."""

    offset: BigCount = Field(
        description="where `text` starts, in characters of the run's output since its start"
    )
    text: StorableText = Field(max_length=MAX_TAIL_CHARS, description="at most 64 Ki characters")
