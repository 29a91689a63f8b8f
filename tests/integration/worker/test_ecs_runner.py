"""EcsRunner: task definitions against moto's ECS, tasks through botocore's Stubber.

moto 5.2 cannot run our tasks: its RunTask crashes (HTTP 500) for a definition
that sets memory only at task level, and for any ``awsvpc`` task (it reads an
ENI attribute it never sets). Its tasks never change state either. So the task
calls — RunTask, DescribeTasks, StopTask, ListTasks — go to a real boto3 ECS
client whose answers a Stubber scripts, with the requests asserted exactly;
registration runs against moto's ECS, and the logs are read from moto's
CloudWatch Logs.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from worker.runners.aws import CloudRunError, EfsVolume, RunLost, definition_name
from worker.runners.base import RunSpec, run_to_completion
from worker.runners.ecs import DEFAULT_LOG_GROUP, EcsRunner

REGION = "eu-central-1"
ACCOUNT = "123456789012"
CLUSTER = "labcloud-test"
OWNER = "worker-ecs-test"
SUBNETS = ("subnet-0aaa", "subnet-0bbb")
SECURITY_GROUPS = ("sg-0ccc",)
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/labcloud-ecs-execution"
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/labcloud-job"


@pytest.fixture
def volume(tmp_path: Path) -> EfsVolume:
    return EfsVolume(mount_dir=tmp_path / "efs", file_system_id="fs-0123456789abcdef0")


@pytest.fixture
def make_spec(volume: EfsVolume):
    def make(command: str = "echo hello", **kwargs: Any) -> RunSpec:
        job_id = kwargs.pop("job_id", f"job-{uuid.uuid4().hex[:12]}")
        files_dir = volume.mount_dir / "worker-1" / job_id
        files_dir.mkdir(parents=True)
        kwargs.setdefault("image", "ghcr.io/lab/decode:1.2")
        return RunSpec(job_id=job_id, command=command, files_dir=files_dir, **kwargs)

    return make


@pytest.fixture
def logs(moto_endpoint: str, aws_env: None) -> Any:
    return boto3.client("logs", region_name=REGION, endpoint_url=moto_endpoint)


@pytest.fixture
def make_runner(volume: EfsVolume, logs: Any):
    def make(client: Any, **kwargs: Any) -> EcsRunner:
        kwargs.setdefault("volume", volume)
        kwargs.setdefault("subnets", SUBNETS)
        kwargs.setdefault("security_groups", SECURITY_GROUPS)
        return EcsRunner(cluster=CLUSTER, owner=OWNER, client=client, logs_client=logs, **kwargs)

    return make


# --- registration, against moto's ECS ---------------------------------------------------


class _MotoWithoutRunTask:
    """moto's ECS client, except RunTask (which moto cannot serve): that one is recorded."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.run_task_calls: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        self.run_task_calls.append(kwargs)
        arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{uuid.uuid4().hex}"
        return {"tasks": [{"taskArn": arn, "lastStatus": "PROVISIONING"}], "failures": []}


@pytest.fixture
def moto_ecs(moto_endpoint: str, aws_env: None) -> Iterator[Any]:
    ecs = boto3.client("ecs", region_name=REGION, endpoint_url=moto_endpoint)
    ecs.create_cluster(clusterName=CLUSTER)
    yield ecs


