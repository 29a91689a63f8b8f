"""BatchRunner against moto's AWS Batch, whose jobs really run in Podman.

The job directory is a host-path volume here (moto cannot mount EFS); the EFS
form of the volume is checked on its own in tests/unit/worker/test_aws_volume.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest

from tests.support.moto_batch import REGION, create_batch_queue, run_batch_containers_in_podman
from worker.runners.aws import FILES_MOUNT, CloudRunError, EfsVolume, RunLost
from worker.runners.base import RunSpec, run_to_completion
from worker.runners.batch import BatchRun, BatchRunner

pytestmark = pytest.mark.podman


@pytest.fixture
def batch(moto_endpoint: str, aws_env: None, docker_host: str, monkeypatch: pytest.MonkeyPatch):
    run_batch_containers_in_podman(monkeypatch, docker_host)
    return boto3.client("batch", endpoint_url=moto_endpoint, region_name=REGION)


@pytest.fixture
def queue(moto_endpoint: str, batch) -> str:
    return create_batch_queue(moto_endpoint)


@pytest.fixture
def mount(tmp_path: Path) -> Path:
    return tmp_path / "efs"


def _runner(moto_endpoint: str, queue: str, mount: Path, owner: str = "lc-test") -> BatchRunner:
    kw = {"endpoint_url": moto_endpoint, "region_name": REGION}
    return BatchRunner(
        job_queue=queue,
        volume=EfsVolume(mount_dir=mount, mode="host"),
        owner=owner,
        client=boto3.client("batch", **kw),
        logs_client=boto3.client("logs", **kw),
    )


def _spec(mount: Path, image: str, command: str, **kwargs) -> RunSpec:
    job_id = kwargs.pop("job_id", str(uuid.uuid4().int % 100000))
    files_dir = mount / "worker-1" / job_id
    files_dir.mkdir(parents=True, exist_ok=True)
    return RunSpec(job_id=job_id, command=command, files_dir=files_dir, image=image, **kwargs)


def test_job_runs_on_its_job_dir_and_reports_log_and_exit_code(
    moto_endpoint, batch, queue, mount, test_image
):
    runner = _runner(moto_endpoint, queue, mount)
    spec = _spec(
        mount,
        test_image,
        f"cat {FILES_MOUNT}/in.txt; echo result > {FILES_MOUNT}/out.txt; echo job=$LABCLOUD_JOB_ID",
        env={"LABCLOUD_JOB_ID": "42", "LABCLOUD_ATTEMPT": "2"},
        cpu_cores=2,
        memory_mb=256,
        timeout_s=600,
    )
    (spec.files_dir / "in.txt").write_text("the input\n")
    starts: list[bool] = []
    seen: dict[str, BatchRun] = {}
    original_start = runner.start

    def start(s: RunSpec) -> BatchRun:
        seen["run"] = original_start(s)
        return seen["run"]

    runner.start = start  # type: ignore[method-assign]
    outcome = run_to_completion(runner, spec, on_start=lambda: starts.append(True), tick_s=0.5)

    assert outcome.exit_code == 0
    assert starts == [True]  # `running` reported exactly once
    assert (spec.files_dir / "out.txt").read_text() == "result\n"
    assert "the input" in outcome.log and "job=42" in outcome.log

    run = seen["run"]
    job = batch.describe_jobs(jobs=[run.job_id])["jobs"][0]
    assert job["jobQueue"].endswith(queue)
    assert job["tags"] == {
        "labcloud-owner": "lc-test",
        "labcloud-job": spec.job_id,
        "labcloud-attempt": "2",
    }
    assert job["jobName"] == f"lc-test-{spec.job_id}-a2"
    definition = batch.describe_job_definitions(jobDefinitions=[run.definition_arn])[
        "jobDefinitions"
    ][0]
    props = definition["containerProperties"]
    assert props["image"] == test_image
    assert props["command"] == ["sh", "-c", spec.command]
    assert {r["type"]: r["value"] for r in props["resourceRequirements"]} == {
        "VCPU": "2",
        "MEMORY": "256",
    }
    assert props["volumes"] == [
        {"name": "labcloud-files", "host": {"sourcePath": str(spec.files_dir.resolve())}}
    ]
    assert props["mountPoints"] == [
        {"sourceVolume": "labcloud-files", "containerPath": "/files", "readOnly": False}
    ]
    assert definition["timeout"] == {"attemptDurationSeconds": 600}
    assert definition["retryStrategy"] == {"attempts": 1}
    assert definition["status"] == "INACTIVE"  # deregistered by cleanup


def test_non_zero_exit_code_is_the_outcome(moto_endpoint, batch, queue, mount, test_image):
    runner = _runner(moto_endpoint, queue, mount)
    spec = _spec(mount, test_image, "echo failing; exit 3")
    outcome = run_to_completion(runner, spec, tick_s=0.5)
    assert outcome.exit_code == 3
    assert "failing" in outcome.log_tail


def test_same_spec_reuses_an_active_definition(moto_endpoint, batch, queue, mount, test_image):
    runner = _runner(moto_endpoint, queue, mount)
    spec = _spec(mount, test_image, "sleep 5", gpus=1)
    first, second = runner.start(spec), runner.start(spec)
    try:
        assert first.definition_arn == second.definition_arn
        assert (first.registered, second.registered) == (True, False)
        props = batch.describe_job_definitions(jobDefinitions=[first.definition_arn])[
            "jobDefinitions"
        ][0]["containerProperties"]
        assert {"type": "GPU", "value": "1"} in props["resourceRequirements"]
    finally:
        for run in (first, second):
            runner.kill(run)
            runner.cleanup(run)


def test_cancel_terminates_the_batch_job(moto_endpoint, batch, queue, mount, test_image):
    runner = _runner(moto_endpoint, queue, mount)
    spec = _spec(mount, test_image, "sleep 60")
    started: list[bool] = []
    outcome = run_to_completion(
        runner,
        spec,
        on_start=lambda: started.append(True),
        on_tick=lambda: not started,
        tick_s=0.5,
    )
    assert outcome.killed and outcome.exit_code is None
    jobs = batch.list_jobs(jobQueue=queue, jobStatus="FAILED")["jobSummaryList"]
    assert [j["jobName"] for j in jobs] == [f"lc-test-{spec.job_id}"]


def test_a_vanished_job_is_lost_not_failed(moto_endpoint, batch, queue, mount):
    runner = _runner(moto_endpoint, queue, mount)
    ghost = BatchRun(job_id=str(uuid.uuid4()), name="x", definition_arn="arn", registered=False)
    with pytest.raises(RunLost):
        runner.poll(ghost)


def test_an_image_that_cannot_start_is_a_cloud_error(moto_endpoint, batch, queue, mount):
    runner = _runner(moto_endpoint, queue, mount)
    spec = _spec(mount, "localhost/labcloud-no-such-image:missing", "true")
    with pytest.raises(CloudRunError):
        run_to_completion(runner, spec, tick_s=0.5)


def test_reap_terminates_the_runs_of_an_earlier_start(
    moto_endpoint, batch, queue, mount, test_image
):
    before = _runner(moto_endpoint, queue, mount, owner="lc-poller-a")
    other = _runner(moto_endpoint, queue, mount, owner="lc-poller-b")
    mine = before.start(
        _spec(mount, test_image, "sleep 60", job_id="7", env={"LABCLOUD_ATTEMPT": "3"})
    )
    theirs = other.start(_spec(mount, test_image, "sleep 60", job_id="8"))
    try:
        after = _runner(moto_endpoint, queue, mount, owner="lc-poller-a")
        assert after.reap() == [("7", 3)]
        stopped = batch.describe_jobs(jobs=[mine.job_id, theirs.job_id])["jobs"]
        reasons = {j["jobId"]: j.get("statusReason") for j in stopped}
        assert "orphaned" in (reasons[mine.job_id] or "")
        assert reasons[theirs.job_id] is None  # another poller's run is left alone
    finally:
        for runner, run in ((before, mine), (other, theirs)):
            runner.kill(run)
            runner.cleanup(run)
