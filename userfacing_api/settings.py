"""Settings of the user-facing API, read from the environment and `.env`.

Names follow DECODE OpenCloud's user API; labcloud's additions are marked.
Secrets are `SecretStr`, so they never appear in a log or a repr.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator

from shared.settings import GIB, KIB, APISettings, load


class UserAPISettings(APISettings):
    """The user API's settings; the common ones (auth, storage, key) are APISettings'."""

    database_url: str = "sqlite:///./labcloud-data/user.db"
    SECRET_NAMES: ClassVar[tuple[str, ...]] = (*APISettings.SECRET_NAMES, "email_sender_secret_key")

    auth_token_lifetime: int = Field(default=3600, ge=60, description="labcloud: seconds")
    password_min_length: int = Field(default=8, ge=6, description="labcloud: local accounts")
    signin_max_failures: int = Field(
        default=10,
        ge=1,
        description="labcloud: failed sign-ins (/token, /login, TES Basic) per account and "
        "per client address within SIGNIN_FAILURE_WINDOW; then 429 with Retry-After",
    )
    signin_failure_window: int = Field(
        default=900, ge=1, description="labcloud: seconds a failed sign-in counts"
    )
    password_hash_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="labcloud: threads that check and hash passwords (argon2, about 0.2 s "
        "of one core each) or call Cognito; sign-ins beyond wait for one",
    )
    signin_max_pending: int = Field(
        default=100,
        ge=1,
        description="labcloud: sign-ins and registrations under way at once; more get 503",
    )

    # the other API
    workerfacing_api_url: str = "http://127.0.0.1:8001"
    outbox_relay_period: float = Field(default=2.0, gt=0, description="labcloud: seconds")
    reconcile_after: float = Field(
        default=600,
        gt=0,
        description="labcloud: seconds a live job's status may stand still "
        "before the user API asks the worker API about it",
    )
    reconcile_period: float = Field(default=60, gt=0, description="labcloud: seconds")
    email_claim_seconds: float = Field(
        default=120,
        gt=0,
        description="labcloud: an email whose sender died mid-send is "
        "taken up again after this many seconds",
    )

    application_config_file: str = "application_config.yaml"

    # notifications
    email_sender_service: Literal["", "console", "mailjet", "smtp"] = Field(
        default="console", description="'' = no email; console = written to the log"
    )
    smtp_host: str | None = Field(default=None, description="labcloud: SMTP relay (smtp)")
    smtp_port: int = Field(default=25, description="labcloud: SMTP port")
    smtp_starttls: bool = Field(default=False, description="labcloud: STARTTLS before login")
    email_sender_address: str | None = None
    email_sender_api_key: str | None = None
    email_sender_secret_key: SecretStr | None = None
    email_sender_api_url: str | None = Field(
        default=None, description="labcloud: Mailjet API URL override (tests, proxies)"
    )

    frontend_url: str | None = Field(
        default=None, description="origin(s) allowed by CORS, comma-separated"
    )

    # GA4GH TES (/ga4gh/tes/v1): a TES client names any image, so both are opt-in
    tes_group: str = Field(
        default="tes", description="labcloud: only members of this group may use the TES API"
    )
    tes_image_allowlist: str = Field(
        default="",
        description="labcloud: comma-separated patterns (fnmatch) of the images TES tasks "
        "may use, e.g. 'docker.io/library/*,ghcr.io/my-lab/*'; empty: none",
    )

    # limits per user and per job (labcloud); each refusal names its setting
    storage_quota_bytes: int = Field(
        default=100 * GIB,
        ge=0,
        description="labcloud: the most bytes a user may keep in storage, job outputs "
        "included; an administrator may set other quotas per user or per group "
        "(`/admin/quotas`, `labcloud admin quotas`). Over it, uploads and new jobs get 507",
    )
    storage_usage_max_age: float = Field(
        default=60,
        gt=0,
        description="labcloud: seconds a measurement of a user's storage is used before the "
        "user's folder is measured again (this API's own uploads are counted at once)",
    )
    max_queued_jobs_per_user: int = Field(
        default=10_000,
        ge=1,
        description="labcloud: the most jobs (and TES tasks) a user may have that have not "
        "ended yet (429 above), counted in the database",
    )
    max_log_streams_per_user: int = Field(
        default=10,
        ge=1,
        description="labcloud: the most live-log streams (GET /jobs/{id}/logs/stream) a user "
        "may have open at once in one API process (429 above)",
    )
    max_job_env_vars: int = Field(
        default=100,
        ge=0,
        description="labcloud: the most environment variables of a job (a TES task: of all "
        "its executors together); 413 above",
    )
    max_env_value_bytes: int = Field(
        default=32 * KIB,
        ge=0,
        description="labcloud: the most bytes (UTF-8) of one environment value of a job; "
        "413 above (Linux refuses a single one over 128 KiB)",
    )
    max_job_env_bytes: int = Field(
        default=128 * KIB,
        ge=0,
        description="labcloud: the most bytes of a job's environment, names and values "
        "together; 413 above (it must fit beside the command in Linux's argument space)",
    )
    max_job_inputs: int = Field(
        default=1000,
        ge=1,
        description="labcloud: the most inputs a job names (data_ids and artifact_ids "
        "together; a TES task's inputs, and its outputs); 413 above",
    )
    max_job_input_files: int = Field(
        default=10_000,
        ge=1,
        description="labcloud: the most files a job's inputs may expand to, folders "
        "included file by file; 413 above",
    )

    @model_validator(mode="after")
    def _check(self) -> UserAPISettings:
        if "*" in self.cors_origins:
            raise ValueError(
                "FRONTEND_URL must name the frontend's origin(s): '*' together with "
                "credentials would let any web site read users' files"
            )
        if self.email_sender_service == "mailjet" and not (
            self.email_sender_address and self.email_sender_api_key and self.email_sender_secret_key
        ):
            raise ValueError(
                "EMAIL_SENDER_SERVICE=mailjet needs EMAIL_SENDER_ADDRESS, EMAIL_SENDER_API_KEY "
                "and EMAIL_SENDER_SECRET_KEY"
            )
        if self.email_sender_service == "smtp" and not (
            self.smtp_host and self.email_sender_address
        ):
            raise ValueError("EMAIL_SENDER_SERVICE=smtp needs SMTP_HOST and EMAIL_SENDER_ADDRESS")
        return self

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in (self.frontend_url or "").split(",") if o.strip()]

    @property
    def tes_image_patterns(self) -> list[str]:
        return [p.strip() for p in self.tes_image_allowlist.split(",") if p.strip()]


def load_settings(**overrides: object) -> UserAPISettings:
    """Read the settings; stop with a message naming the bad setting."""
    return load(UserAPISettings, **overrides)
