"""LeaseRun: the lifecycle around any kind of run, against the worker-protocol fake.

The kinds here are small stand-ins: what a new kind (an interactive session) gets
and what it must give back is all there is to it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shared.jobs.specs import JobSpecs
from shared.jobs.states import JobStatus
from tests.unit.worker.worker_protocol_fake import FakeState, job_spec, serve
from worker import hardware
from worker.client import WorkerClient
from worker.kinds.base import Aborted, Ending, JobFailed, Lost, RunContext
from worker.run import Facilities, LeaseRun
from worker.runners import Capability
from worker.runners.pool import RunnerPool
from worker.settings import WorkerSettings


class Runner:
    """A runner that is never started: the stand-in kinds do not run anything."""

    def __init__(self, *capabilities: Capability) -> None:
        self.capabilities = frozenset(capabilities)


class Kind:
    """A kind whose execute is the test's function."""

    name = "probe"
    unsupported = "probes need a runner that publishes ports; this one is '{runner}'"

    def __init__(
        self, execute: Callable[[RunContext], Ending], requires: frozenset[Capability] = frozenset()
    ) -> None:
        self._execute, self.requires = execute, requires
        self.contexts: list[RunContext] = []

    def accepts(self, spec: JobSpecs) -> bool:
        return True

    def refusal(self, spec: JobSpecs) -> str | None:
        return spec.app.env.get("REFUSE")

    def execute(self, ctx: RunContext) -> Ending:
        self.contexts.append(ctx)
        return self._execute(ctx)


class Harness:
    def __init__(self, url: str, state: FakeState, tmp_path: Path) -> None:
        self.state = state
        self.settings = WorkerSettings(
            api_url=url,
            auth_url=url,
            username="worker",
            password="secret-pw",
            scratch_dir=tmp_path / "scratch",
            runners="process",
            heartbeat_interval=0.1,
        )
        self.client = WorkerClient.from_settings(self.settings, backoff_s=0.01)
        machine = hardware.probe(cpu_cores=2, memory_mb=2000, gpus=[])
        self.resources = hardware.Resources(machine, max_jobs=2)
        self.runner = Runner()
        pool = RunnerPool(self.settings, owner="lc-test", runners={"process": self.runner})
        self.scratch = tmp_path / "scratch" / "worker-test"
        self.scratch.mkdir(parents=True)
        self.killing = threading.Event()
        self.facilities = Facilities(
            self.client, self.settings, self.resources, pool, self.scratch, self.killing
        )
        self.done: list[LeaseRun] = []

    def run(self, kind: Kind | None, **env: str) -> LeaseRun:
        raw = job_spec(5, "true", env=env)
        raw["meta"]["extra"] = {"attempt": 2}
        spec = JobSpecs.model_validate(raw)
        needs = hardware.job_needs(spec)
        grant = self.resources.try_reserve(needs)
        run = LeaseRun(self.facilities, "q5", spec, needs, grant, self.done.append, kind=kind)
        run.thread.start()
        run.thread.join(20)
        assert not run.thread.is_alive()
        return run


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with serve() as (url, state):
        h = Harness(url, state, tmp_path)
        yield h
        h.client.close()


def test_the_kind_gets_its_context_and_its_ending_is_the_final_status(harness: Harness) -> None:
    def execute(ctx: RunContext) -> Ending:
        (ctx.jobdir / "made-by-the-kind").touch()
        ctx.lease.set_status(JobStatus.running)
        return Ending(JobStatus.finished)

    kind = Kind(execute)
    run = harness.run(kind)
    [ctx] = kind.contexts
    assert (ctx.job_id, ctx.attempt, ctx.runner, ctx.runner_kind) == (
        "q5",
        2,
        harness.runner,
        "process",
    )
    assert ctx.jobdir.parent == harness.scratch and ctx.private.parent == harness.scratch
    assert not ctx.private.is_relative_to(ctx.jobdir)  # out of the job's reach
    assert (ctx.gpus, ctx.gpu_ids) == (0, ())
    assert ctx.settings is harness.settings
    assert harness.state.status_names("q5") == ["preprocessing", "running", "finished"]
    assert run.final_status is JobStatus.finished and harness.done == [run]
    # Afterwards: the folders are gone, the resources free again, nothing handed back.
    assert not ctx.jobdir.exists() and not ctx.private.exists()
    assert harness.resources.running == 0 and harness.state.released == []
    assert {c.attempt for c in harness.state.calls if c.path.startswith("/jobs/q5")} == {"2"}


