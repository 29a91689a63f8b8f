"""Request and response shapes of the user API (DECODE OpenCloud's, plus additions)."""

from __future__ import annotations

import enum
import uuid
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from shared.jobs.specs import HardwareSpecs
from shared.jobs.states import JobStatus
from shared.timestamps import UtcDateTime
from shared.validation import BigCount, Name, RowId, StorableText


class UserGroup(enum.StrEnum):
    users = "users"
    workers = "workers"
    cloud = "cloud"
    tes = "tes"  # labcloud: may use the GA4GH TES API (when TES_GROUP is tes)
    admin = "admin"  # labcloud: administers accounts, quotas and limits (needs x-api-key to create)


class UserPublic(BaseModel):
    email: str | None
    groups: list[str]


class UserStatus(UserPublic):
    """`GET /user`: DECODE's `{email, groups}`, and labcloud's storage figures."""

    storage_used: int | None = Field(
        default=None,
        description="labcloud: bytes you keep in storage (job outputs included), measured "
        "at most STORAGE_USAGE_MAX_AGE seconds ago",
    )
    storage_quota: int | None = Field(
        default=None, description="labcloud: the most bytes you may keep (your storage quota)"
    )


MAX_QUOTA_BYTES = 2**63 - 1  # a BIGINT


class QuotaSet(BaseModel):
    """`PUT /admin/quotas/{users|groups}/{name}` (labcloud)."""

    quota_bytes: int = Field(ge=0, le=MAX_QUOTA_BYTES, examples=[50 * 2**30])


class QuotaOverride(BaseModel):
    """An administrator's quota for one user or one group (labcloud)."""

    kind: Literal["user", "group"]
    name: str
    quota_bytes: int
    updated_at: UtcDateTime


class QuotaList(BaseModel):
    """`GET /admin/quotas` (labcloud): the default and every quota set by an administrator."""

    default_bytes: int = Field(description="STORAGE_QUOTA_BYTES")
    quotas: list[QuotaOverride]


class UserQuotaReport(BaseModel):
    """`GET /admin/quotas/users/{name}` (labcloud): a user's quota and usage."""

    username: str
    quota_bytes: int = Field(description="the quota that applies")
    source: str = Field(description="where it comes from: user, group <name>, or default")
    groups: list[str] | None = Field(
        description="the account's groups (local accounts); null when unknown here, and "
        "then group quotas are left out"
    )
    used_bytes: int


class Preferences(BaseModel):
    notify_email: bool = True


class TokenResponse(BaseModel):
    id_token: str
    expires_in: int


class FileType(enum.StrEnum):
    file = "file"
    directory = "directory"


class UploadFileType(enum.StrEnum):
    config = "config"
    data = "data"
    artifact = "artifact"


class FileInfo(BaseModel):
    path: str = Field(examples=["data/experiment1/frames.tif"])
    type: FileType
    size: str = Field(description="human-readable; empty for directories", examples=["1.2 MB"])
    bytes: int | None = Field(
        default=None, description="labcloud: exact size of a file (listing with `exact_sizes`)"
    )
    sha256: str | None = Field(
        default=None, description="labcloud: SHA-256 of a file (listing with `checksums`)"
    )

    @model_serializer(mode="wrap")
    def _omit_unasked(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        # DECODE's FileInfo has three keys: the additions appear only when asked for.
        # (No return annotation: pydantic would publish it as the response schema.)
        data = handler(self)
        for key in ("bytes", "sha256"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class FileRename(BaseModel):
    path: str = Field(examples=["data/experiment1/renamed.tif"])


class FileHTTPRequest(BaseModel):
    """How to do the transfer yourself: method, URL, headers and form fields."""

    method: str
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)


class ApplicationRef(BaseModel):
    application: str = Field(examples=["demo"])
    version: str = Field(examples=["v1"])
    entrypoint: str = Field(examples=["run"])


class InputFiles(BaseModel):
    """Inputs as paths relative to the user's config/, data/ and artifact/ folders."""

    config_id: str | None = Field(default=None, examples=["demo/params.yaml"])
    data_ids: list[str] | None = Field(default=None, examples=[["experiment1/"]])
    artifact_ids: list[str] | None = Field(default=None, examples=[None])


class JobAttributes(BaseModel):
    files_down: InputFiles = Field(default_factory=InputFiles)
    env_vars: dict[str, str] | None = Field(default=None, examples=[{}])


class Environment(enum.StrEnum):
    cloud = "cloud"
    local = "local"


class JobBase(BaseModel):
    job_name: Name = Field(
        min_length=1,
        max_length=255,
        description="names the job's output folders: at most 255 bytes of UTF-8, "
        "no '/', no leading '.', no control characters",
        examples=["first-demo"],
    )
    environment: Environment | None = Field(
        default=None, description="cloud, local, or null for any"
    )
    priority: int = Field(default=0, ge=0, le=5)
    application: ApplicationRef
    attributes: JobAttributes = Field(default_factory=JobAttributes)
    hardware: HardwareSpecs | None = None

    @field_validator("environment", mode="before")
    @classmethod
    def _null_string_is_any(cls, value: Any) -> Any:
        # DECODE's frontend sends the string "null" for "any environment".
        if value in ("null", "any", ""):
            return None
        return value

    @field_validator("priority", mode="before")
    @classmethod
    def _null_priority_is_default(cls, value: Any) -> Any:
        return 0 if value is None else value


class JobCreate(JobBase):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_name": "first-demo",
                    "environment": None,
                    "priority": 0,
                    "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
                    "attributes": {
                        "files_down": {
                            "config_id": "demo/params.yaml",
                            "data_ids": ["demo/"],
                            "artifact_ids": None,
                        },
                        "env_vars": {"DEMO_GREETING": "hello"},
                    },
                    "hardware": None,
                }
            ]
        }
    )