def test_registers_the_task_definition_from_the_spec(moto_ecs, make_runner, make_spec, logs):
    client = _MotoWithoutRunTask(moto_ecs)
    runner = make_runner(
        client, launch_type="EC2", execution_role_arn=EXECUTION_ROLE, task_role_arn=TASK_ROLE
    )
    spec = make_spec("python run.py > out.txt", cpu_cores=2, memory_mb=4096, gpus=1)

    handle = runner.start(spec)

    assert handle.registered
    assert client.run_task_calls[0]["taskDefinition"] == handle.definition_arn
    definition = moto_ecs.describe_task_definition(taskDefinition=handle.definition_arn)[
        "taskDefinition"
    ]
    assert definition["family"].startswith("labcloud-decode-1-2-")
    assert definition["cpu"] == "2048" and definition["memory"] == "4096"
    assert definition["networkMode"] == "awsvpc"
    assert definition["requiresCompatibilities"] == ["EC2"]
    assert definition["executionRoleArn"] == EXECUTION_ROLE
    assert definition["taskRoleArn"] == TASK_ROLE
    (container,) = definition["containerDefinitions"]
    assert container["name"] == "job" and container["essential"] is True
    assert container["image"] == "ghcr.io/lab/decode:1.2"
    assert container["command"] == ["sh", "-c", "python run.py > out.txt"]
    assert container["resourceRequirements"] == [{"type": "GPU", "value": "1"}]
    assert container["mountPoints"] == [
        {"sourceVolume": "labcloud-files", "containerPath": "/files", "readOnly": False}
    ]
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": DEFAULT_LOG_GROUP,
            "awslogs-region": REGION,
            "awslogs-stream-prefix": "labcloud",
        },
    }
    assert definition["volumes"] == [
        {
            "name": "labcloud-files",
            "efsVolumeConfiguration": {
                "fileSystemId": "fs-0123456789abcdef0",
                "rootDirectory": f"/worker-1/{spec.job_id}",
                "transitEncryption": "ENABLED",
            },
        }
    ]
    # awslogs does not create its group: the runner did, or the task could not start.
    groups = logs.describe_log_groups(logGroupNamePrefix=DEFAULT_LOG_GROUP)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [DEFAULT_LOG_GROUP]


def test_same_spec_reuses_the_definition_and_cleanup_deregisters_it(
    moto_ecs, make_runner, make_spec
):
    client = _MotoWithoutRunTask(moto_ecs)
    runner = make_runner(client, execution_role_arn=EXECUTION_ROLE)
    spec = make_spec()

    first = runner.start(spec)
    second = runner.start(spec)

    assert first.registered and not second.registered
    assert second.definition_arn == first.definition_arn
    family = first.definition_arn.rsplit("/", 1)[-1].split(":")[0]
    assert moto_ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"] == [
        first.definition_arn
    ]
    assert [c["launchType"] for c in client.run_task_calls] == ["FARGATE", "FARGATE"]

    runner.cleanup(second)  # reused: not ours to deregister
    runner.cleanup(first)
    runner.cleanup(first)  # idempotent
    described = moto_ecs.describe_task_definition(taskDefinition=first.definition_arn)
    assert described["taskDefinition"]["status"] == "INACTIVE"

    third = runner.start(spec)  # the family's only revision is inactive: a new one
    assert third.registered and third.definition_arn.endswith(":2")


def test_another_spec_gets_another_definition(moto_ecs, make_runner, make_spec):
    runner = make_runner(_MotoWithoutRunTask(moto_ecs))
    spec = make_spec()
    bigger = dataclasses.replace(spec, memory_mb=8192)
    assert runner.start(spec).definition_arn != runner.start(bigger).definition_arn


def test_host_volume_mode(moto_ecs, make_runner, make_spec, tmp_path):
    volume = EfsVolume(mount_dir=tmp_path / "efs", mode="host")
    runner = make_runner(_MotoWithoutRunTask(moto_ecs), launch_type="EC2", volume=volume)
    spec = make_spec()
    handle = runner.start(spec)
    definition = moto_ecs.describe_task_definition(taskDefinition=handle.definition_arn)
    assert definition["taskDefinition"]["volumes"] == [
        {"name": "labcloud-files", "host": {"sourcePath": str(spec.files_dir.resolve())}}
    ]


# --- tasks, through a Stubber ---------------------------------------------------------


@pytest.fixture
def ecs(aws_env: None) -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("ecs", region_name=REGION)
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def _task_arn() -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{uuid.uuid4().hex}"


def _task(arn: str, status: str, **container: Any) -> dict[str, Any]:
    extra = {k: container.pop(k) for k in ("stoppedReason", "stopCode") if k in container}
    return {
        "taskArn": arn,
        "lastStatus": status,
        "desiredStatus": "STOPPED" if status == "STOPPED" else "RUNNING",
        "containers": [{"name": "job", "lastStatus": status, **container}],
        **extra,
    }


