"""Settings of the worker-facing API, read from the environment and `.env`.

Names follow DECODE OpenCloud's worker API; labcloud's additions are marked.
Secrets are `SecretStr`, so they never appear in a log or a repr.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import database_url, explain, reject_aws_secret_arn

MIN_API_KEY_LENGTH = 16
MIN_TOKEN_SECRET_LENGTH = 32
DEFAULT_LONG_POLL_CAP = 30  # seconds a worker may ask to wait when LONG_POLL_SECONDS=0


class WorkerAPISettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # authentication
    auth: bool = Field(
        default=False,
        description="1 = local accounts: tokens issued by the user API (HS256, shared secret). "
        "0 = Cognito (COGNITO_* required).",
    )
    auth_token_secret: SecretStr | None = Field(
        default=None, description="labcloud: HS256 key of local-account tokens (≥ 32 chars)"
    )
    auth_token_issuer: str = Field(default="labcloud", description="labcloud: `iss` of tokens")
    auth_token_audience: str = Field(default="labcloud", description="labcloud: `aud` of tokens")
    cognito_client_id: str | None = None
    cognito_secret: SecretStr | None = None
    cognito_user_pool_id: str | None = None
    cognito_region: str | None = None
    cognito_jwks_url: str | None = Field(
        default=None, description="labcloud: JWKS URL override (an AWS emulator, a proxy)"
    )

    # data
    filesystem: Literal["local", "s3"] = "local"
    s3_bucket: str | None = None
    s3_region: str | None = None
    user_data_root_path: str = Field(
        default="./labcloud-data/files", description="the same storage root as the user API's"
    )
    database_url: str = "sqlite:///./labcloud-data/worker.db"
    database_secret: SecretStr | None = None

    # the other API
    userfacing_api_url: str = "http://127.0.0.1:8000"
    internal_api_key_secret: SecretStr | None = None

    # queue behaviour (labcloud)
    lease_timeout: int = Field(
        default=120, ge=5, description="seconds without a heartbeat after which a lease expires"
    )
    sweeper_period: float = Field(default=15, gt=0, description="seconds between lease sweeps")
    max_retries: int = Field(
        default=2, ge=0, description="a job is attempted at most 1 + MAX_RETRIES times"
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
    presigned_url_expiry: int = Field(default=600, ge=1, description="seconds (S3)")

    @model_validator(mode="after")
    def _check(self) -> WorkerAPISettings:
        if self.auth:
            secret = self._secret(self.auth_token_secret) or ""
            if len(secret) < MIN_TOKEN_SECRET_LENGTH:
                raise ValueError(
                    f"AUTH_TOKEN_SECRET must be set to at least {MIN_TOKEN_SECRET_LENGTH} "
                    "characters when AUTH=1"
                )
        elif not (self.cognito_user_pool_id and self.cognito_client_id and self.cognito_region):
            raise ValueError(
                "no authentication configured: set AUTH=1 for local accounts, or "
                "COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID and COGNITO_REGION"
            )
        api_key = self._secret(self.internal_api_key_secret) or ""
        if len(api_key) < MIN_API_KEY_LENGTH:
            raise ValueError(
                f"INTERNAL_API_KEY_SECRET must be set to at least {MIN_API_KEY_LENGTH} characters"
            )
        if self.filesystem == "s3" and not self.s3_bucket:
            raise ValueError("S3_BUCKET is required when FILESYSTEM=s3")
        for name in (
            "database_secret",
            "internal_api_key_secret",
            "cognito_secret",
            "auth_token_secret",
        ):
            reject_aws_secret_arn(name.upper(), self._secret(getattr(self, name)))
        database_url(self.database_url, self._secret(self.database_secret))
        return self

    @staticmethod
    def _secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value else None

    @property
    def db_url(self) -> str:
        """DATABASE_URL with DATABASE_SECRET filled in and the psycopg 3 driver chosen."""
        return database_url(self.database_url, self._secret(self.database_secret))

    @property
    def api_key(self) -> str:
        assert self.internal_api_key_secret is not None
        return self.internal_api_key_secret.get_secret_value()

    @property
    def long_poll_cap(self) -> float:
        """The longest a worker's `wait` is honoured, in seconds."""
        return float(self.long_poll_seconds or DEFAULT_LONG_POLL_CAP)


def load_settings(**overrides: object) -> WorkerAPISettings:
    """Read the settings; stop with a message naming the bad setting."""
    try:
        return WorkerAPISettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise explain(exc) from None
