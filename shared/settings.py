"""Helpers the services' settings classes share. Nothing is read at import time."""

from __future__ import annotations

from typing import ClassVar, Literal, TypeVar
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import secrets

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30


class SettingsError(SystemExit):
    """A setting is missing or unsafe: start-up stops with a message naming it."""

    def __init__(self, message: str) -> None:
        super().__init__(f"labcloud: configuration error: {message}")
        self.message = message


def explain(exc: ValidationError) -> SettingsError:
    """Turn pydantic's error into one message naming each bad setting by its env name."""
    problems = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]).upper() or "settings"
        msg = err["msg"].removeprefix("Value error, ")
        problems.append(f"{name}: {msg}" if name != "settings" else msg)
    return SettingsError("; ".join(problems))


def database_url(url: str, secret: str | None) -> str:
    """DECODE's convention: `DATABASE_SECRET` fills a `{}` in `DATABASE_URL`.

    Also picks the psycopg 3 driver for plain `postgresql://` URLs.
    """
    if "{}" in url:
        if not secret:
            raise ValueError("DATABASE_URL has a {} placeholder but DATABASE_SECRET is not set")
        url = url.replace("{}", quote(secret, safe=""))
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def resolve_secret_setting(name: str, value: SecretStr | None) -> SecretStr | None:
    """The setting's value, with a Secrets Manager ARN replaced by the secret it names."""
    raw = secret_value(value)
    if raw is None or not secrets.is_arn(raw):
        return value
    try:
        return SecretStr(secrets.resolve(raw))
    except secrets.SecretUnavailable as exc:
        raise ValueError(f"{name.upper()}: {exc}") from None


MIN_API_KEY_LENGTH = 16
BROKER_SCHEMES = ("amqp", "amqps", "pyamqp", "redis", "rediss", "sqs")
MIN_TOKEN_SECRET_LENGTH = 32


