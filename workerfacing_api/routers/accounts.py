"""`PUT /_accounts/{username}`: the user API tells the worker API of a change to an
account (closed, disabled, enabled, re-created), so that its tokens are refused here too.
Internal (x-api-key); idempotent, and a late message never undoes a newer one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path

from shared.api.errors import BadRequest, error_responses
from shared.auth.accounts import AccountState
from workerfacing_api.db.session import write_session
from workerfacing_api.dependencies import ContextDep, require_api_key
from workerfacing_api.services import accounts

router = APIRouter(tags=["_Internal"], dependencies=[Depends(require_api_key)])


@router.put(
    "/_accounts/{username}", response_model=AccountState, responses=error_responses(400, 401)
)
def put_account(
    username: Annotated[str, Path(min_length=1, max_length=128)],
    state: Annotated[AccountState, Body()],
    ctx: ContextDep,
) -> AccountState:
    """labcloud: keep the account's standing (the highest revision wins); answers the
    standing kept."""
    if state.username != username:
        raise BadRequest("the body names another account than the path")
    with write_session(ctx.sessions) as session:
        kept = accounts.apply(session, state)
    ctx.account_gate.forget(username)
    return kept
