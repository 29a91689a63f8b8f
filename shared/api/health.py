"""`GET /healthz` and `GET /readyz`, the same on both APIs (see `shared.health`).

Each API's router module calls `health_router` with a function that builds its own
probes from its context; the probe set is built on first use and kept on the app.
No authentication: load balancers and container engines call these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from shared.health import ReadinessProbe, report

TAG = "Health"


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class CheckResult(BaseModel):
    ok: bool
    error: str | None = Field(
        default=None,
        description="the kind of failure (an exception type, an S3 error code, 'timed out "
        "after 3 s'); details are in the service's log",
    )


class ReadinessReport(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, CheckResult] = Field(
        description="one entry per dependency: database, storage, transport"
    )


def health_router(make_probe: Callable[[Any], ReadinessProbe]) -> APIRouter:
    """The two routes; `make_probe(ctx)` builds the API's readiness probe from
    `app.state.ctx` (once per app)."""
    router = APIRouter(tags=[TAG])

    def probe_of(request: Request) -> ReadinessProbe:
        state = request.app.state
        probe = getattr(state, "readiness", None)
        if probe is None:
            probe = state.readiness = make_probe(state.ctx)
        return probe

    @router.get("/healthz", response_model=Liveness, summary="The process is alive")
    async def healthz() -> Liveness:
        """Answers 200 as long as the process serves requests; checks nothing else."""
        return Liveness()

    @router.get(
        "/readyz",
        response_model=ReadinessReport,
        summary="The dependencies are reachable",
        responses={503: {"model": ReadinessReport, "description": "a dependency is not"}},
    )
    def readyz(request: Request) -> JSONResponse:  # plain def: the probes block
        """200 when the database, the job transport and the storage answer; 503 naming
        those that do not. Checked at most every 2 s per process, each probe within 3 s."""
        readiness = probe_of(request).check()
        return JSONResponse(report(readiness), status_code=200 if readiness.ready else 503)

    return router
