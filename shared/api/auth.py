"""Request authentication both APIs share: bearer tokens and the internal API key."""

from __future__ import annotations

from fastapi import HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from shared.auth.accounts import AccountGate
from shared.auth.api_key import api_key_matches
from shared.auth.tokens import InvalidToken, Principal, TokenVerifier


def bearer_token(request: Request, *, allow_cookie: bool = False) -> str:
    """The token of `Authorization: Bearer …` (or of the cookie `/login` sets); else 401."""
    raw = request.headers.get("authorization") or ""
    if not raw and allow_cookie:
        raw = request.cookies.get("Authorization") or ""
    scheme, _, token = raw.strip().strip('"').partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def _invalid(exc: InvalidToken) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        f"invalid token: {exc}",
        headers={"WWW-Authenticate": "Bearer"},
    )


def verify(verifier: TokenVerifier, token: str) -> Principal:
    """The token's principal; 401 for an invalid token."""
    try:
        return verifier.verify(token)
    except InvalidToken as exc:
        raise _invalid(exc) from None


async def verify_async(verifier: TokenVerifier, token: str) -> Principal:
    """`verify` for async dependencies: on the event loop when the verifier does no I/O
    (local tokens), else in the thread pool (Cognito may fetch its keys)."""
    if getattr(verifier, "does_io", True):  # a verifier that does not say: assume it may
        return await run_in_threadpool(verify, verifier, token)
    return verify(verifier, token)


async def admit(gate: AccountGate, principal: Principal) -> Principal:
    """The principal, if its account still accepts its token (not closed, disabled or
    re-created since); else 401. From memory on the event loop when it can."""
    try:
        await gate.check_async(principal)
    except InvalidToken as exc:
        raise _invalid(exc) from None
    return principal


def require_group(principal: Principal, group: str) -> Principal:
    if not principal.in_group(group):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"not a member of the '{group}' group")
    return principal


def check_api_key(given: str | None, expected: str) -> None:
    """Internal endpoints: the key the two APIs share, compared in constant time; else 401."""
    if not api_key_matches(given, expected):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unauthorized")
