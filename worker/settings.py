"""Settings of the worker agent, read from `LABCLOUD_WORKER_*` variables and `.env`.

The prefix keeps the worker's names apart from the APIs' (DATABASE_URL, ...) and
from variables every shell already has (USERNAME, GROUPS). Nothing is read at
import time: call :func:`load_settings`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import SettingsError
from worker.runners import KNOWN_RUNNERS

ENV_PREFIX = "LABCLOUD_WORKER_"
#: What may run container jobs: the local engine or a cloud service.
CONTAINER_RUNNERS = ("docker", "batch", "ecs")


class WorkerSettings(BaseSettings):
    """Everything a worker needs to know; each field is `LABCLOUD_WORKER_<NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", case_sensitive=False
    )

    # where to talk to, and as whom
    api_url: str = Field(
        default="http://127.0.0.1:8001", description="Base URL of the worker-facing API."
    )
    auth_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL of the user API, where local accounts log in "
        "(POST {AUTH_URL}/token with the OAuth2 password form).",
    )
    username: str | None = Field(
        default=None, description="Account of this worker (its groups must include `workers`)."
    )
    password: SecretStr | None = Field(default=None, description="Password of USERNAME.")
    token: SecretStr | None = Field(
        default=None,
        description="A ready-made bearer token, used instead of USERNAME/PASSWORD "
        "(never refreshed: it must outlive the worker).",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="The internal API key, instead of an account: the worker then acts as "
        "the worker API's own cloud poller (environment `cloud`).",
    )
    cognito_client_id: str | None = Field(
        default=None,
        description="Log in to this Cognito app client directly (USER_PASSWORD_AUTH) instead "
        "of through AUTH_URL; the endpoint is boto3's (AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER "
        "for an emulator).",
    )
    cognito_client_secret: SecretStr | None = Field(
        default=None, description="Secret of that app client, if it has one (for SECRET_HASH)."
    )
    cognito_region: str | None = Field(default=None, description="Region of the user pool.")
    id: str | None = Field(
        default=None,
        description="A stable, unique name for this worker process (default: random per "
        "start). A cloud poller with one terminates the runs its previous start left behind.",
    )

    # how jobs run here
    scratch_dir: Path = Field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "labcloud-worker",
        description="Where job directories are created (one per job, removed afterwards).",
    )
    runners: str = Field(
        default="process,docker",
        description="Comma-separated runners this worker may use (process, docker).",
    )
    container_runner: str = Field(
        default="docker",
        description="What runs the container jobs (entrypoints with runner `docker`): the "
        "local engine (`docker`), or AWS Batch (`batch`) or ECS (`ecs`) with SCRATCH_DIR on "
        "the EFS file system the tasks mount (see the cloud settings).",
    )
    docker_host: str | None = Field(
        default=None,
        description="Docker/Podman API URL for the docker runner; default: the DOCKER_HOST "
        "variable, else the engine's default socket.",
    )
    tes_allow_loopback_urls: bool = Field(
        default=False,
        description="Let TES tasks fetch inputs from and send outputs to this host's "
        "loopback addresses (off: they would reach the worker's own services).",
    )
    max_concurrent_jobs: int = Field(
        default=4, ge=1, description="Upper bound on jobs run at once (resources permitting)."
    )

    # polling and heartbeats
    poll_min: float = Field(default=0.5, gt=0, description="Seconds after an empty poll, at first.")
    poll_max: float = Field(
        default=10.0, gt=0, description="Longest pause between empty polls (backoff doubles)."
    )
    long_poll: float = Field(
        default=10.0,
        ge=0,
        description="Seconds the server may hold an empty GET /jobs (query `wait`); 0 = off.",
    )
    heartbeat_interval: float = Field(
        default=10.0, gt=0, description="Seconds between status re-sends of a live job."
    )
    drain_timeout: float = Field(
        default=600.0,
        ge=0,
        description="On SIGTERM/SIGINT, seconds running jobs get to finish before they are "
        "killed and handed back to the queue.",
    )
    groups: str = Field(
        default="", description="Comma-separated job groups this worker serves first."
    )
    older_than: int = Field(
        default=0,
        ge=0,
        description="Take jobs of no particular environment only once they are this many "
        "seconds old (gives workers of the job's preferred kind a head start).",
    )

    # resources: None = probe the machine
    cpu_cores: int | None = Field(default=None, ge=1, description="CPU cores to offer.")
    memory_mb: int | None = Field(default=None, ge=0, description="Memory to offer, in MB.")
    gpu_count: int | None = Field(
        default=None, ge=0, description="GPUs to offer (0 = none); default: nvidia-smi's count."
    )
    gpu_model: str | None = Field(default=None, description="GPU model name to advertise.")
    gpu_archi: str | None = Field(
        default=None, description="GPU architecture to advertise (e.g. ampere)."
    )
    gpu_mem_mb: int | None = Field(default=None, ge=0, description="Memory per GPU, in MB.")

    log_level: str = Field(default="INFO", description="debug, info, warning or error.")
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`json`: one JSON object per log line, with `job_id` and `attempt` on "
        "every line about a job.",
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Serve Prometheus metrics (running jobs, free slots, jobs finished and "
        "failed) on this port; 0 = off.",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Interface of the metrics server (0.0.0.0 to let a Prometheus elsewhere "
        "scrape it).",
    )

    @model_validator(mode="after")
    def _check(self) -> WorkerSettings:
        unknown = sorted(set(self.allowed_runners) - set(KNOWN_RUNNERS))
        if unknown:
            raise ValueError(
                f"{ENV_PREFIX}RUNNERS: unknown runner(s) {unknown}; "
                f"known: {', '.join(KNOWN_RUNNERS)}"
            )
        if not self.allowed_runners:
            raise ValueError(f"{ENV_PREFIX}RUNNERS: name at least one runner")
        if self.poll_min > self.poll_max:
            raise ValueError(f"{ENV_PREFIX}POLL_MIN must not be larger than {ENV_PREFIX}POLL_MAX")
        if self.container_runner not in CONTAINER_RUNNERS:
            raise ValueError(
                f"{ENV_PREFIX}CONTAINER_RUNNER: {self.container_runner!r} is not one of "
                f"{', '.join(CONTAINER_RUNNERS)}"
            )
        if self.token is None and self.api_key is None and not (self.username and self.password):
            raise ValueError(
                f"set {ENV_PREFIX}TOKEN, or {ENV_PREFIX}USERNAME and {ENV_PREFIX}PASSWORD, "
                "so the worker can log in"
            )
        return self

    @property
    def allowed_runners(self) -> tuple[str, ...]:
        """The runner names of RUNNERS, in order, without blanks."""
        return _split(self.runners)

    @property
    def group_list(self) -> tuple[str, ...]:
        """The job groups of GROUPS."""
        return _split(self.groups)


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def load_settings(**overrides: object) -> WorkerSettings:
    """Read the settings; stop with a message naming each bad `LABCLOUD_WORKER_*` variable."""
    try:
        return WorkerSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]).upper()
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{ENV_PREFIX}{field}: {msg}" if field else msg)
        raise SettingsError("; ".join(problems)) from None
