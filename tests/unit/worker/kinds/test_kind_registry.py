"""The registry: one place picks the kind of run from the spec, in a fixed order."""

from __future__ import annotations

from typing import Any

import pytest

from shared.jobs.specs import JobSpecs
from tests.unit.worker.worker_protocol_fake import job_spec
from worker.kinds.base import Ending, RunContext
from worker.kinds.job import DecodeJob
from worker.kinds.registry import KINDS, kind_for
from worker.kinds.tes import TesTask
from worker.runners import Capability


def spec(**handler: Any) -> JobSpecs:
    raw = job_spec(1, "true", runner="docker", image="busybox")
    raw["handler"].update(handler)
    return JobSpecs.model_validate(raw)


TES = {"tes": {"executors": [{"image": "busybox", "command": ["echo", "hi"]}]}}


class SessionLike:
    """A kind registered before the others, as the interactive session will be."""

    name = "session"
    requires = frozenset({Capability.PORTS})
    unsupported = "sessions need a runner that publishes ports; this one is '{runner}'"

    def accepts(self, spec: JobSpecs) -> bool:
        return spec.app.env.get("SESSION") == "1"

    def refusal(self, spec: JobSpecs) -> str | None:
        return None

    def execute(self, ctx: RunContext) -> Ending:
        raise AssertionError("not run here")


def test_a_spec_with_a_tes_block_is_a_tes_task_and_any_other_a_decode_job() -> None:
    assert isinstance(kind_for(spec(**TES)), TesTask)
    assert isinstance(kind_for(spec()), DecodeJob)
    assert [k.name for k in KINDS] == ["tes", "job"]


def test_the_first_kind_that_accepts_the_spec_runs_it() -> None:
    kinds = (SessionLike(), *KINDS)
    session = spec()
    session.app.env["SESSION"] = "1"
    assert kind_for(session, kinds).name == "session"
    assert kind_for(spec(), kinds).name == "job"  # the others are not taken by it
    assert kind_for(spec(**TES), kinds).name == "tes"


def test_no_kind_taking_the_spec_is_a_clear_error() -> None:
    with pytest.raises(LookupError, match=r"no kind of run takes job 1 \(kinds: session\)"):
        kind_for(spec(), (SessionLike(),))


def test_what_each_kind_needs_of_its_runner_and_of_its_spec() -> None:
    tes, job = TesTask(), DecodeJob()
    assert tes.requires == {Capability.ARGV, Capability.MOUNTS}
    assert job.requires == frozenset()  # `sh -c` in the job dir: every runner can
    assert tes.unsupported.format(runner="batch").endswith("this one runs them with 'batch'")
    assert job.refusal(spec()) is None
    assert job.refusal(spec(image_url=None)) == "the entrypoint names no container image"
    assert job.refusal(spec(image_url=None, runner="process")) is None
    assert tes.refusal(spec(image_url=None, **TES)) == "the entrypoint names no container image"