class PathsOut(BaseModel):
    output: str
    log: str
    artifact: str


class JobPublic(JobBase):
    id: int
    user_id: str
    user_email: str | None = None
    date_created: UtcDateTime
    date_started: UtcDateTime | None = None
    date_finished: UtcDateTime | None = None
    status: JobStatus
    runtime_details: str | None = None
    paths_out: PathsOut


SUBMISSION_ID_FIELD = (
    "labcloud: the submission this report is about; a report for another submission of the "
    "same job id (an earlier job, before a database reset) is refused like one for an "
    "unknown job"
)


class JobStatusUpdate(BaseModel):
    """Sent by the worker API to `PUT /_job_status`."""

    job_id: RowId
    status: JobStatus
    runtime_details: StorableText | None = None
    operator_requeue: bool = Field(
        default=False, description="labcloud: an operator requeued this failed job"
    )
    submission_id: uuid.UUID | None = Field(default=None, description=SUBMISSION_ID_FIELD)


MAX_STATUS_BATCH = 500


class JobStatusBatch(BaseModel):
    """Sent by the worker API to `PUT /_job_statuses` (labcloud): reports applied in
    order, each as `PUT /_job_status` would apply it."""

    events: list[JobStatusUpdate] = Field(min_length=1, max_length=MAX_STATUS_BATCH)


class JobStatusResult(BaseModel):
    """What became of one report of a batch: `applied` (taken: applied, or recorded and
    refused, as `X-Labcloud-Applied: false` says for one report), `gone` (no such job:
    the 404 of `PUT /_job_status`) or `failed` (not taken: send it again later)."""

    outcome: Literal["applied", "gone", "failed"]
    detail: str | None = None


class JobStatusResults(BaseModel):
    """The answer to `PUT /_job_statuses`: one result per report, in the same order."""

    results: list[JobStatusResult]


class JobLogUpdate(BaseModel):
    """Sent by the worker API to `PUT /_job_log` (labcloud): the latest tail of an
    attempt's output."""

    job_id: RowId
    attempt: RowId
    log: StorableText = Field(max_length=64 * 1024)
    truncated: bool = False
    end: BigCount = Field(description="where `log` ends, in characters of the attempt's output")
    submission_id: uuid.UUID | None = Field(default=None, description=SUBMISSION_ID_FIELD)


class JobLogPublic(BaseModel):
    """`GET /jobs/{id}/logs` (labcloud): the latest output of the job's current attempt."""

    job_id: int
    status: JobStatus
    log: str = Field(description="the latest tail, at most 64 Ki characters")
    truncated: bool = Field(description="older output was dropped")


class StatusChange(BaseModel):
    """One applied status change of a job (`GET /jobs/{id}/statuses`, labcloud)."""

    status: JobStatus
    time: UtcDateTime
    runtime_details: str | None = None


class AccountPublic(BaseModel):
    """labcloud: an account as administrators see it."""

    username: str
    email: str | None
    groups: list[str]
    standing: Literal["active", "disabled", "closed"] = Field(
        description="closed: its files, jobs and tokens are gone; the name may be registered "
        "again as a new account"
    )
    created_at: UtcDateTime
