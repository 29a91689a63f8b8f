"""An AWS Batch job queue on moto's server whose jobs really run, in Podman.

moto's Batch starts each job's container through the Docker API of DOCKER_HOST
(Podman here) in the moto server's process, with the job definition's host-path
volumes; it needs host networking (no CNI set-up for its containers).
"""

from __future__ import annotations

import uuid

import boto3
import pytest

REGION = "us-east-1"


def create_batch_queue(endpoint: str) -> str:
    """Create an unmanaged compute environment and a job queue on moto; the queue's name."""
    kw = {"endpoint_url": endpoint, "region_name": REGION}
    suffix = uuid.uuid4().hex[:8]
    role = boto3.client("iam", **kw).create_role(
        RoleName=f"labcloud-batch-{suffix}", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    batch = boto3.client("batch", **kw)
    env = batch.create_compute_environment(
        computeEnvironmentName=f"labcloud-ce-{suffix}",
        type="UNMANAGED",
        state="ENABLED",
        serviceRole=role,
    )["computeEnvironmentArn"]
    name = f"labcloud-queue-{suffix}"
    batch.create_job_queue(
        jobQueueName=name,
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env}],
    )
    return name


def run_batch_containers_in_podman(monkeypatch: pytest.MonkeyPatch, docker_host: str) -> None:
    """Make the in-process moto server run Batch containers in Podman."""
    monkeypatch.setenv("DOCKER_HOST", docker_host)
    monkeypatch.setenv("MOTO_DOCKER_NETWORK_MODE", "host")