def test_job_failed_ends_the_job_in_error_with_its_message(harness: Harness) -> None:
    def execute(ctx: RunContext) -> Ending:
        raise JobFailed("the probe broke")

    harness.run(Kind(execute))
    assert harness.state.final("q5") == ("error", "the probe broke")
    assert harness.state.status_names("q5") == ["preprocessing", "error"]


def test_an_error_ending_carries_its_details(harness: Harness) -> None:
    harness.run(Kind(lambda ctx: Ending(JobStatus.error, "exit code 3\nboom")))
    assert harness.state.final("q5") == ("error", "exit code 3\nboom")


def test_a_bug_in_a_kind_fails_the_job_and_names_it(harness: Harness) -> None:
    def execute(ctx: RunContext) -> Ending:
        raise KeyError("oops")

    harness.run(Kind(execute))
    assert harness.state.final("q5") == ("error", "worker error: KeyError: 'oops'")


def test_a_refused_spec_fails_before_anything_is_reported(harness: Harness) -> None:
    kind = Kind(lambda ctx: Ending(JobStatus.finished))
    harness.run(kind, REFUSE="probes cannot run this")
    assert harness.state.statuses["q5"] == [("error", "probes cannot run this")]
    assert kind.contexts == []


def test_a_runner_without_what_the_kind_requires_fails_the_job(harness: Harness) -> None:
    kind = Kind(lambda ctx: Ending(JobStatus.finished), frozenset({Capability.PORTS}))
    harness.run(kind)
    assert harness.state.final("q5") == (
        "error",
        "probes need a runner that publishes ports; this one is 'process'",
    )
    assert kind.contexts == []


def test_a_tes_task_on_a_runner_without_argv_and_mounts_is_refused(harness: Harness) -> None:
    raw = job_spec(6, "", runner="process")
    raw["handler"]["tes"] = {"executors": [{"image": "busybox", "command": ["echo", "hi"]}]}
    spec = JobSpecs.model_validate(raw)
    run = LeaseRun(harness.facilities, "q6", spec, hardware.job_needs(spec), None, lambda r: None)
    assert run.kind.name == "tes"  # from the registry
    run.thread.start()
    run.thread.join(20)
    assert harness.state.final("q6") == (
        "error",
        "GA4GH TES tasks need a worker that runs containers itself; this one runs them "
        "with 'process'",
    )


def test_a_hard_stop_hands_the_job_back_without_a_final_status(harness: Harness) -> None:
    def execute(ctx: RunContext) -> Ending:
        harness.killing.set()  # e.g. the second Ctrl-C, while the kind works
        ctx.check()
        return Ending(JobStatus.finished)

    run = harness.run(Kind(execute))
    assert harness.state.final("q5") is None and run.final_status is None
    assert harness.state.released == ["q5"]
    assert harness.resources.running == 0


def test_a_job_the_server_dropped_is_not_handed_back(harness: Harness) -> None:
    def execute(ctx: RunContext) -> Ending:
        harness.state.gone.add("q5")  # cancelled: the next call is a 404
        ctx.lease.set_status(JobStatus.running)
        raise AssertionError("set_status raises JobGone")

    harness.run(Kind(execute))
    assert harness.state.final("q5") is None and harness.state.released == []


def test_an_aborted_kind_hands_back_like_a_stop(harness: Harness) -> None:
    def execute(ctx: RunContext) -> Ending:
        raise Aborted()

    harness.run(Kind(execute))
    assert harness.state.released == ["q5"] and harness.state.final("q5") is None
    [call] = [c for c in harness.state.calls if c.path == "/jobs/q5/release"]
    assert call.params == {}  # a hand-back: not a failed attempt


def test_a_lost_run_is_handed_back_as_a_failed_attempt(harness: Harness) -> None:
    def execute(ctx: RunContext) -> Ending:
        raise Lost()  # e.g. the cloud service no longer knows the run

    harness.run(Kind(execute))
    assert harness.state.released == ["q5"] and harness.state.final("q5") is None
    [call] = [c for c in harness.state.calls if c.path == "/jobs/q5/release"]
    assert call.params == {"failed": ["true"]}
