"""The welcome message and how workers log in (no auth)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from workerfacing_api.dependencies import ContextDep

router = APIRouter(tags=["Access"])


@router.get("/")
def root() -> dict[str, str]:
    return {"message": "Welcome to the labcloud worker-facing API (DECODE OpenCloud compatible)"}


@router.get("/access_info")
def access_info(ctx: ContextDep) -> dict[str, Any]:
    """How to log in: DECODE's Cognito block, plus labcloud's local-accounts block (tokens
    come from the user API)."""
    s = ctx.settings
    info: dict[str, Any] = {
        "cognito": {
            "user_pool_id": s.cognito_user_pool_id,
            "client_id": s.cognito_client_id,
            "region": s.cognito_region,
        }
    }
    if s.auth:
        info["local"] = {
            "token_url": f"{s.userfacing_api_url.rstrip('/')}/token",
            "issuer": s.auth_token_issuer,
        }
    return info
