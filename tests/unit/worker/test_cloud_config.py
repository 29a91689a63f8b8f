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
