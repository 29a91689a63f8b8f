"""Metrics and JSON logs of the real processes: `GET /metrics` on both APIs, the worker's
metrics server, and JSON log lines that name the job and attempt."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.e2e.conftest import platform
from tests.e2e.test_job_end_to_end import run_demo_job
from tests.support.metrics import parse
from tests.support.processes import free_port

USER_API_FAMILIES = {
    "labcloud_jobs",
    "labcloud_job_outbox_backlog",
    "labcloud_job_outbox_oldest_age_seconds",
    "labcloud_emails",
    "labcloud_emails_sent",
    "labcloud_email_failures",
    "labcloud_http_requests",
    "labcloud_http_request_duration_seconds",
    "labcloud_database_up",
}
WORKER_API_FAMILIES = {
    "labcloud_queue_depth",
    "labcloud_leased_jobs",
    "labcloud_status_outbox_backlog",
    "labcloud_status_outbox_oldest_age_seconds",
    "labcloud_claim_duration_seconds",
    "labcloud_jobs_claimed",
    "labcloud_job_start_latency_seconds",
    "labcloud_http_requests",
    "labcloud_http_request_duration_seconds",
    "labcloud_database_up",
}


def json_lines(log: Path) -> list[dict]:
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is one JSON object


def test_metrics_and_json_logs_of_the_running_platform(tmp_path: Path) -> None:
    metrics_port = free_port()
    with platform(
        tmp_path,
        f"sqlite:///{tmp_path / 'user.db'}",
        f"sqlite:///{tmp_path / 'worker.db'}",
        both={"LOG_FORMAT": "json"},
    ) as p:
        p.start_worker("worker-obs", log_format="json", metrics_port=str(metrics_port))
        http = p.user_client()
        job = run_demo_job(p, http, "observed")
        assert job["status"] == "finished", job

        user = parse(httpx.get(f"{p.user_url}/metrics").text)
        assert USER_API_FAMILIES <= set(user.families)
        assert user.value("labcloud_jobs", status="finished") == 1
        worker_api = parse(httpx.get(f"{p.worker_url}/metrics").text)
        assert WORKER_API_FAMILIES <= set(worker_api.families)
        assert worker_api.value("labcloud_jobs_claimed_total") == 1
        assert worker_api.value("labcloud_job_start_latency_seconds_count", retry="false") == 1
        worker = parse(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text)
        assert worker.value("labcloud_worker_jobs_finished_total") == 1
        assert worker.value("labcloud_worker_free_slots") >= 1

    worker_lines = json_lines(tmp_path / "worker-obs.log")
    about_job = [line for line in worker_lines if f"job {job['id']}" in line["message"]]
    assert about_job and all(
        line["job_id"] == job["id"] and line["attempt"] == 1 for line in about_job
    )
    # The APIs' own lines (uvicorn's included) are JSON too.
    for log in ("user-api.log", "worker-api.log"):
        assert any(line["logger"].startswith("uvicorn") for line in json_lines(tmp_path / log))
