"""Shapes of the GA4GH Task Execution Service API (TES 1.1.0, accepting 1.0.0 requests).

Field names and types follow the specification's schemas (`tesTask`,
`tesExecutor`, ...). Requests are read leniently, as the specification asks:
unknown fields and the read-only ones (`id`, `state`, `logs`, `creation_time`)
are ignored. Responses are dumped without `None`s, since the schemas allow no
`null` anywhere.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.validation import INT32_MAX

TES_VERSION = "1.1.0"


class TesState(enum.StrEnum):
    UNKNOWN = "UNKNOWN"
    QUEUED = "QUEUED"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETE = "COMPLETE"
    EXECUTOR_ERROR = "EXECUTOR_ERROR"
    SYSTEM_ERROR = "SYSTEM_ERROR"
    CANCELED = "CANCELED"
    PREEMPTED = "PREEMPTED"
    CANCELING = "CANCELING"


class TesView(enum.StrEnum):
    MINIMAL = "MINIMAL"
    BASIC = "BASIC"
    FULL = "FULL"


class TesFileType(enum.StrEnum):
    FILE = "FILE"
    DIRECTORY = "DIRECTORY"


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class TesInput(_In):
    name: str | None = None
    description: str | None = None
    url: str | None = None
    path: str
    type: TesFileType = TesFileType.FILE
    content: str | None = None
    streamable: bool | None = None


class TesOutput(_In):
    name: str | None = None
    description: str | None = None
    url: str
    path: str
    path_prefix: str | None = None
    type: TesFileType = TesFileType.FILE


class TesResources(_In):
    cpu_cores: int | None = Field(default=None, ge=1, le=INT32_MAX)
    preemptible: bool | None = None
    # ram_gb becomes the job's memory in MB, an Integer column
    ram_gb: float | None = Field(default=None, gt=0, le=INT32_MAX / 1024, allow_inf_nan=False)
    disk_gb: float | None = Field(default=None, gt=0, le=INT32_MAX, allow_inf_nan=False)
    zones: list[str] | None = None
    backend_parameters: dict[str, str] | None = None
    backend_parameters_strict: bool | None = None


class TesExecutor(_In):
    image: str = Field(min_length=1)
    command: list[str] = Field(min_length=1)
    workdir: str | None = None
    stdin: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    env: dict[str, str] | None = None
    ignore_error: bool | None = None


class TesTaskCreate(_In):
    """A task as a client submits it."""

    name: str | None = None
    description: str | None = None
    inputs: list[TesInput] | None = None
    outputs: list[TesOutput] | None = None
    resources: TesResources | None = None
    executors: list[TesExecutor] = Field(min_length=1)
    volumes: list[str] | None = None
    tags: dict[str, str] | None = None


class TesExecutorLog(BaseModel):
    start_time: str | None = None
    end_time: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    exit_code: int


class TesOutputFileLog(BaseModel):
    url: str
    path: str
    size_bytes: str


class TesTaskLog(BaseModel):
    logs: list[TesExecutorLog] = Field(default_factory=list)
    metadata: dict[str, str] | None = None
    start_time: str | None = None
    end_time: str | None = None
    outputs: list[TesOutputFileLog] = Field(default_factory=list)
    system_logs: list[str] | None = None


class TesCreateTaskResponse(BaseModel):
    id: str


class TesListTasksResponse(BaseModel):
    tasks: list[dict[str, Any]]
    next_page_token: str | None = None


class ServiceType(BaseModel):
    group: str = "org.ga4gh"
    artifact: str = "tes"
    version: str = TES_VERSION


class Organization(BaseModel):
    name: str
    url: str


class TesServiceInfo(BaseModel):
    id: str
    name: str
    type: ServiceType = Field(default_factory=ServiceType)
    description: str | None = None
    organization: Organization
    contactUrl: str | None = None  # noqa: N815 - the specification's spelling
    documentationUrl: str | None = None  # noqa: N815
    environment: str | None = None
    version: str
    storage: list[str] = Field(default_factory=list)
    tesResources_backend_parameters: list[str] = Field(default_factory=list)  # noqa: N815
