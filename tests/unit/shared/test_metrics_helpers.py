"""Shared metrics helpers: the database collector when the database is down, and route
templates as labels."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from shared.metrics import DatabaseCollector, HttpMetrics, HttpMetricsMiddleware, gauge
from tests.support.metrics import parse


class BrokenSessions:
    def __call__(self) -> object:
        raise ConnectionError("database unreachable")


def test_an_unreadable_database_reads_as_down() -> None:
    registry = CollectorRegistry()
    registry.register(
        DatabaseCollector(
            BrokenSessions(),  # type: ignore[arg-type]
            read=lambda session: [gauge("labcloud_x", "x", 1)],
            describe=lambda: [gauge("labcloud_x", "x")],
        )
    )
    m = parse(generate_latest(registry).decode())
    assert m.value("labcloud_database_up") == 0
    assert ("labcloud_x", frozenset()) not in m.samples


def test_requests_are_labelled_by_route_template() -> None:
    registry = CollectorRegistry()
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    app.add_middleware(HttpMetricsMiddleware, metrics=HttpMetrics(registry))
    with TestClient(app) as client:
        for i in range(3):
            client.get(f"/items/{i}")
        client.get("/items/x")  # 422
        client.post("/items/1")  # 405
        client.get("/elsewhere")
    m = parse(generate_latest(registry).decode())
    total = "labcloud_http_requests_total"
    assert m.value(total, method="GET", route="/items/{item_id}", status="200") == 3
    assert m.value(total, method="GET", route="/items/{item_id}", status="422") == 1
    assert m.value(total, method="GET", route="<unmatched>", status="404") == 1
    assert sum(v for (name, _), v in m.samples.items() if name == total) == 6
