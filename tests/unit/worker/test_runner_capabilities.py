"""Runners declare what they can do; each capability is backed by the calls it promises,
and run_to_completion asks a runner whether it has begun only if it can queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.runners import Capability, RunSpec, run_to_completion
from worker.runners.batch import BatchRunner
from worker.runners.docker import DockerRunner
from worker.runners.ecs import EcsRunner
from worker.runners.process import ProcessRunner

#: The call each capability adds to the Runner protocol (None: a RunSpec field it honours).
CALLS = {
    Capability.QUEUES: "started",
    Capability.PULLS_IMAGES: "ensure_image",
    Capability.REAPS: "reap",
    Capability.ARGV: None,
    Capability.MOUNTS: None,
    Capability.PORTS: None,
}
RUNNERS = [DockerRunner, ProcessRunner, BatchRunner, EcsRunner]


def test_what_each_runner_declares() -> None:
    assert DockerRunner.capabilities == {
        Capability.PULLS_IMAGES,
        Capability.ARGV,
        Capability.MOUNTS,
    }
    assert ProcessRunner.capabilities == frozenset()
    assert (
        BatchRunner.capabilities
        == EcsRunner.capabilities
        == {
            Capability.QUEUES,
            Capability.REAPS,
        }
    )
    assert set(CALLS) == set(Capability)


@pytest.mark.parametrize("runner", RUNNERS, ids=lambda r: r.__name__)
def test_a_capability_is_declared_exactly_when_its_call_is_there(runner: type) -> None:
    for capability, call in CALLS.items():
        if call is not None:
            assert hasattr(runner, call) == (capability in runner.capabilities), (capability, call)


class Queued:
    """A runner whose run waits two polls before it begins, then exits at once."""

    def __init__(self, capabilities: frozenset[Capability]) -> None:
        self.capabilities = capabilities
        self.polls = 0

    def start(self, spec: RunSpec) -> str:
        return "run"

    def poll(self, handle: str) -> int | None:
        self.polls += 1
        return 0 if self.polls > 3 else None

    def started(self, handle: str) -> bool:
        return self.polls > 2

    def logs(self, handle: str, tail_chars: int | None = 1000) -> str:
        return ""

    def kill(self, handle: str) -> None:
        pass

    def cleanup(self, handle: str) -> None:
        pass


@pytest.mark.parametrize(
    ("capabilities", "began_at_poll"),
    [(frozenset({Capability.QUEUES}), 3), (frozenset(), 1)],
    ids=["queues", "does-not-queue"],
)
def test_on_start_waits_for_a_queued_run_only_when_the_runner_can_queue(
    tmp_path: Path, capabilities: frozenset[Capability], began_at_poll: int
) -> None:
    runner = Queued(capabilities)
    seen: list[int] = []
    spec = RunSpec(job_id="1", command="true", files_dir=tmp_path)
    outcome = run_to_completion(
        runner, spec, on_start=lambda: seen.append(runner.polls), tick_s=0.01
    )
    assert outcome.exit_code == 0
    assert seen == [began_at_poll]
