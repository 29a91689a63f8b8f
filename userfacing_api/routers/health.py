"""`GET /healthz` and `GET /readyz` of the user API: its database, its storage and its
job transport (the broker, or the worker API when JOB_TRANSPORT=http)."""

from __future__ import annotations

from shared.api.health import health_router
from shared.health import ReadinessProbe, api_probes, transport_probe
from userfacing_api.context import AppContext


def _probes(ctx: AppContext) -> ReadinessProbe:
    http_url = ctx.settings.workerfacing_api_url
    return api_probes(ctx, transport_probe(ctx.settings, http_url=http_url))


router = health_router(_probes)
