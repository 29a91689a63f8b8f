"""Settings of the worker-facing API, read from the environment and `.env`.

Names follow DECODE OpenCloud's worker API; labcloud's additions are marked.
Secrets are `SecretStr`, so they never appear in a log or a repr.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from shared.settings import APISettings, load

DEFAULT_LONG_POLL_CAP = 30  # seconds a worker may ask to wait when LONG_POLL_SECONDS=0


class WorkerAPISettings(APISettings):
    """The worker API's settings; the common ones (auth, storage, key) are APISettings'."""

    database_url: str = "sqlite:///./labcloud-data/worker.db"

    # the other API
    userfacing_api_url: str = "http://127.0.0.1:8000"

    # queue behaviour (labcloud)
    lease_timeout: int = Field(
        default=60,
        ge=5,
        description="seconds without a heartbeat after which a lease expires and the job is "
        "requeued by the next sweep: a lost job is back in the queue within "
        "LEASE_TIMEOUT + SWEEPER_PERIOD (75 s by default; DECODE: 300 s + 60 s)",
    )
    decode_lease_timeout: int = Field(
        default=300,
        ge=5,
        description="the lease of a worker that does not identify itself as labcloud's "
        "(no X-Worker-Id: DECODE's JobFetcher), which sends no heartbeat while it downloads "
        "inputs or uploads outputs; 300 s as in DECODE OpenCloud",
    )
    sweeper_period: float = Field(
        default=15,
        gt=0,
        description="seconds between lease sweeps (expired leases and per-state time limits)",
    )
    max_retries: int = Field(
        default=2,
        ge=0,
        description="a job is attempted at most 1 + MAX_RETRIES times (counted again from "
        "an operator's requeue); then it ends in `error`, 'lost: max retries reached'",
    )
    staging_time_limit: int = Field(
        default=3600,
        ge=1,
        description="seconds a job may stay `pulled` or `preprocessing` (staging its "
        "inputs), even while heartbeating; then it is requeued like an expired lease, "
        "and the attempt counts",
    )
    upload_time_limit: int = Field(
        default=3600,
        ge=1,
        description="seconds a job may stay `postprocessing` (uploading its outputs), even "
        "while heartbeating; then it is requeued like an expired lease, and the attempt counts",
    )
    running_grace: int = Field(
        default=300,
        ge=0,
        description="seconds a job may stay `running` beyond its entrypoint's timeout "
        "(the worker should have killed it); then it ends in `error` for good",
    )
    long_poll_seconds: int = Field(
        default=0,
        ge=0,
        le=600,
        description="longest a GET /jobs with `wait` is held; 0 = the built-in cap of "
        f"{DEFAULT_LONG_POLL_CAP} s. Workers that do not pass `wait` are answered at once.",
    )
    status_relay_period: float = Field(
        default=5,
        gt=0,
        description="seconds between status-outbox rounds (it is also woken "
        "at once when a status change is committed)",
    )

    # cloud pollers (labcloud)
    cloud_pollers: str = Field(
        default="",
        description="pollers to run in this process that lease `cloud` jobs and run them on "
        "AWS, as `runner:jobs` pairs, e.g. `batch:4` or `batch:4,ecs:2`; configured by the "
        "worker's cloud settings (LABCLOUD_WORKER_BATCH_JOB_QUEUE, ..._EFS_FILE_SYSTEM_ID, "
        "..._SCRATCH_DIR = the EFS mount); empty = none",
    )
    cloud_poller_api_url: str = Field(
        default="http://127.0.0.1:8001",
        description="where the cloud pollers reach this API (`labcloud worker-api` sets it "
        "from its --port)",
    )
    cloud_older_than: int = Field(
        default=60,
        ge=0,
        description="seconds a job of no particular environment waits for a workstation "
        "before the cloud pollers take it (the lab's own machines cost nothing)",
    )
    cloud_max_vcpus: int = Field(
        default=256, ge=1, description="most vCPUs a cloud job may ask for (and all at once)"
    )
    cloud_max_memory_mb: int = Field(
        default=1_048_576, ge=1, description="most memory (MB) cloud jobs may ask for"
    )
    cloud_max_gpus: int = Field(
        default=0, ge=0, description="most GPUs cloud jobs may ask for (0: CPU-only queue)"
    )

    @field_validator("cloud_pollers")
    @classmethod
    def _check_pollers(cls, value: str) -> str:
        from workerfacing_api.pollers.cloud import parse_pollers

        parse_pollers(value)
        return value

    @property
    def long_poll_cap(self) -> float:
        """The longest a worker's `wait` is honoured, in seconds."""
        return float(self.long_poll_seconds or DEFAULT_LONG_POLL_CAP)


def load_settings(**overrides: object) -> WorkerAPISettings:
    """Read the settings; stop with a message naming the bad setting."""
    return load(WorkerAPISettings, **overrides)
