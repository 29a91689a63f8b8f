"""FastAPI dependencies as `Annotated` aliases, so routes read like declarations.

Those that do no I/O are `async def`: FastAPI runs a plain `def` dependency in the
thread pool, one hop per dependency per request, which costs more than they do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from sqlalchemy.orm import Session

from shared.api.auth import admit, bearer_token, check_api_key, require_group, verify_async
from shared.auth.tokens import Principal
from shared.jobs.specs import Environment
from shared.validation import INT32_MAX
from workerfacing_api.context import AppContext

WORKERS_GROUP = "workers"
CLOUD_GROUP = "cloud"
_WORKER_ID = re.compile(r"^[A-Za-z0-9._:@+\-]{1,128}$")


async def get_context(request: Request) -> AppContext:
    return request.app.state.ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


def get_session(ctx: ContextDep) -> Iterator[Session]:
    """A session for reading; writes go through `write_session` in the route."""
    with ctx.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


#: Who calls with the internal API key: the worker API's own cloud pollers.
CLOUD_POLLER = Principal(username="labcloud-cloud-poller", groups=(WORKERS_GROUP, CLOUD_GROUP))


async def get_principal(ctx: ContextDep, request: Request) -> Principal:
    """The bearer token's principal; with the internal API key instead, the cloud poller."""
    if (key := request.headers.get("x-api-key")) is not None:
        check_api_key(key, ctx.settings.api_key)
        return CLOUD_POLLER
    return await admit(ctx.account_gate, await verify_async(ctx.verifier, bearer_token(request)))


PrincipalDep = Annotated[Principal, Depends(get_principal)]


@dataclass(frozen=True)
class Worker:
    """The calling worker: who holds leases (`id`) and where it runs."""

    id: str
    username: str
    environment: Environment
    attempt: int | None = None  # the lease this call is about (X-Labcloud-Attempt), if stated
    labcloud: bool = False  # labcloud's worker (X-Worker-Id): heartbeats in every phase


async def get_worker(
    principal: PrincipalDep,
    x_worker_id: Annotated[
        str | None,
        Header(
            description="labcloud: one id per worker "
            "process, to tell apart processes "
            "sharing an account"
        ),
    ] = None,
    x_labcloud_attempt: Annotated[
        int | None,
        Header(
            ge=1,
            le=INT32_MAX,
            examples=[1],
            description="labcloud: the attempt (lease) this call is about; a stale one gets 404",
        ),
    ] = None,
) -> Worker:
    """A caller in the `workers` group.

    Its identity is the username, or `username/X-Worker-Id` when the header is
    sent. Not per token: DECODE's worker logs in again mid-job and would lose
    its own lease if a new token meant a new worker.
    """
    require_group(principal, WORKERS_GROUP)
    worker_id = principal.username
    if x_worker_id is not None:
        if not _WORKER_ID.fullmatch(x_worker_id):
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, "X-Worker-Id: 1 to 128 letters, digits or ._:@+-"
            )
        worker_id = f"{principal.username}/{x_worker_id}"
    environment = Environment.cloud if principal.in_group(CLOUD_GROUP) else Environment.local
    return Worker(
        labcloud=x_worker_id is not None,
        id=worker_id,
        username=principal.username,
        environment=environment,
        attempt=x_labcloud_attempt,
    )


WorkerDep = Annotated[Worker, Depends(get_worker)]


async def require_api_key(
    ctx: ContextDep, x_api_key: Annotated[str | None, Header()] = None
) -> None:
    """Internal endpoints: the key the two APIs share, compared in constant time."""
    check_api_key(x_api_key, ctx.settings.api_key)
