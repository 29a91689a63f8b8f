"""The settings the stack gives each service: every name is one the service reads, the
services accept them (the settings classes validate them as at start-up), secrets are
Secrets Manager references, and the job transport options work against SQS (moto)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from shared.transport.base import TransportMessage
from shared.transport.kombu import KombuConsumer, KombuTransport, probe_broker
from tests.deploy import cfn
from userfacing_api.settings import UserAPISettings
from worker.cloud import CloudSettings, make_cloud_runner
from worker.settings import WorkerSettings
from workerfacing_api.settings import WorkerAPISettings

SECRETS = ("INTERNAL_API_KEY_SECRET", "DATABASE_SECRET", "AUTH_TOKEN_SECRET")
#: Read by what runs around labcloud: boto3, uvicorn, and the Celery side (issue 17).
OTHERS = {"AWS_REGION", "FORWARDED_ALLOW_IPS", "BACKGROUND"}


def _names(*classes: type, prefix: str = "") -> set[str]:
    return {prefix + name.upper() for cls in classes for name in cls.model_fields}


KNOWN = (
    _names(UserAPISettings, WorkerAPISettings)
    | _names(WorkerSettings, CloudSettings, prefix="LABCLOUD_WORKER_")
    | OTHERS
)


def render(value: Any, refs: dict[str, str]) -> str:
    """A CloudFormation value as the deployed string: Refs (and GetAtts) from `refs`
    by construct-path fragment, pseudo parameters filled in."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(render(part, refs) for part in parts)
    logical = value.get("Ref") or value.get("Fn::GetAtt", [""])[0]
    pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    if logical in pseudo:
        return pseudo[logical]
    for fragment, rendered in refs.items():
        if fragment in logical:
            return rendered
    return f"value-of-{logical}"


def _container(template: dict, task_fragment: str, name: str) -> dict[str, Any]:
    return next(
        c for task, c in cfn.containers(template) if task_fragment in task and c["Name"] == name
    )


def test_every_variable_is_a_setting_and_secrets_are_references(templates) -> None:
    for variant, template in templates.items():
        secrets = set(cfn.resources(template, "AWS::SecretsManager::Secret")) | set(
            cfn.resources(template, "AWS::SecretsManager::SecretTargetAttachment")
        )
        for task, container in cfn.containers(template):
            env = cfn.environment(container)
            assert set(env) <= KNOWN, (variant, task, set(env) - KNOWN)
            for name in SECRETS:
                if name in env:
                    assert env[name].get("Ref") in secrets, (variant, task, name)
            for secret in container.get("Secrets", []):  # ECS injects these itself
                assert secret["ValueFrom"].get("Ref") in secrets


API_REFS = {"Secret": "a-value-of-at-least-forty-characters-0123456789"}


@pytest.mark.parametrize(
    ("task", "cls"), [("UserApiTask", UserAPISettings), ("WorkerApiTask", WorkerAPISettings)]
)
def test_the_apis_accept_their_settings(default, task, cls, monkeypatch) -> None:
    env = cfn.environment(_container(default, task, "api"))
    rendered = {name: render(value, API_REFS) for name, value in env.items()}
    assert rendered["DATABASE_URL"].startswith("postgresql://labcloud:{}@")
    for name, value in rendered.items():
        monkeypatch.setenv(name, value)
    settings = cls(_env_file=None)  # validates as at start-up
    assert settings.filesystem == "s3" and settings.broker_transport
    assert settings.cognito_configured and settings.metrics_require_api_key
    assert settings.job_transport_options["predefined_queues"]["labcloud-jobs"]["url"]


def test_the_pollers_accept_their_settings(templates, monkeypatch, tmp_path: Path) -> None:
    template = templates["labcloud-gpu-batch-ecs-sessions-scaled"]
    for runner in ("batch", "ecs"):
        env = cfn.environment(_container(template, f"{runner.title()}PollerTask", "poller"))
        for name, value in env.items():
            monkeypatch.setenv(name, render(value, {}))
        monkeypatch.setenv("LABCLOUD_WORKER_API_KEY", "injected-by-ecs-0123456789")
        monkeypatch.setenv("LABCLOUD_WORKER_SCRATCH_DIR", str(tmp_path))
        settings, cloud = WorkerSettings(_env_file=None), CloudSettings(_env_file=None)
        assert settings.container_runner == runner and settings.allowed_runners == ("docker",)
        assert cloud.efs_root_directory == "/labcloud"
        made = make_cloud_runner(
            runner, cloud, owner="o", mount_dir=tmp_path, client=object(), logs_client=object()
        )
        assert made.volume.root_directory(tmp_path / "worker-1" / "7") == "/labcloud/worker-1/7"
        if runner == "batch":
            assert made.platform == "EC2" and settings.gpu_count  # GPUs: EC2 instances
    cpu = templates["labcloud-cpu-batch"]
    env = cfn.environment(_container(cpu, "BatchPollerTask", "poller"))
    assert env["LABCLOUD_WORKER_BATCH_PLATFORM"] == "FARGATE"
    assert env["LABCLOUD_WORKER_GPU_COUNT"] == "0"


def test_the_transport_options_work_on_sqs(default, moto_endpoint, aws_env, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    sqs = boto3.client("sqs", region_name="us-east-1")
    urls = {
        "DataJobsDead": sqs.create_queue(QueueName="stack-jobs-dead")["QueueUrl"],
        "DataJobs": sqs.create_queue(QueueName="stack-jobs")["QueueUrl"],
    }
    env = cfn.environment(_container(default, "UserApiTask", "api"))
    options = json.loads(render(env["JOB_TRANSPORT_OPTIONS"], urls))
    options["is_secure"] = False  # moto speaks plain HTTP
    options["wait_time_seconds"] = 1  # an empty receive need not wait 10 s here
    queue = env["JOB_TRANSPORT_QUEUE"]
    assert probe_broker("sqs://", queue, transport_options=options) == 0
    sender = KombuTransport("sqs://", queue, transport_options=options)
    sender.send(TransportMessage("submit", 7, {"job": "spec"}))
    sender.close()
    got: list[TransportMessage] = []
    consumer = KombuConsumer("sqs://", queue, got.append, transport_options=options)
    try:
        assert consumer.run_once(5.0) == 1
    finally:
        consumer.close()
    assert got == [TransportMessage("submit", 7, {"job": "spec"})]
    assert (
        sqs.get_queue_attributes(
            QueueUrl=urls["DataJobs"], AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        == "0"
    )
