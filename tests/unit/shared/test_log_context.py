"""Structured logs: the job a line is about, JSON lines, and the request middleware."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shared import log_context
from shared.log_context import (
    JobContextMiddleware,
    bind_job,
    current_job,
    job_context,
    job_fields,
)


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log_context.install(handler, "json")
    logger = logging.getLogger("test.log_context")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def read(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_lines_inside_a_job_context_name_job_and_attempt(lines) -> None:
    logger, stream = lines
    logger.info("before")
    with job_context("12", 3):
        logger.info("during %s", "work")
        with job_context(13):
            logger.warning("nested")
        logger.info("again")
    logger.info("after")
    before, during, nested, again, after = read(stream)
    assert "job_id" not in before and "job_id" not in after
    assert (during["job_id"], during["attempt"], during["message"]) == (12, 3, "during work")
    assert (nested["job_id"], nested["attempt"], nested["level"]) == (13, None, "WARNING")
    assert (again["job_id"], again["attempt"]) == (12, 3)
    assert during["logger"] == "test.log_context" and during["time"].endswith("+00:00")


def test_explicit_fields_win_and_extras_and_tracebacks_are_kept(lines) -> None:
    logger, stream = lines
    with job_context(1, 1):
        logger.info("other job", extra=job_fields(2, 5))
    logger.info("extra", extra={"worker": "w-1"})
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed", extra=job_fields("q7"))
    other, extra, failed = read(stream)
    assert (other["job_id"], other["attempt"]) == (2, 5)
    assert extra["worker"] == "w-1" and "job_id" not in extra
    assert failed["job_id"] == "q7" and "ValueError: boom" in failed["exception"]


def test_a_thread_binds_its_own_job(lines) -> None:
    logger, stream = lines

    def work() -> None:
        bind_job(5, 2)
        logger.info("in the thread")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    logger.info("in the main thread")
    assert current_job() is None
    in_thread, main = read(stream)
    assert (in_thread["job_id"], in_thread["attempt"]) == (5, 2)
    assert "job_id" not in main


def test_text_records_get_the_fields_too() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(job_id)s/%(attempt)s %(message)s"))
    log_context.install(handler)  # text: the filter only
    logger = logging.getLogger("test.log_context.text")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with job_context(9, 1):
            logger.warning("a")
        logger.warning("b")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().splitlines() == ["9/1 a", "None/None b"]


def test_requests_on_a_job_are_about_that_job() -> None:
    app = FastAPI()
    seen: list[object] = []

    @app.put("/jobs/{job_id}/status")
    def status(job_id: int) -> None:  # a plain def: runs in the thread pool
        seen.append(current_job())

    @app.get("/_jobs/{job_id}")
    async def internal(job_id: int) -> None:
        seen.append(current_job())

    @app.get("/jobs")
    def jobs() -> None:
        seen.append(current_job())

    app.add_middleware(JobContextMiddleware)
    with TestClient(app) as client:
        client.put("/jobs/7/status", headers={"X-Labcloud-Attempt": "2"})
        client.put("/jobs/8/status")
        client.get("/_jobs/9")
        client.get("/jobs")
    assert seen == [(7, 2), (8, None), (9, None), None]
