"""Job specs travel through a real broker (RabbitMQ, Redis, SQS on moto) from the user
API to the worker API, and a job runs to the end."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import platform, submit, wait_for


@pytest.mark.parametrize("broker", ["amqp", "redis", "sqs"])
def test_a_job_through_a_broker(broker: str, tmp_path: Path, moto_endpoint: str) -> None:
    queue = f"lc-e2e-{uuid.uuid4().hex[:8]}"
    transport = {"amqp": "amqp://guest:guest@127.0.0.1:5672//",
                 "redis": "redis://127.0.0.1:6379/0",
                 "sqs": "sqs://testing:testing@" + moto_endpoint.removeprefix("http://")}[broker]
    settings = {"JOB_TRANSPORT": transport, "JOB_TRANSPORT_QUEUE": queue}
    if broker == "sqs":
        settings["JOB_TRANSPORT_OPTIONS"] = json.dumps(
            {"is_secure": False, "region": "us-east-1", "wait_time_seconds": 1})
    with platform(tmp_path, f"sqlite:///{tmp_path / 'u.db'}", f"sqlite:///{tmp_path / 'w.db'}",
                  both=settings) as p:
        p.start_worker("broker-worker")
        http = p.user_client()
        job = submit(http, f"via-{broker}")
        done = wait_for(http, job["id"], {"finished", "error", "canceled"}, timeout=60)
        assert done["status"] == "finished", done
        # and a cancel takes the same road
        long = submit(http, f"long-{broker}", env_vars={"DEMO_SLEEP": "60"})
        wait_for(http, long["id"], {"running"}, timeout=60)
        assert http.post(f"/jobs/{long['id']}/cancel").status_code == 202
        assert wait_for(http, long["id"], {"finished", "error", "canceled"},
                        timeout=60)["status"] == "canceled"
        assert "job inbox" not in (p.tmp / "worker-api.log").read_text()  # no failing rounds
