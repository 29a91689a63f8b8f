"""The worker's `/healthz` and `/readyz` (on its metrics port), and its wait for the
worker API's `/readyz` before the first poll."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import httpx

from tests.integration.worker.test_loop import _settings, running, wait_for
from tests.support.processes import free_port
from tests.unit.worker.worker_protocol_fake import serve
from worker.loop import Worker


def _get(port: int, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)


def _answers(port: int) -> bool:
    try:
        return _get(port, "/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def test_ready_while_the_worker_api_answers(tmp_path: Path) -> None:
    port = free_port()
    with serve() as (url, _state):
        worker = Worker(_settings(url, tmp_path, metrics_port=port))
        with running(worker):
            wait_for(lambda: _answers(port))
            response = _get(port, "/readyz")
            assert response.status_code == 200
            assert response.json()["checks"] == {"worker_api": {"ok": True, "error": None}}
            assert "labcloud_worker_free_slots" in _get(port, "/metrics").text


def test_without_the_worker_api_it_is_alive_not_ready_and_does_not_poll(tmp_path: Path) -> None:
    port = free_port()
    worker = Worker(_settings("http://127.0.0.1:1", tmp_path, metrics_port=port))
    with running(worker):
        wait_for(lambda: _answers(port))
        response = _get(port, "/readyz")
        assert response.status_code == 503
        assert response.json() == {
            "status": "not ready",
            "checks": {"worker_api": {"ok": False, "error": "ConnectError"}},
        }
    # `running` asserted that the waiting worker stopped when asked


def test_the_first_poll_waits_for_the_worker_apis_readyz(tmp_path: Path) -> None:
    with serve() as (url, state):
        state.faults[("GET", "/readyz")] = deque([503, 503])  # then 404: an answer
        worker = Worker(_settings(url, tmp_path))
        with running(worker):
            wait_for(lambda: any(c.path == "/jobs" for c in state.calls))
        paths = [c.path for c in state.calls]
        first_poll = paths.index("/jobs")
        assert paths[:first_poll].count("/readyz") == 3
        assert "/readyz" not in paths[first_poll:]
