"""`/admin/users`: administrators list, disable, enable and delete accounts (members of
the `admin` group, or the operator's `labcloud admin users` with the internal key)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from shared.api.errors import error_responses
from shared.auth.accounts import Standing
from shared.validation import Count
from userfacing_api.db.models import User
from userfacing_api.dependencies import ContextDep, CurrentAdmin
from userfacing_api.schemas import AccountPublic
from userfacing_api.services.account_book import MAX_PAGE

router = APIRouter(
    prefix="/admin/users", tags=["Administration"], responses=error_responses(400, 401, 403)
)
Username = Annotated[str, Path(min_length=1, max_length=128)]
NOT_FOUND = error_responses(notes={404: "no such account (or it is closed)"})


def _public(user: User) -> AccountPublic:
    return AccountPublic(
        username=user.username,
        email=user.email,
        groups=list(user.groups or []),
        standing=user.standing,  # type: ignore[arg-type]
        created_at=user.created_at.replace(tzinfo=dt.UTC),
    )


@router.get("", response_model=list[AccountPublic])
def list_accounts(
    _admin: CurrentAdmin,
    ctx: ContextDep,
    standing: Annotated[
        Standing | None, Query(description="only these; closed ones only when asked for")
    ] = None,
    offset: Count = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> list[AccountPublic]:
    """Accounts by name (with Cognito: those that registered here or have called)."""
    return [_public(u) for u in ctx.account_admin.list(standing, offset, limit)]


@router.get("/{username}", response_model=AccountPublic, responses=NOT_FOUND)
def describe_account(username: Username, _admin: CurrentAdmin, ctx: ContextDep) -> AccountPublic:
    return _public(ctx.account_admin.find(username))


@router.post("/{username}/disable", response_model=AccountPublic, responses=NOT_FOUND)
def disable_account(username: Username, _admin: CurrentAdmin, ctx: ContextDep) -> AccountPublic:
    """The account can no longer sign in, and its tokens are refused at once (in both
    APIs). Its files and jobs stay."""
    return _public(ctx.account_admin.set_standing(username, "disabled"))


@router.post("/{username}/enable", response_model=AccountPublic, responses=NOT_FOUND)
def enable_account(username: Username, _admin: CurrentAdmin, ctx: ContextDep) -> AccountPublic:
    """The account can sign in again (the tokens it had before it was disabled stay
    refused)."""
    return _public(ctx.account_admin.set_standing(username, "active"))


@router.delete("/{username}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_account(username: Username, _admin: CurrentAdmin, ctx: ContextDep) -> Response:
    """Close the account as `DELETE /user` does: its files, jobs (running ones are
    cancelled) and tokens go at once. Idempotent."""
    ctx.account_admin.close(username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
