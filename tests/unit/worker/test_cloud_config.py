"""The pieces of the cloud runners that need no service: the EFS volume, names,
settings and the CLOUD_POLLERS syntax."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.cloud import CloudSettings, make_cloud_runner
from worker.runners.aws import CloudRunError, EfsVolume, definition_name, run_name
from workerfacing_api.pollers.cloud import parse_pollers


def test_efs_volume_mounts_only_the_job_directory(tmp_path: Path):
    volume = EfsVolume(mount_dir=tmp_path, file_system_id="fs-12345678")
    job_dir = tmp_path / "worker-ab12" / "42"
    job_dir.mkdir(parents=True)
    assert volume.volume(job_dir) == {
        "name": "labcloud-files",
        "efsVolumeConfiguration": {
            "fileSystemId": "fs-12345678",
            "transitEncryption": "ENABLED",
            "rootDirectory": "/worker-ab12/42",
        },
    }
    assert volume.mount_point() == {
        "sourceVolume": "labcloud-files",
        "containerPath": "/files",
        "readOnly": False,
    }


def test_a_job_directory_off_the_efs_mount_is_refused(tmp_path: Path):
    volume = EfsVolume(mount_dir=tmp_path / "efs", file_system_id="fs-1")
    with pytest.raises(CloudRunError, match="not on the EFS mount"):
        volume.volume(tmp_path / "elsewhere")


def test_efs_mode_needs_a_file_system(tmp_path: Path):
    with pytest.raises(CloudRunError, match="EFS_FILE_SYSTEM_ID"):
        EfsVolume(mount_dir=tmp_path).volume(tmp_path)


def test_definition_names_are_stable_valid_and_differ_by_properties():
    a = definition_name("labcloud", "public.ecr.aws/x/decode:v0.10@sha", {"cpu": 1})
    assert a == definition_name("labcloud", "public.ecr.aws/x/decode:v0.10@sha", {"cpu": 1})
    assert a != definition_name("labcloud", "public.ecr.aws/x/decode:v0.10@sha", {"cpu": 2})
    assert a.startswith("labcloud-decode-v0-10-sha-")
    assert all(c.isalnum() or c in "-_" for c in a)


def test_run_names_are_safe_and_bounded():
    assert run_name("lc-host", "12", 3) == "lc-host-12-a3"
    assert run_name("lc-host", "a/b c", None) == "lc-host-a-b-c"
    assert len(run_name("x" * 200, "1", 1)) == 128


def test_cloud_runner_names_its_missing_setting(tmp_path: Path):
    with pytest.raises(ValueError, match="BATCH_JOB_QUEUE"):
        make_cloud_runner("batch", CloudSettings(efs_volume="host"), owner="o", mount_dir=tmp_path)
    with pytest.raises(ValueError, match="ECS_CLUSTER"):
        make_cloud_runner(
            "ecs", CloudSettings(efs_file_system_id="fs-1"), owner="o", mount_dir=tmp_path
        )
    with pytest.raises(ValueError, match="Fargate tasks cannot mount host paths"):
        make_cloud_runner(
            "ecs", CloudSettings(ecs_cluster="c", efs_volume="host"), owner="o", mount_dir=tmp_path
        )
    with pytest.raises(ValueError, match="EFS_FILE_SYSTEM_ID"):
        make_cloud_runner(
            "batch", CloudSettings(batch_job_queue="q"), owner="o", mount_dir=tmp_path
        )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("", []), ("batch", [("batch", 1)]), ("batch:4, ecs:2", [("batch", 4), ("ecs", 2)])],
)
def test_cloud_pollers_syntax(spec, expected):
    assert parse_pollers(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [("docker:2", "must be one of batch, ecs"), ("batch:0", "positive"), ("ecs:two", "positive")],
)
def test_bad_cloud_pollers_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_pollers(spec)


def test_through_an_access_point_job_directories_are_found_below_its_root(tmp_path: Path):
    volume = EfsVolume(mount_dir=tmp_path, file_system_id="fs-12345678", root="/labcloud")
    job_dir = tmp_path / "worker-ab12" / "42"
    job_dir.mkdir(parents=True)
    assert volume.root_directory(job_dir) == "/labcloud/worker-ab12/42"
    settings = CloudSettings(
        efs_file_system_id="fs-1", efs_root_directory="/labcloud/", batch_job_queue="q"
    )
    runner = make_cloud_runner(
        "batch", settings, owner="o", mount_dir=tmp_path, client=object(), logs_client=object()
    )
    assert runner.volume.root_directory(job_dir) == "/labcloud/worker-ab12/42"


class _RecordingBatch:
    """Just enough of a Batch client to see what a start registers and submits."""

    def __init__(self) -> None:
        self.registered: list[dict] = []

    def describe_job_definitions(self, **_kwargs: object) -> dict:
        return {"jobDefinitions": []}

    def register_job_definition(self, **kwargs: object) -> dict:
        self.registered.append(kwargs)
        return {"jobDefinitionArn": "arn:aws:batch:eu-central-1:1:job-definition/d:1"}

    def submit_job(self, **_kwargs: object) -> dict:
        return {"jobId": "j-1"}


def _batch_runner(tmp_path: Path, platform: str, client: _RecordingBatch):
    from worker.runners.batch import BatchRunner

    return BatchRunner(
        job_queue="q",
        volume=EfsVolume(mount_dir=tmp_path, file_system_id="fs-1"),
        owner="o",
        client=client,
        logs_client=object(),
        platform=platform,
        execution_role_arn="arn:aws:iam::1:role/exec",
    )


def test_a_fargate_batch_queue_gets_fargate_job_definitions(tmp_path: Path):
    from worker.runners.base import RunSpec

    client = _RecordingBatch()
    runner = _batch_runner(tmp_path, "FARGATE", client)
    runner.start(RunSpec(job_id="7", command="true", files_dir=tmp_path, image="busybox"))
    (registered,) = client.registered
    assert registered["platformCapabilities"] == ["FARGATE"]
    properties = registered["containerProperties"]
    assert properties["networkConfiguration"] == {"assignPublicIp": "DISABLED"}
    assert properties["fargatePlatformConfiguration"] == {"platformVersion": "LATEST"}
    assert properties["executionRoleArn"] == "arn:aws:iam::1:role/exec"
    with pytest.raises(CloudRunError, match="GPUs need an EC2"):
        runner.start(RunSpec(job_id="8", command="true", files_dir=tmp_path, image="b", gpus=1))


def test_an_ec2_batch_queue_keeps_ec2_job_definitions(tmp_path: Path):
    from worker.runners.base import RunSpec

    client = _RecordingBatch()
    runner = _batch_runner(tmp_path, "EC2", client)
    runner.start(RunSpec(job_id="7", command="true", files_dir=tmp_path, image="b", gpus=1))
    (registered,) = client.registered
    assert registered["platformCapabilities"] == ["EC2"]
    assert "networkConfiguration" not in registered["containerProperties"]
    resources = registered["containerProperties"]["resourceRequirements"]
    assert {"type": "GPU", "value": "1"} in resources


def test_batch_on_fargate_needs_an_execution_role(tmp_path: Path):
    settings = CloudSettings(
        efs_file_system_id="fs-1", batch_job_queue="q", batch_platform="FARGATE"
    )
    with pytest.raises(ValueError, match="EXECUTION_ROLE_ARN"):
        make_cloud_runner(
            "batch", settings, owner="o", mount_dir=tmp_path, logs_client=object(), client=object()
        )
