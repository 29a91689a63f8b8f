"""The worker's own metrics server (running jobs, free slots, finished and failed jobs)
and its JSON log lines, each naming the job and attempt it is about."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared import log_context
from tests.integration.worker.test_loop import _settings, running, wait_for
from tests.support.metrics import Scrape, parse
from tests.support.processes import free_port
from tests.unit.worker.worker_protocol_fake import job_spec, serve
from worker.loop import Worker


@pytest.fixture
def fake():
    with serve() as (url, state):
        yield url, state


def scrape(port: int) -> Scrape:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    return parse(response.text)


def test_the_worker_serves_its_metrics(fake, tmp_path: Path) -> None:
    url, state = fake
    port = free_port()
    gate = tmp_path / "go"
    worker = Worker(_settings(url, tmp_path, metrics_port=port, max_concurrent_jobs=3))
    with running(worker):
        wait_for(lambda: _answers(port))
        m = scrape(port)
        assert m.value("labcloud_worker_running_jobs") == 0
        assert m.value("labcloud_worker_free_slots") == 3
        assert m.value("labcloud_worker_jobs_finished_total") == 0
        assert m.value("labcloud_worker_jobs_failed_total") == 0

        state.add_job("1", job_spec(1, f"while [ ! -e {gate} ]; do sleep 0.05; done"))
        state.add_job("2", job_spec(2, f"while [ ! -e {gate} ]; do sleep 0.05; done; exit 3"))
        wait_for(lambda: len(worker.running_jobs) == 2)
        m = scrape(port)
        assert m.value("labcloud_worker_running_jobs") == 2
        assert m.value("labcloud_worker_free_slots") == 1

        gate.touch()
        wait_for(lambda: state.final("1") and state.final("2") and not worker.running_jobs)
        wait_for(lambda: scrape(port).value("labcloud_worker_jobs_failed_total") == 1)
        m = scrape(port)
        assert m.value("labcloud_worker_jobs_finished_total") == 1
        assert m.value("labcloud_worker_running_jobs") == 0
        assert m.value("labcloud_worker_free_slots") == 3
    assert not _answers(port)  # stopped with the worker


def test_no_metrics_server_by_default(fake, tmp_path: Path) -> None:
    url, _state = fake
    worker = Worker(_settings(url, tmp_path))
    with running(worker):
        wait_for(lambda: any(c.path == "/jobs" for c in _state.calls))
        assert worker.metrics.port is None


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The worker's log records, as `LABCLOUD_WORKER_LOG_FORMAT=json` writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log_context.install(handler, "json")
    logger = logging.getLogger("worker")
    previous = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def test_json_log_lines_name_the_job_and_attempt(fake, tmp_path: Path, json_log) -> None:
    url, state = fake
    state.add_job("41", job_spec(41, "echo out > output/o.txt"))
    state.fail_next("PUT", "/jobs/41/status", 503)  # a retried call logs from the job thread
    worker = Worker(_settings(url, tmp_path, heartbeat_interval=0.05))
    with running(worker):
        wait_for(lambda: state.final("41"))
        wait_for(lambda: not worker.running_jobs)
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert lines, "nothing logged"
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line)
    about_job = [line for line in lines if "job 41" in line["message"]]
    messages = " | ".join(line["message"] for line in about_job)
    for expected in ("leased", "exit code 0", "uploaded", "finished"):
        assert expected in messages, messages
    for line in about_job:
        assert line["job_id"] == 41 and line["attempt"] == 1, line
    # Lines of the job's thread that do not say "job 41" are about it too.
    retry = [line for line in lines if "retry" in line["message"]]
    assert retry and all(line["job_id"] == 41 and line["attempt"] == 1 for line in retry)
    # Lines about no job in particular name none.
    polling = [line for line in lines if "polling" in line["message"]]
    assert polling and all("job_id" not in line for line in polling)
