"""The job spec: the contract between the user API and the worker API.

Field names and shapes follow DECODE OpenCloud's wire format (JobSpecs,
SubmittedJob); labcloud's additions are optional fields that DECODE's own worker
ignores.
"""

from __future__ import annotations

import enum
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.jobs.tes_spec import TesExecution
from shared.timestamps import UtcDateTime
from shared.validation import INT32_MAX, RowId


class Environment(enum.StrEnum):
    cloud = "cloud"
    local = "local"
    any = "any"


class OutputKind(enum.StrEnum):
    output = "output"
    log = "log"
    artifact = "artifact"


class HardwareSpecs(BaseModel):
    """What a job needs; None means "anything will do"."""

    cpu_cores: int | None = Field(default=None, ge=1, le=INT32_MAX, examples=[4])
    memory: int | None = Field(default=None, ge=1, le=INT32_MAX, description="MB", examples=[8000])
    gpu_model: str | None = Field(default=None, max_length=255, examples=[None])
    gpu_archi: str | None = Field(default=None, max_length=255, examples=[None])
    gpu_mem: int | None = Field(
        default=None, ge=0, le=INT32_MAX, description="MB", examples=[None]
    )


class AppSpecs(BaseModel):
    cmd: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)


class HandlerSpecs(BaseModel):
    image_url: str | None = None
    image_name: str | None = None
    image_version: str | None = None
    entrypoint: str | None = None
    files_down: dict[str, str] = Field(
        default_factory=dict, description="container path under /files → storage URI"
    )
    files_up: dict[OutputKind, str] = Field(
        default_factory=dict, description="output kind → container dir under /files"
    )
    # labcloud additions
    runner: str = Field(default="docker", max_length=32)
    timeout: int | None = Field(
        default=None, ge=0, le=INT32_MAX, description="seconds; None = no limit"
    )
    gpus: int = Field(default=0, ge=0, le=INT32_MAX, description="GPUs the entrypoint needs")
    tes: TesExecution | None = Field(
        default=None, description="a GA4GH TES task's executors and files (runner docker)"
    )


class MetaSpecs(BaseModel):
    model_config = ConfigDict(extra="allow")

    job_id: RowId
    date_created: UtcDateTime
    extra: dict[str, Any] = Field(default_factory=dict)


class JobSpecs(BaseModel):
    app: AppSpecs
    handler: HandlerSpecs
    meta: MetaSpecs
    hardware: HardwareSpecs = Field(default_factory=HardwareSpecs)


class PathsUpload(BaseModel):
    output: str
    log: str
    artifact: str


class SubmittedJob(BaseModel):
    """What the user API hands to the worker API for one job."""

    job: JobSpecs
    environment: Environment = Environment.any
    group: str | None = Field(default=None, max_length=128)
    priority: int = Field(default=5, ge=0, le=INT32_MAX)
    paths_upload: PathsUpload
    # labcloud: the identity of this submission (see shared.jobs.identity); a message
    # without one (an older user API) is matched on the job id alone.
    submission_id: uuid.UUID | None = Field(
        default=None, description="labcloud: a UUID per submission, never reused"
    )
