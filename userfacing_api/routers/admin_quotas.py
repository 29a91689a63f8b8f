"""`/admin/quotas` (labcloud): administrators set storage quotas per user and per group.

For members of the `admin` group, or the operator with the internal API key
(`labcloud admin quotas …`). See `userfacing_api.services.quotas` for how a user's
quota is chosen.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from shared.api.errors import error_responses
from userfacing_api.dependencies import ContextDep, CurrentAdmin, SessionDep
from userfacing_api.schemas import (
    QuotaList,
    QuotaOverride,
    QuotaSet,
    UserQuotaReport,
)
from userfacing_api.services import quotas

router = APIRouter(prefix="/admin/quotas", tags=["Administration"])

Name = Annotated[str, Path(min_length=1, max_length=128)]
_ERRORS = error_responses(400, 401, 403)


def _public(row: object) -> QuotaOverride:
    return QuotaOverride.model_validate(row, from_attributes=True)


@router.get("", response_model=QuotaList, responses=_ERRORS)
def list_quotas(_admin: CurrentAdmin, session: SessionDep, ctx: ContextDep) -> QuotaList:
    """The default quota (STORAGE_QUOTA_BYTES) and every quota an administrator set."""
    rows = quotas.list_quotas(session)
    return QuotaList(
        default_bytes=ctx.settings.storage_quota_bytes, quotas=[_public(r) for r in rows]
    )


@router.get(
    "/users/{username}", response_model=UserQuotaReport, responses=_ERRORS
)
def show_user(
    username: Name, _admin: CurrentAdmin, session: SessionDep, ctx: ContextDep
) -> UserQuotaReport:
    """A user's quota, where it comes from, and their usage (measured now if the last
    measurement is older than STORAGE_USAGE_MAX_AGE)."""
    return quotas.user_report(
        session, ctx.usage, ctx.storage, username, ctx.settings.storage_quota_bytes
    )


def _set(kind: quotas.Kind, name: str, body: QuotaSet, session: SessionDep) -> QuotaOverride:
    return _public(quotas.set_quota(session, kind, name, body.quota_bytes))


@router.put("/users/{username}", response_model=QuotaOverride, responses=_ERRORS)
def set_user_quota(
    username: Name, body: QuotaSet, _admin: CurrentAdmin, session: SessionDep
) -> QuotaOverride:
    """Give a user a quota of their own (it wins over their groups' and the default)."""
    return _set("user", username, body, session)


@router.put("/groups/{group}", response_model=QuotaOverride, responses=_ERRORS)
def set_group_quota(
    group: Name, body: QuotaSet, _admin: CurrentAdmin, session: SessionDep
) -> QuotaOverride:
    """Give a group's members a quota (the largest of their groups' wins)."""
    return _set("group", group, body, session)


@router.delete(
    "/users/{username}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_ERRORS, **error_responses(404)},
)
def remove_user_quota(username: Name, _admin: CurrentAdmin, session: SessionDep) -> Response:
    """The user goes back to their groups' quota, or the default."""
    quotas.remove_quota(session, "user", username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/groups/{group}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_ERRORS, **error_responses(404)},
)
def remove_group_quota(group: Name, _admin: CurrentAdmin, session: SessionDep) -> Response:
    quotas.remove_quota(session, "group", group)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
