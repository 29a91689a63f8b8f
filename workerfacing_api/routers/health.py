"""`GET /healthz` and `GET /readyz` of the worker API: its database, its storage and,
when job specs arrive through a broker, the broker."""

from __future__ import annotations

from shared.api.health import health_router
from shared.health import ReadinessProbe, api_probes, transport_probe
from workerfacing_api.context import AppContext


def _probes(ctx: AppContext) -> ReadinessProbe:
    return api_probes(ctx, transport_probe(ctx.settings))


router = health_router(_probes)
