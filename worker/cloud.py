"""Settings and construction of the cloud runners (AWS Batch, ECS).

A worker becomes a cloud poller by running container jobs through ``batch`` or
``ecs`` instead of a local engine (``LABCLOUD_WORKER_CONTAINER_RUNNER``), with
its scratch dir on the EFS file system the tasks mount. The worker API's
in-process pollers (``CLOUD_POLLERS``) read the same variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.runners.aws import EfsVolume

CLOUD_RUNNERS = ("batch", "ecs")


class CloudSettings(BaseSettings):
    """`LABCLOUD_WORKER_<NAME>` variables of the cloud runners. AWS credentials and
    endpoints come from boto3's own variables (AWS_REGION, AWS_ENDPOINT_URL, …)."""

    model_config = SettingsConfigDict(
        env_prefix="LABCLOUD_WORKER_", env_file=".env", extra="ignore", case_sensitive=False
    )

    aws_region: str | None = Field(
        default=None, description="AWS region of Batch/ECS/CloudWatch; default: boto3's."
    )
    batch_job_queue: str | None = Field(
        default=None, description="AWS Batch job queue (name or ARN) of the batch runner."
    )
    ecs_cluster: str | None = Field(default=None, description="ECS cluster of the ecs runner.")
    ecs_launch_type: Literal["FARGATE", "EC2"] = Field(
        default="FARGATE", description="ECS launch type."
    )
    ecs_subnets: str = Field(default="", description="Comma-separated subnets of ECS tasks.")
    ecs_security_groups: str = Field(
        default="", description="Comma-separated security groups of ECS tasks."
    )
    ecs_assign_public_ip: bool = Field(
        default=False, description="Give ECS tasks a public IP (to pull images without NAT)."
    )
    efs_file_system_id: str | None = Field(
        default=None,
        description="EFS file system holding the job directories; the worker's SCRATCH_DIR "
        "must be where it is mounted on the poller.",
    )
    efs_root_directory: str = Field(
        default="/",
        description="Where SCRATCH_DIR is inside the EFS file system: `/` when the poller "
        "mounts the file system's root, the access point's root directory when it mounts "
        "one (the tasks mount their job directories by this path).",
    )
    batch_platform: Literal["EC2", "FARGATE"] = Field(
        default="EC2",
        description="What the Batch job queue's compute environments are: EC2 (GPUs "
        "possible) or FARGATE (job definitions get Fargate's platform and network "
        "settings; EXECUTION_ROLE_ARN is required).",
    )
    efs_volume: Literal["efs", "host"] = Field(
        default="efs",
        description="`host` mounts the job directory as a host path instead (an emulator "
        "running tasks on this machine, or instances mounting EFS themselves).",
    )
    job_role_arn: str | None = Field(default=None, description="IAM role the job's code runs as.")
    execution_role_arn: str | None = Field(
        default=None, description="IAM role that pulls the image and writes the logs."
    )
    log_group: str | None = Field(
        default=None,
        description="CloudWatch log group of the runs; default /aws/batch/job (Batch), "
        "/labcloud/ecs (ECS).",
    )
    definition_prefix: str = Field(
        default="labcloud", description="Prefix of the job/task definitions labcloud registers."
    )


def make_cloud_runner(
    kind: str, settings: CloudSettings, *, owner: str, mount_dir: Path, **clients: Any
) -> Any:
    """The ``batch`` or ``ecs`` runner; ``owner`` tags its runs, ``mount_dir`` is the EFS mount.

    Raises ``ValueError`` naming the missing setting.
    """
    volume = EfsVolume(
        mount_dir=mount_dir,
        file_system_id=settings.efs_file_system_id,
        mode=settings.efs_volume,
        root=settings.efs_root_directory,
    )
    if settings.efs_volume == "efs" and not settings.efs_file_system_id:
        raise ValueError("set LABCLOUD_WORKER_EFS_FILE_SYSTEM_ID (or EFS_VOLUME=host)")
    common: dict[str, Any] = {
        "volume": volume,
        "owner": owner,
        "region": settings.aws_region,
        "definition_prefix": settings.definition_prefix,
        "execution_role_arn": settings.execution_role_arn,
        "log_group": settings.log_group,
        **clients,
    }
    if kind == "batch":
        if not settings.batch_job_queue:
            raise ValueError("set LABCLOUD_WORKER_BATCH_JOB_QUEUE for the batch runner")
        from worker.runners.batch import BatchRunner

        return BatchRunner(
            job_queue=settings.batch_job_queue,
            job_role_arn=settings.job_role_arn,
            platform=settings.batch_platform,
            **common,
        )
    if kind == "ecs":
        if not settings.ecs_cluster:
            raise ValueError("set LABCLOUD_WORKER_ECS_CLUSTER for the ecs runner")
        if settings.efs_volume == "host" and settings.ecs_launch_type == "FARGATE":
            raise ValueError("Fargate tasks cannot mount host paths: use EFS_VOLUME=efs or EC2")
        from worker.runners.ecs import EcsRunner

        return EcsRunner(
            cluster=settings.ecs_cluster,
            launch_type=settings.ecs_launch_type,
            subnets=_split(settings.ecs_subnets),
            security_groups=_split(settings.ecs_security_groups),
            assign_public_ip=settings.ecs_assign_public_ip,
            task_role_arn=settings.job_role_arn,
            **common,
        )
    raise ValueError(f"unknown cloud runner {kind!r}; known: {', '.join(CLOUD_RUNNERS)}")


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())
