"""The caller's identity, login discovery and notification preferences."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from shared.api.errors import error_responses
from userfacing_api.dependencies import (
    ContextDep,
    CurrentUser,
    PrincipalDep,
    SessionDep,
    user_storage,
)
from userfacing_api.schemas import Preferences, UserStatus
from userfacing_api.services import preferences
from userfacing_api.services.files import UserFiles

router = APIRouter(tags=["Authentication"])


@router.get("/access_info")
def access_info(ctx: ContextDep) -> dict[str, Any]:
    """How to log in: DECODE's Cognito block, plus labcloud's local-accounts block."""
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
            "token_url": "/token",
            "register_url": "/user",
            "issuer": s.auth_token_issuer,
        }
    return info


@router.get("/user", response_model=UserStatus, responses=error_responses(401, 403))
def describe_current_user(user: CurrentUser, ctx: ContextDep) -> UserStatus:
    """Who you are; labcloud adds your storage usage and quota, in bytes."""
    try:
        files = UserFiles(ctx.storage, user.username)
    except ValueError:  # an id that cannot own files has no storage
        return UserStatus(email=user.email, groups=list(user.groups))
    storage = user_storage(ctx, user, files.root)
    return UserStatus(
        email=user.email,
        groups=list(user.groups),
        storage_used=storage.used(),
        storage_quota=storage.quota.bytes,
    )


@router.delete(
    "/user",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(
        401, notes={403: "a cookie-authenticated request from another site"}
    ),
)
def close_own_account(principal: PrincipalDep, ctx: ContextDep) -> Response:
    """labcloud: close your account. Its files, jobs (running ones are cancelled) and
    tokens go at once, in both APIs; the name may later be registered again as a new
    account, which inherits nothing."""
    ctx.account_admin.close(principal.username, subject=principal.claims.get("sub"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/user/preferences",
    response_model=Preferences,
    tags=["Notifications"],
    responses=error_responses(401, 403),
)
def get_preferences(user: CurrentUser, session: SessionDep) -> Preferences:
    """labcloud: whether the user gets an email when a job ends."""
    return Preferences(notify_email=preferences.notify_email(session, user.username))


@router.put(
    "/user/preferences",
    response_model=Preferences,
    tags=["Notifications"],
    responses=error_responses(400, 401, 403),
)
def put_preferences(body: Preferences, user: CurrentUser, session: SessionDep) -> Preferences:
    """labcloud: opt in or out of job emails."""
    preferences.set_notify_email(session, user.username, body.notify_email)
    return body
