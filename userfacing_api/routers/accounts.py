"""Accounts (served only when AUTH=1): register, get a token, cookie login — kept in the
user database, or in the Cognito pool when COGNITO_* are set (as DECODE does).

Sign-ins are throttled per account and per client address, and their password work
runs in a bounded pool off the event loop (services/signin.py). An unknown user gets
the answer of a wrong password (400), where DECODE answers 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from starlette.concurrency import run_in_threadpool

from shared.api.errors import error_responses
from shared.auth.api_key import api_key_matches
from userfacing_api.dependencies import ContextDep
from userfacing_api.schemas import TokenResponse, UserGroup, UserPublic
from userfacing_api.services.account_admin import fresh_folders
from userfacing_api.services.signin import SignInBusy
from userfacing_api.services.signin_throttle import Throttled

router = APIRouter(tags=["Authentication"])
LoginForm = Annotated[OAuth2PasswordRequestForm, Depends()]
COOKIE_MAX_AGE = 1800
_BUSY = "labcloud: too many sign-ins under way (SIGNIN_MAX_PENDING)"
SIGN_IN_ANSWERS: dict[int | str, dict[str, Any]] = error_responses(
    notes={
        400: "wrong username or password (an unknown user too)",
        403: "labcloud: the account is disabled",
        429: "labcloud: too many failed sign-ins (see Retry-After)",
        503: _BUSY,
    }
)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@contextmanager
def signin_answers() -> Iterator[None]:
    """A throttled sign-in is 429 with Retry-After; a full pool of them 503."""
    try:
        yield
    except Throttled as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many failed sign-ins for this account or from this address; "
            f"try again in {exc.retry_after} s",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    except SignInBusy as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": "1"}
        ) from None


@router.post(
    "/user",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses=error_responses(
        notes={
            400: "invalid username or weak password",
            403: "worker and cloud accounts need the internal API key",
            409: "user exists",
            503: _BUSY,
        }
    ),
)
async def register_user(
    form: LoginForm,
    ctx: ContextDep,
    groups: Annotated[list[UserGroup] | None, Query()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> UserPublic:
    """Create an account (form fields `username`, `password`) and its predefined folders
    (empty: a new account of a closed account's name inherits nothing).

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
    assert ctx.signins is not None
    with signin_answers():
        username, groups_set = await ctx.signins.register(form.username, form.password, chosen)
    await run_in_threadpool(fresh_folders, ctx.storage, form.username)
    return UserPublic(email=username, groups=groups_set)


@router.post(
    "/token",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenResponse,
    responses=SIGN_IN_ANSWERS,
)
async def get_token(form: LoginForm, ctx: ContextDep, request: Request) -> TokenResponse:
    """An ID token for the account (OAuth2 password form)."""
    assert ctx.signins is not None
    with signin_answers():
        token, expires_in = await ctx.signins.token(
            form.username, form.password, client_address(request)
        )
    return TokenResponse(id_token=token, expires_in=expires_in)


@router.post("/login", responses=SIGN_IN_ANSWERS)
async def login(form: LoginForm, ctx: ContextDep, request: Request) -> JSONResponse:
    """Set the `Authorization` cookie for browser use. Writes it authenticates must come
    from this site or FRONTEND_URL (Origin, else Referer)."""
    assert ctx.signins is not None
    with signin_answers():
        token, _ = await ctx.signins.token(form.username, form.password, client_address(request))
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
