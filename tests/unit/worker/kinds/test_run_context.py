"""The context a run of any kind is given: its lease, runner, folders, GPUs, settings
and the cancellation check; and pulling an image through a runner that can."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.jobs.specs import JobSpecs
from tests.unit.worker.worker_protocol_fake import job_spec
from worker.client import WorkerClient
from worker.kinds.base import Aborted, JobFailed, RunContext, pull_image
from worker.lease import Lease
from worker.runners import Capability
from worker.settings import WorkerSettings


class Runner:
    """Only what these tests look at: the capabilities, and the pulls asked for."""

    def __init__(self, *capabilities: Capability, fail: Exception | None = None) -> None:
        self.capabilities = frozenset(capabilities)
        self.pulled: list[str] = []
        self._fail = fail

    def ensure_image(self, image: str) -> None:
        if self._fail is not None:
            raise self._fail
        self.pulled.append(image)


class EngineError(Exception):
    explanation = "manifest unknown"  # what a Docker SDK error carries


def context(tmp_path: Path, runner: Any, stop: list[bool]) -> RunContext:
    client = WorkerClient("http://127.0.0.1:9", token="t", worker_id="w-1")
    settings = WorkerSettings(api_url="http://127.0.0.1:9", token="t", scratch_dir=tmp_path)
    return RunContext(
        spec=JobSpecs.model_validate(job_spec(7, "true")),
        lease=Lease(client, "q7", 3, heartbeat_interval=5),
        runner=runner,
        runner_kind="process",
        jobdir=tmp_path / "job",
        private=tmp_path / "private",
        gpus=1,
        gpu_ids=("1",),
        settings=settings,
        aborted=lambda: stop[0],
    )


def test_the_context_names_its_lease_and_aborts_when_told(tmp_path: Path) -> None:
    stop = [False]
    ctx = context(tmp_path, Runner(), stop)
    assert (ctx.job_id, ctx.attempt, ctx.lease.worker_id) == ("q7", 3, "w-1")
    ctx.check()  # nothing to stop yet
    stop[0] = True
    assert ctx.aborted()
    with pytest.raises(Aborted):
        ctx.check()


def test_an_image_is_pulled_only_by_a_runner_that_can() -> None:
    puller, plain = Runner(Capability.PULLS_IMAGES), Runner(Capability.ARGV)
    pull_image(puller, "busybox:1")
    pull_image(plain, "busybox:1")
    assert puller.pulled == ["busybox:1"] and plain.pulled == []


def test_an_image_that_cannot_be_pulled_fails_the_job_in_the_engine_s_words() -> None:
    runner = Runner(Capability.PULLS_IMAGES, fail=EngineError("500 Server Error for http://x"))
    with pytest.raises(JobFailed, match=r"^image nope:1 could not be obtained: manifest unknown$"):
        pull_image(runner, "nope:1")
    runner = Runner(Capability.PULLS_IMAGES, fail=OSError("no space left"))
    with pytest.raises(JobFailed, match=r"^image nope:1 could not be obtained: no space left$"):
        pull_image(runner, "nope:1")
