"""FastAPI dependencies as `Annotated` aliases, so routes read like declarations.

Those that do no I/O are `async def`: FastAPI runs a plain `def` dependency in the
thread pool, one hop per dependency per request, which costs more than they do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from sqlalchemy.orm import Session

from shared.api.auth import admit, bearer_token, check_api_key, require_group, verify_async
from shared.app_config import Catalogue
from shared.auth.tokens import Principal
from userfacing_api.context import AppContext
from userfacing_api.cookie_origins import check_cookie_write
from userfacing_api.services.files import UserFiles
from userfacing_api.services.quotas import UserStorage, effective_quota

USERS_GROUP = "users"
ADMIN_GROUP = "admin"
#: Who calls an administrator's endpoint with the internal API key (`labcloud admin`).
OPERATOR = Principal(username="labcloud-operator", groups=(ADMIN_GROUP,))


async def get_context(request: Request) -> AppContext:
    return request.app.state.ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


def get_session(ctx: ContextDep) -> Iterator[Session]:
    with ctx.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def _authenticate(ctx: AppContext, request: Request) -> Principal:
    """The caller of a bearer token, or of the `/login` cookie (whose writes must come
    from an allowed origin), if its account still accepts it; else 401 (or 403)."""
    token = bearer_token(request, allow_cookie=True)
    if not request.headers.get("authorization"):
        check_cookie_write(request, ctx.settings.cors_origins)
    return await admit(ctx.account_gate, await verify_async(ctx.verifier, token))


async def get_principal(ctx: ContextDep, request: Request) -> Principal:
    return await _authenticate(ctx, request)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_current_user(principal: PrincipalDep) -> Principal:
    """A caller in the `users` group (files and jobs need it)."""
    return require_group(principal, USERS_GROUP)


CurrentUser = Annotated[Principal, Depends(get_current_user)]


async def get_admin(ctx: ContextDep, request: Request) -> Principal:
    """An administrator: a bearer token (or cookie) of the `admin` group, or the internal
    API key (`x-api-key`, what `labcloud admin` sends) for the operator."""
    if (key := request.headers.get("x-api-key")) is not None:
        check_api_key(key, ctx.settings.api_key)
        return OPERATOR
    return require_group(await _authenticate(ctx, request), ADMIN_GROUP)


CurrentAdmin = Annotated[Principal, Depends(get_admin)]


async def get_user_files(ctx: ContextDep, user: CurrentUser) -> UserFiles:
    try:
        return UserFiles(ctx.storage, user.username)
    except ValueError:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this user id cannot own files") from None


UserFilesDep = Annotated[UserFiles, Depends(get_user_files)]


def user_storage(ctx: AppContext, principal: Principal, root: str) -> UserStorage:
    """The usage and quota of the user whose folder is `root` (a short session of its own:
    an upload must not hold a pooled connection while its body streams in)."""
    with ctx.sessions() as session:
        quota = effective_quota(
            session, principal.username, principal.groups, ctx.settings.storage_quota_bytes
        )
    return UserStorage(ctx.usage, root, quota)


def get_user_storage(ctx: ContextDep, user: CurrentUser, files: UserFilesDep) -> UserStorage:
    return user_storage(ctx, user, files.root)


UserStorageDep = Annotated[UserStorage, Depends(get_user_storage)]


def get_catalogue(ctx: ContextDep) -> Catalogue:
    # sync: the catalogue may check its source (a file's mtime, an S3 ETag)
    return ctx.catalogue.get()


CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]


async def require_api_key(
    ctx: ContextDep, x_api_key: Annotated[str | None, Header()] = None
) -> None:
    """Internal endpoints: the key the two APIs share, compared in constant time."""
    check_api_key(x_api_key, ctx.settings.api_key)