def _expect_definition(stub: Stubber, runner: EcsRunner, spec: RunSpec) -> str:
    """Script DescribeTaskDefinition to answer a matching ACTIVE definition; its ARN.

    Like AWS, the answer holds defaults nobody asked for: they do not prevent reuse.
    """
    wanted = runner.task_definition(spec)
    family = definition_name("labcloud", spec.image or "", wanted)
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:1"
    (container,) = wanted["containerDefinitions"]
    defaults = {"cpu": 0, "portMappings": [], "environment": [], "volumesFrom": []}
    answer = {
        **wanted,
        "taskDefinitionArn": arn,
        "family": family,
        "revision": 1,
        "status": "ACTIVE",
        "containerDefinitions": [{**container, **defaults}],
        "compatibilities": ["EC2", "FARGATE"],
    }
    stub.add_response(
        "describe_task_definition", {"taskDefinition": answer}, {"taskDefinition": family}
    )
    return arn


def _run_params(spec: RunSpec, definition_arn: str) -> dict[str, Any]:
    """RunTask's request for ``spec`` (with ENV) on the FARGATE test runner."""
    return {
        "cluster": CLUSTER,
        "taskDefinition": definition_arn,
        "launchType": "FARGATE",
        "count": 1,
        "startedBy": OWNER,
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": list(SUBNETS),
                "securityGroups": list(SECURITY_GROUPS),
                "assignPublicIp": "DISABLED",
            }
        },
        "overrides": {
            "containerOverrides": [
                {
                    "name": "job",
                    "environment": [
                        {"name": "LABCLOUD_ATTEMPT", "value": "2"},
                        {"name": "PARAM", "value": "a b"},
                    ],
                }
            ]
        },
        "tags": [
            {"key": "labcloud-owner", "value": OWNER},
            {"key": "labcloud-job", "value": spec.job_id},
            {"key": "labcloud-attempt", "value": "2"},
        ],
    }


def _expect_run(stub: Stubber, spec: RunSpec, definition_arn: str, task_arn: str) -> None:
    answer = {"tasks": [_task(task_arn, "PROVISIONING")], "failures": []}
    stub.add_response("run_task", answer, _run_params(spec, definition_arn))


def _expect_describe(stub: Stubber, task_arn: str, status: str, **container: Any) -> None:
    stub.add_response(
        "describe_tasks",
        {"tasks": [_task(task_arn, status, **container)], "failures": []},
        {"cluster": CLUSTER, "tasks": [task_arn]},
    )


def _put_log(logs: Any, stream: str, *lines: str) -> None:
    try:
        logs.create_log_group(logGroupName=DEFAULT_LOG_GROUP)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.create_log_stream(logGroupName=DEFAULT_LOG_GROUP, logStreamName=stream)
    now_ms = int(time.time() * 1000)  # CloudWatch drops events older than 14 days
    events = [{"timestamp": now_ms + i, "message": m} for i, m in enumerate(lines)]
    logs.put_log_events(logGroupName=DEFAULT_LOG_GROUP, logStreamName=stream, logEvents=events)


ENV = {"PARAM": "a b", "LABCLOUD_ATTEMPT": "2"}


@pytest.mark.parametrize("exit_code", [0, 3])
def test_pending_running_stopped_through_run_to_completion(
    ecs, make_runner, make_spec, logs, exit_code
):
    client, stub = ecs
    runner = make_runner(client)
    spec = make_spec(env=ENV)
    task_arn = _task_arn()
    definition_arn = _expect_definition(stub, runner, spec)
    _expect_run(stub, spec, definition_arn, task_arn)
    _expect_describe(stub, task_arn, "PENDING")
    _expect_describe(stub, task_arn, "RUNNING")
    _expect_describe(stub, task_arn, "STOPPED", exitCode=exit_code)
    _put_log(logs, f"labcloud/job/{task_arn.rsplit('/', 1)[-1]}", "hello", f"exit {exit_code}")

    events: list[str] = []
    client.meta.events.register(
        "after-call.ecs.DescribeTasks",
        lambda parsed, **_: events.append(parsed["tasks"][0]["lastStatus"]),
    )
    outcome = run_to_completion(
        runner, spec, on_start=lambda: events.append("on_start"), tick_s=0.02
    )

    assert events == ["PENDING", "RUNNING", "on_start", "STOPPED"]
    assert outcome.exit_code == exit_code
    assert not outcome.killed and not outcome.timed_out
    assert outcome.log == f"hello\nexit {exit_code}\n"


