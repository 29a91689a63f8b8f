"""Settings of the user-facing API, read from the environment and `.env`.

Names follow DECODE OpenCloud's user API; labcloud's additions are marked.
Secrets are `SecretStr`, so they never appear in a log or a repr.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import database_url, explain, reject_aws_secret_arn

MIN_API_KEY_LENGTH = 16


class UserAPISettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # deployment
    auth: bool = Field(
        default=False,
        description="1 = local accounts: /user, /token and /login are served and tokens are "
        "issued by this API. 0 = Cognito (COGNITO_* required).",
    )
    auth_token_secret: SecretStr | None = Field(
        default=None, description="labcloud: HS256 key of local-account tokens (≥ 32 chars)"
    )
    auth_token_issuer: str = Field(default="labcloud", description="labcloud: `iss` of tokens")
    auth_token_audience: str = Field(default="labcloud", description="labcloud: `aud` of tokens")
    auth_token_lifetime: int = Field(default=3600, ge=60, description="labcloud: seconds")
    password_min_length: int = Field(default=8, ge=6, description="labcloud: local accounts")
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
    user_data_root_path: str = "./labcloud-data/files"
    database_url: str = "sqlite:///./labcloud-data/user.db"
    database_secret: SecretStr | None = None

    # the other API
    workerfacing_api_url: str = "http://127.0.0.1:8001"
    internal_api_key_secret: SecretStr | None = None
    job_transport: Literal["http", "memory"] = Field(
        default="http",
        description="labcloud: how job specs reach the worker API: http (POST /_jobs) or "
        "memory (both APIs in one process, as `labcloud up` runs them)",
    )
    outbox_relay_period: float = Field(default=2.0, gt=0, description="labcloud: seconds")

    application_config_file: str = "application_config.yaml"

    # notifications
    email_sender_service: Literal["", "console", "mailjet"] = Field(
        default="console", description="'' = no email; console = written to the log"
    )
    email_sender_address: str | None = None
    email_sender_api_key: str | None = None
    email_sender_secret_key: SecretStr | None = None
    email_sender_api_url: str | None = Field(
        default=None, description="labcloud: Mailjet API URL override (tests, proxies)"
    )

    frontend_url: str | None = Field(
        default=None, description="origin(s) allowed by CORS, comma-separated"
    )

    @model_validator(mode="after")
    def _check(self) -> UserAPISettings:
        if self.auth:
            key = self.auth_token_secret.get_secret_value() if self.auth_token_secret else ""
            if len(key) < 32:
                raise ValueError(
                    "AUTH_TOKEN_SECRET must be set to at least 32 characters when AUTH=1"
                )
        elif not (self.cognito_user_pool_id and self.cognito_client_id and self.cognito_region):
            raise ValueError(
                "no authentication configured: set AUTH=1 for local accounts, or "
                "COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID and COGNITO_REGION"
            )
        api_key = self.internal_api_key_secret
        if api_key is None or len(api_key.get_secret_value()) < MIN_API_KEY_LENGTH:
            raise ValueError(
                f"INTERNAL_API_KEY_SECRET must be set to at least {MIN_API_KEY_LENGTH} characters"
            )
        if self.filesystem == "s3":
            raise ValueError("FILESYSTEM=s3 is not available in this version; use local")
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
        for name in (
            "database_secret",
            "internal_api_key_secret",
            "cognito_secret",
            "email_sender_secret_key",
        ):
            value = getattr(self, name)
            reject_aws_secret_arn(name.upper(), value.get_secret_value() if value else None)
        database_url(self.database_url, self._secret(self.database_secret))
        return self

    @staticmethod
    def _secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value else None

    @property
    def db_url(self) -> str:
        return database_url(self.database_url, self._secret(self.database_secret))

    @property
    def api_key(self) -> str:
        assert self.internal_api_key_secret is not None
        return self.internal_api_key_secret.get_secret_value()

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in (self.frontend_url or "").split(",") if o.strip()]


def load_settings(**overrides: object) -> UserAPISettings:
    """Read the settings; stop with a message naming the bad setting."""
    try:
        return UserAPISettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise explain(exc) from None
