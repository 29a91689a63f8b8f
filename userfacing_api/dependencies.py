"""FastAPI dependencies as `Annotated` aliases, so routes read like declarations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from sqlalchemy.orm import Session

from shared.app_config import Catalogue
from shared.auth.api_key import api_key_matches
from shared.auth.tokens import InvalidToken, Principal
from userfacing_api.context import AppContext
from userfacing_api.services.files import UserFiles

USERS_GROUP = "users"


def get_context(request: Request) -> AppContext:
    return request.app.state.ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


def get_session(ctx: ContextDep) -> Iterator[Session]:
    with ctx.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def bearer_token(request: Request) -> str:
    """The token from `Authorization: Bearer …`, or from the cookie `/login` sets."""
    raw = request.headers.get("authorization") or request.cookies.get("Authorization") or ""
    scheme, _, token = raw.strip().strip('"').partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def get_principal(ctx: ContextDep, token: Annotated[str, Depends(bearer_token)]) -> Principal:
    try:
        return ctx.verifier.verify(token)
    except InvalidToken as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"invalid token: {exc}",
            headers={"WWW-Authenticate": "Bearer"},
        ) from None


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_current_user(principal: PrincipalDep) -> Principal:
    """A caller in the `users` group (files and jobs need it)."""
    if not principal.in_group(USERS_GROUP):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not a member of the 'users' group")
    return principal


CurrentUser = Annotated[Principal, Depends(get_current_user)]


def get_user_files(ctx: ContextDep, user: CurrentUser) -> UserFiles:
    try:
        return UserFiles(ctx.storage, user.username)
    except ValueError:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this user id cannot own files") from None


UserFilesDep = Annotated[UserFiles, Depends(get_user_files)]


def get_catalogue(ctx: ContextDep) -> Catalogue:
    return ctx.catalogue.get()


CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]


def require_api_key(ctx: ContextDep, x_api_key: Annotated[str | None, Header()] = None) -> None:
    """Internal endpoints: the key the two APIs share, compared in constant time."""
    if not api_key_matches(x_api_key, ctx.settings.api_key):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unauthorized")


def require_local_auth(ctx: ContextDep) -> AppContext:
    if ctx.local_tokens is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "local accounts are not enabled (AUTH=0)")
    return ctx