def test_stopped_without_exit_code_is_a_cloud_error_with_the_reason(ecs, make_runner, make_spec):
    client, stub = ecs
    runner = make_runner(client)
    spec = make_spec(env=ENV)
    task_arn = _task_arn()
    _expect_run(stub, spec, _expect_definition(stub, runner, spec), task_arn)
    _expect_describe(
        stub,
        task_arn,
        "STOPPED",
        stopCode="TaskFailedToStart",
        stoppedReason="CannotPullContainerError: pull image manifest has been retried 5 time(s)",
        reason="CannotPullContainerError: ghcr.io/lab/decode:1.2: not found",
    )

    with pytest.raises(
        CloudRunError, match="CannotPullContainerError: pull image manifest"
    ) as info:
        run_to_completion(runner, spec, tick_s=0.02)  # kill after: nothing to stop
    assert not isinstance(info.value, RunLost)
    assert "ghcr.io/lab/decode:1.2: not found" in str(info.value)


def test_missing_task_is_lost(ecs, make_runner, make_spec):
    client, stub = ecs
    runner = make_runner(client)
    spec = make_spec(env=ENV)
    task_arn = _task_arn()
    _expect_run(stub, spec, _expect_definition(stub, runner, spec), task_arn)
    stub.add_response(
        "describe_tasks",
        {"tasks": [], "failures": [{"arn": task_arn, "reason": "MISSING"}]},
        {"cluster": CLUSTER, "tasks": [task_arn]},
    )

    handle = runner.start(spec)
    with pytest.raises(RunLost, match="MISSING"):
        runner.poll(handle)
    runner.kill(handle)  # a lost task is not stopped again


def test_run_task_failure_is_a_cloud_error_and_deregisters(ecs, make_runner, make_spec):
    client, stub = ecs
    runner = make_runner(client)
    spec = make_spec(env=ENV)
    wanted = runner.task_definition(spec)
    family = definition_name("labcloud", spec.image or "", wanted)
    definition_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:1"
    stub.add_client_error(
        "describe_task_definition",
        service_error_code="ClientException",
        service_message="Unable to describe task definition.",
        expected_params={"taskDefinition": family},
    )
    stub.add_response(
        "register_task_definition",
        {"taskDefinition": {"taskDefinitionArn": definition_arn, "family": family}},
        {"family": family, "tags": [{"key": "labcloud-owner", "value": OWNER}], **wanted},
    )
    stub.add_response(
        "run_task",
        {"tasks": [], "failures": [{"reason": "RESOURCE:MEMORY", "detail": "no capacity"}]},
        _run_params(spec, definition_arn),
    )
    stub.add_response("deregister_task_definition", {}, {"taskDefinition": definition_arn})

    with pytest.raises(CloudRunError, match="RESOURCE:MEMORY: no capacity"):
        runner.start(spec)


def test_kill_stops_the_task_and_waits_for_it(ecs, make_runner, make_spec):
    client, stub = ecs
    runner = make_runner(client)
    spec = make_spec(env=ENV)
    task_arn = _task_arn()
    _expect_run(stub, spec, _expect_definition(stub, runner, spec), task_arn)
    _expect_describe(stub, task_arn, "RUNNING")
    stub.add_response(
        "stop_task",
        {"task": _task(task_arn, "RUNNING")},
        {"cluster": CLUSTER, "task": task_arn, "reason": "stopped by labcloud"},
    )
    _expect_describe(stub, task_arn, "STOPPED", exitCode=137, reason="Task stopped by user")

    handle = runner.start(spec)
    assert runner.poll(handle) is None and runner.started(handle)
    runner.kill(handle)
    assert handle.status == "STOPPED"
    assert "ECS stopped" not in runner.logs(handle)  # we stopped it: no news
    runner.kill(handle)  # already stopped: no second StopTask


def test_kill_of_an_unknown_task_does_not_raise(ecs, make_runner, make_spec):
    client, stub = ecs
    runner = make_runner(client)
    spec = make_spec(env=ENV)
    task_arn = _task_arn()
    _expect_run(stub, spec, _expect_definition(stub, runner, spec), task_arn)
    stub.add_client_error(
        "stop_task",
        service_error_code="InvalidParameterException",
        service_message="The referenced task was not found.",
        expected_params={"cluster": CLUSTER, "task": task_arn, "reason": "stopped by labcloud"},
    )
    runner.kill(runner.start(spec))