def secret_value(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value else None


class APISettings(BaseSettings):
    """What both APIs configure alike: auth, storage, their database and the shared key.

    Each API subclasses it with its own settings (and its own DATABASE_URL default).
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # authentication
    auth: bool = Field(
        default=False,
        description="1 = local accounts: /user, /token and /login are served by the user API, "
        "which issues the tokens. 0 = Cognito (COGNITO_* required).",
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
    cognito_endpoint_url: str | None = Field(
        default=None, description="labcloud: cognito-idp endpoint override (an emulator)"
    )
    account_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="labcloud: seconds an API process trusts what it last read of an "
        "account (closed, disabled, re-created) when it checks a token; the process that "
        "made a change knows it at once. 0 = read the database on every request",
    )

    # data
    filesystem: Literal["local", "s3"] = "local"
    s3_bucket: str | None = None
    s3_region: str | None = None
    s3_endpoint_url: str | None = Field(
        default=None, description="labcloud: S3 endpoint override (an emulator, MinIO)"
    )
    presigned_url_expiry: int = Field(default=600, ge=1, description="seconds (S3)")
    user_data_root_path: str = Field(
        default="./labcloud-data/files", description="root of all users' files (both APIs)"
    )
    database_url: str
    database_secret: SecretStr | None = None

    internal_api_key_secret: SecretStr | None = Field(
        default=None, description="the key the two APIs present to each other (≥ 16 chars)"
    )
    job_transport: str = Field(
        default="http",
        description="labcloud: how job specs reach the worker API: http (POST /_jobs to "
        "WORKERFACING_API_URL), memory (both APIs in one process, as `labcloud up`), or a "
        "broker URL: amqp://… (RabbitMQ), redis://…, sqs://… (SQS)",
    )
    job_transport_queue: str = Field(default="labcloud-jobs", description="labcloud: queue name")
    job_transport_options: dict[str, object] = Field(
        default_factory=dict,
        description="labcloud: kombu transport options as JSON, e.g. "
        '{"region": "eu-central-1", "wait_time_seconds": 20}',
    )

    # limits (labcloud): each refusal names its setting
    max_request_bytes: int = Field(
        default=4 * MIB,
        ge=1024,
        description="labcloud: the most bytes of a request body (413 above), on every route "
        "but the streamed file uploads (MAX_UPLOAD_BYTES); also the most a job's spec may "
        "take, since the worker API must accept it",
    )
    max_request_header_bytes: int = Field(
        default=32 * KIB,
        ge=1024,
        description="labcloud: the most bytes of a request line and its headers (431 above); "
        "applied by the HTTP server of `labcloud user-api`, `worker-api` and `up`",
    )
    max_upload_bytes: int = Field(
        default=5 * GIB,
        ge=1,
        description="labcloud: the most bytes of one uploaded file (413 above), through the "
        "APIs and in presigned S3 POSTs (5 GiB is also S3's own bound for a POST)",
    )

    # observability (labcloud)
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="labcloud: `json` writes one JSON object per log line (with `job_id` "
        "and `attempt` on lines about a job)",
    )
    metrics_enabled: bool = Field(
        default=True, description="labcloud: serve Prometheus metrics at GET /metrics"
    )
    metrics_require_api_key: bool = Field(
        default=False,
        description="labcloud: GET /metrics only with the internal API key (`x-api-key`, "
        "or `Authorization: Bearer <key>`)",
    )

    # Secret settings that may be given as a Secrets Manager ARN.
    SECRET_NAMES: ClassVar[tuple[str, ...]] = (
        "database_secret",
        "internal_api_key_secret",
        "cognito_secret",
        "auth_token_secret",
    )

    @model_validator(mode="after")
    def _check_common(self) -> APISettings:
        for name in self.SECRET_NAMES:  # first: the checks below see the real values
            object.__setattr__(self, name, resolve_secret_setting(name, getattr(self, name)))
        if self.auth and not self.cognito_configured:
            if len(secret_value(self.auth_token_secret) or "") < MIN_TOKEN_SECRET_LENGTH:
                raise ValueError(
                    f"AUTH_TOKEN_SECRET must be set to at least {MIN_TOKEN_SECRET_LENGTH} "
                    "characters when AUTH=1"
                )
        elif not self.cognito_configured:
            raise ValueError(
                "no authentication configured: set AUTH=1 for local accounts, or "
                "COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID and COGNITO_REGION"
            )
        if len(secret_value(self.internal_api_key_secret) or "") < MIN_API_KEY_LENGTH:
            raise ValueError(
                f"INTERNAL_API_KEY_SECRET must be set to at least {MIN_API_KEY_LENGTH} characters"
            )
        scheme = self.job_transport.split("://", 1)[0].lower()
        if scheme not in ("http", "memory", *BROKER_SCHEMES):
            raise ValueError(
                "JOB_TRANSPORT must be http, memory, or a broker URL (amqp://, redis://, sqs://)"
            )
        if self.filesystem == "s3" and not self.s3_bucket:
            raise ValueError("S3_BUCKET is required when FILESYSTEM=s3")
        database_url(self.database_url, secret_value(self.database_secret))
        return self

    @property
    def db_url(self) -> str:
        """DATABASE_URL with DATABASE_SECRET filled in and the psycopg 3 driver chosen."""
        return database_url(self.database_url, secret_value(self.database_secret))

    @property
    def cognito_configured(self) -> bool:
        return bool(self.cognito_user_pool_id and self.cognito_client_id and self.cognito_region)

    @property
    def broker_transport(self) -> bool:
        """Whether job specs travel through a message broker (kombu)."""
        return self.job_transport.split("://", 1)[0].lower() in BROKER_SCHEMES

    @property
    def api_key(self) -> str:
        assert self.internal_api_key_secret is not None
        return self.internal_api_key_secret.get_secret_value()


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load(cls: type[SettingsT], **overrides: object) -> SettingsT:
    """Read `cls` from the environment; stop with a message naming the bad setting."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise explain(exc) from None
