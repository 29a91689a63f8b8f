"""Accounts (served only when AUTH=1): register, get a token, cookie login — kept in the
user database, or in the Cognito pool when COGNITO_* are set (as DECODE does)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, status
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm

from shared.api.errors import error_responses
from shared.auth.api_key import api_key_matches
from userfacing_api.dependencies import ContextDep
from userfacing_api.schemas import TokenResponse, UserGroup, UserPublic
from userfacing_api.services.files import UserFiles

router = APIRouter(tags=["Authentication"])
LoginForm = Annotated[OAuth2PasswordRequestForm, Depends()]
COOKIE_MAX_AGE = 1800


@router.post(
    "/user",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses=error_responses(
        403, notes={409: "user exists", 400: "invalid username or weak password"}
    ),
)
def register_user(
    form: LoginForm,
    ctx: ContextDep,
    groups: Annotated[list[UserGroup] | None, Query()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> UserPublic:
    """Create an account (form fields `username`, `password`) and its predefined folders.

    Anyone may create a `users` account; `workers` and `cloud` accounts can lease
    every user's jobs, so they need the internal API key (header `x-api-key`)."""
    chosen = [g.value for g in (groups or [UserGroup.users])]
    if set(chosen) - {UserGroup.users.value} and not api_key_matches(
        x_api_key, ctx.settings.api_key
    ):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "worker and cloud accounts need the internal API key (x-api-key)",
        )
    assert ctx.accounts is not None
    username, groups_set = ctx.accounts.register(form.username, form.password, chosen)
    UserFiles(ctx.storage, form.username).init()
    return UserPublic(email=username, groups=groups_set)


@router.post(
    "/token",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenResponse,
    responses=error_responses(notes={400: "wrong password", 404: "no user"}),
)
def get_token(form: LoginForm, ctx: ContextDep) -> TokenResponse:
    """An ID token for the account (OAuth2 password form)."""
    assert ctx.accounts is not None
    token, expires_in = ctx.accounts.token(form.username, form.password)
    return TokenResponse(id_token=token, expires_in=expires_in)


@router.post("/login", responses=error_responses(notes={400: "wrong password", 404: "no user"}))
def login(form: LoginForm, ctx: ContextDep) -> JSONResponse:
    """Set the `Authorization` cookie for browser use."""
    assert ctx.accounts is not None
    token, _ = ctx.accounts.token(form.username, form.password)
    response = JSONResponse({"message": "You've successfully logged in. Welcome back!"})
    response.set_cookie(
        "Authorization",
        f"Bearer {token}",
        max_age=COOKIE_MAX_AGE,
        expires=COOKIE_MAX_AGE,
        httponly=True,
        secure=True,
        samesite="none",
    )
    return response