def test_out_of_memory_reason_is_appended_to_the_log(ecs, make_runner, make_spec, logs):
    client, stub = ecs
    runner = make_runner(client)
    spec = make_spec(env=ENV)
    task_arn = _task_arn()
    _expect_run(stub, spec, _expect_definition(stub, runner, spec), task_arn)
    _expect_describe(
        stub,
        task_arn,
        "STOPPED",
        exitCode=137,
        reason="OutOfMemoryError: Container killed due to memory usage",
    )
    _put_log(logs, f"labcloud/job/{task_arn.rsplit('/', 1)[-1]}", "allocating")

    outcome = run_to_completion(runner, spec, tick_s=0.02)
    assert outcome.exit_code == 137
    assert outcome.log.startswith("allocating\n")
    assert "OutOfMemoryError: Container killed due to memory usage" in outcome.log_tail


def test_logs_of_a_task_without_a_stream_are_empty(ecs, make_runner, make_spec):
    client, stub = ecs
    runner = make_runner(client)
    spec = make_spec(env=ENV)
    task_arn = _task_arn()
    _expect_run(stub, spec, _expect_definition(stub, runner, spec), task_arn)
    handle = runner.start(spec)
    assert runner.logs(handle) == "" and runner.logs(handle, tail_chars=None) == ""


def test_refuses_what_ecs_cannot_run_before_calling_it(ecs, make_runner, make_spec):
    client, _ = ecs
    with pytest.raises(CloudRunError, match="Fargate has no GPUs"):
        make_runner(client).start(make_spec(gpus=1))
    with pytest.raises(CloudRunError, match="no subnets"):
        make_runner(client, subnets=()).start(make_spec())
    with pytest.raises(CloudRunError, match="no container image"):
        make_runner(client).start(make_spec(image=None))


def test_started_by_fits_ecs_limits(ecs, volume, logs):
    client, _ = ecs
    owner = "poller@" + "very-long-hostname.example.org" * 2
    runner = EcsRunner(cluster=CLUSTER, volume=volume, owner=owner, client=client, logs_client=logs)
    assert runner.started_by == "poller-very-long-hostname-example-or"  # 36 characters


def test_reap_stops_the_owners_tasks(ecs, make_runner):
    client, stub = ecs
    runner = make_runner(client)
    ours, retried, foreign, ending = (_task_arn() for _ in range(4))

    def tagged(arn: str, owner: str, job: str, attempt: str | None, status="RUNNING"):
        tags = [{"key": "labcloud-owner", "value": owner}, {"key": "labcloud-job", "value": job}]
        if attempt is not None:
            tags.append({"key": "labcloud-attempt", "value": attempt})
        return {**_task(arn, status), "tags": tags}

    stub.add_response(
        "list_tasks",
        {"taskArns": [ours, retried], "nextToken": "page-2"},
        {"cluster": CLUSTER, "startedBy": OWNER},
    )
    stub.add_response(
        "list_tasks",
        {"taskArns": [foreign, ending]},
        {"cluster": CLUSTER, "startedBy": OWNER, "nextToken": "page-2"},
    )
    stub.add_response(
        "describe_tasks",
        {
            "tasks": [
                tagged(ours, OWNER, "job-a", "0", status="PENDING"),
                tagged(retried, OWNER, "job-b", "3"),
                tagged(foreign, OWNER + "-2", "job-c", "1"),  # shares our startedBy prefix
                {**tagged(ending, OWNER, "job-d", "1"), "desiredStatus": "STOPPED"},
            ],
            "failures": [],
        },
        {"cluster": CLUSTER, "tasks": [ours, retried, foreign, ending], "include": ["TAGS"]},
    )
    for arn in (ours, retried):
        stub.add_response(
            "stop_task",
            {"task": _task(arn, "RUNNING")},
            {"cluster": CLUSTER, "task": arn, "reason": "orphaned: its labcloud poller restarted"},
        )

    assert runner.reap() == [("job-a", None), ("job-b", 3)]


def test_reap_with_nothing_left_behind(ecs, make_runner):
    client, stub = ecs
    stub.add_response("list_tasks", {"taskArns": []}, {"cluster": CLUSTER, "startedBy": OWNER})
    assert make_runner(client).reap() == []
