"""Authentication shared by both APIs; `make_verifier` picks local tokens or Cognito."""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr

from shared.auth.cognito import CognitoVerifier
from shared.auth.local import LocalTokens
from shared.auth.tokens import TokenVerifier


class AuthSettings(Protocol):
    """The settings fields both APIs name the same way."""

    auth: bool
    auth_token_secret: SecretStr | None
    auth_token_issuer: str
    auth_token_audience: str
    cognito_region: str | None
    cognito_user_pool_id: str | None
    cognito_client_id: str | None
    cognito_jwks_url: str | None


def make_local_tokens(settings: AuthSettings, lifetime_s: int = 3600) -> LocalTokens:
    assert settings.auth_token_secret is not None
    return LocalTokens(
        settings.auth_token_secret.get_secret_value(),
        issuer=settings.auth_token_issuer,
        audience=settings.auth_token_audience,
        lifetime_s=lifetime_s,
    )


def make_verifier(settings: AuthSettings) -> TokenVerifier:
    """Local-account tokens when AUTH=1 without a Cognito pool, else Cognito ID tokens
    (settings already validated)."""
    if settings.auth and not settings.cognito_user_pool_id:
        return make_local_tokens(settings)
    assert settings.cognito_region and settings.cognito_user_pool_id and settings.cognito_client_id
    return CognitoVerifier(
        settings.cognito_region,
        settings.cognito_user_pool_id,
        settings.cognito_client_id,
        settings.cognito_jwks_url,
    )
