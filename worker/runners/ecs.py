"""Amazon ECS runner: each run is one ECS task (Fargate or EC2) whose job directory is on EFS.

``start`` registers (or reuses) a task definition derived from the entrypoint —
image, ``sh -c`` of the command, vCPUs and memory of the task, GPUs of the
container (EC2 only), the EFS volume with the job's directory mounted at
``/files``, an awslogs log configuration — and runs it in ``awsvpc`` mode with
the job's variables as container overrides. ``poll`` follows it with
DescribeTasks; ECS's ``lastStatus`` maps onto the runner's states:
PROVISIONING, PENDING, ACTIVATING = not started yet (the job stays
``preprocessing``); RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING = started;
STOPPED = exited with the ``job`` container's exit code, or, without one (the
image could not be pulled, no capacity, the task was stopped before it ran), a
:class:`CloudRunError` carrying ECS's ``stoppedReason``. A task ECS no longer
knows (``MISSING``) is :class:`RunLost`. ECS has no per-task timeout:
:func:`run_to_completion` enforces ``timeout_s`` by calling ``kill``. The log
is the CloudWatch stream ``<prefix>/job/<task id>``. ``kill`` is StopTask;
``cleanup`` deregisters a definition this run registered.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from worker.runners.aws import (
    ATTEMPT_TAG,
    JOB_TAG,
    OWNER_TAG,
    CloudRunError,
    CloudWatchLogs,
    EfsVolume,
    RunLost,
    definition_name,
    env_list,
    wait_until_stopped,
)
from worker.runners.base import LOG_TAIL_CHARS, MAX_LOG_BYTES, Capability, RunSpec

log = logging.getLogger(__name__)

#: The one container of every task definition (log streams and overrides name it).
CONTAINER_NAME = "job"
DEFAULT_LOG_GROUP = "/labcloud/ecs"
_NOT_STARTED = frozenset({"PROVISIONING", "PENDING", "ACTIVATING"})
_STOPPED = frozenset({"STOPPED", "DELETED"})
_MISSING = "MISSING"  # our status for a task ECS no longer knows
#: ECS accepts at most 36 characters of letters, digits, '-', '_' and '/' in startedBy.
_STARTED_BY_MAX = 36
_STARTED_BY_UNSAFE = re.compile(r"[^A-Za-z0-9/_-]+")
_DESCRIBE_BATCH = 100  # DescribeTasks takes at most 100 tasks


@dataclass
class EcsRun:
    """One ECS task, as the runner follows it."""

    task_arn: str
    definition_arn: str
    registered: bool  # this run registered the definition (cleanup deregisters it)
    log_stream: str
    status: str = "PROVISIONING"  # ECS's lastStatus, or MISSING
    exit_code: int | None = None
    reason: str | None = None  # why ECS stopped the container (e.g. OutOfMemoryError)
    killed: bool = False  # we stopped it, so its reason is no news to the user


class EcsRunner:
    """Runs jobs as ECS tasks on ``cluster``; see the module docstring."""

    capabilities = frozenset({Capability.QUEUES, Capability.REAPS})

    def __init__(
        self,
        *,
        cluster: str,
        volume: EfsVolume,
        owner: str,
        client: Any = None,
        logs_client: Any = None,
        region: str | None = None,
        launch_type: str = "FARGATE",
        subnets: tuple[str, ...] | list[str] = (),
        security_groups: tuple[str, ...] | list[str] = (),
        assign_public_ip: bool = False,
        definition_prefix: str = "labcloud",
        task_role_arn: str | None = None,
        execution_role_arn: str | None = None,
        log_group: str | None = None,
        log_stream_prefix: str = "labcloud",
        default_vcpus: int = 1,
        default_memory_mb: int = 2048,
    ) -> None:
        import boto3  # only cloud pollers need it

        self.cluster, self.volume, self.owner = cluster, volume, owner
        self.launch_type = launch_type
        #: What the tasks are started by: the owner, as far as ECS allows (reap filters on it).
        self.started_by = _STARTED_BY_UNSAFE.sub("-", owner)[:_STARTED_BY_MAX]
        self._ecs = client or boto3.client("ecs", region_name=region)
        self._logs_client = logs_client or boto3.client("logs", region_name=region)
        self._log_group = log_group or DEFAULT_LOG_GROUP
        self._logs = CloudWatchLogs(self._logs_client, self._log_group)
        self._log_group_checked = False
        # The awslogs driver needs the region; the client's is the one the tasks run in.
        self._region = region or self._ecs.meta.region_name
        self._stream_prefix = log_stream_prefix
        self._network = {
            "subnets": list(subnets),
            "securityGroups": list(security_groups),
            "assignPublicIp": "ENABLED" if assign_public_ip else "DISABLED",
        }
        self._prefix = definition_prefix
        self._roles = {"taskRoleArn": task_role_arn, "executionRoleArn": execution_role_arn}
        self._default_vcpus, self._default_memory_mb = default_vcpus, default_memory_mb

    # --- the Runner protocol -------------------------------------------------------

    def start(self, spec: RunSpec) -> EcsRun:
        if not spec.image:
            raise CloudRunError("the entrypoint names no container image")
        if spec.gpus and self.launch_type == "FARGATE":
            raise CloudRunError("Fargate has no GPUs: run GPU jobs with the EC2 launch type")
        if not self._network["subnets"]:
            raise CloudRunError("no subnets configured for ECS tasks (LABCLOUD_WORKER_ECS_SUBNETS)")
        self._ensure_log_group()
        arn, registered = self._definition(spec.image, spec)
        attempt = spec.env.get("LABCLOUD_ATTEMPT")
        try:
            answer = self._ecs.run_task(
                cluster=self.cluster,
                taskDefinition=arn,
                launchType=self.launch_type,
                count=1,
                startedBy=self.started_by,
                networkConfiguration={"awsvpcConfiguration": self._network},
                overrides={
                    "containerOverrides": [
                        {"name": CONTAINER_NAME, "environment": env_list(spec.env)}
                    ]
                },
                tags=_tag_list(
                    {OWNER_TAG: self.owner, JOB_TAG: spec.job_id, ATTEMPT_TAG: attempt or "0"}
                ),
            )
        except Exception:
            if registered:
                self._deregister(arn)
            raise
        tasks = answer.get("tasks") or []
        if not tasks:
            if registered:
                self._deregister(arn)
            raise CloudRunError(f"ECS did not start job {spec.job_id}: {_failures(answer)}")
        task = tasks[0]
        task_id = task["taskArn"].rsplit("/", 1)[-1]
        log.info("job %s: started as ECS task %s (%s)", spec.job_id, task_id, arn)
        return EcsRun(
            task_arn=task["taskArn"],
            definition_arn=arn,
            registered=registered,
            log_stream=f"{self._stream_prefix}/{CONTAINER_NAME}/{task_id}",
            status=task.get("lastStatus") or "PROVISIONING",
        )

    def poll(self, handle: EcsRun) -> int | None:
        answer = self._ecs.describe_tasks(cluster=self.cluster, tasks=[handle.task_arn])
        tasks = answer.get("tasks") or []
        if not tasks:
            handle.status = _MISSING
            raise RunLost(f"ECS no longer knows task {handle.task_arn}: {_failures(answer)}")
        task = tasks[0]
        handle.status = task.get("lastStatus") or handle.status
        if handle.status not in _STOPPED:
            return None
        container = next(
            (c for c in task.get("containers", []) if c.get("name") == CONTAINER_NAME), {}
        )
        handle.reason = container.get("reason")
        code = container.get("exitCode")
        if code is None:
            # Never ran: no image, no capacity, no ENI; or stopped before it started.
            why = task.get("stoppedReason") or "no reason given"
            if handle.reason and handle.reason not in why:
                why = f"{why} ({handle.reason})"
            raise CloudRunError(f"ECS task {handle.task_arn} stopped without an exit code: {why}")
        handle.exit_code = int(code)
        return handle.exit_code

    def started(self, handle: EcsRun) -> bool:
        return handle.status not in _NOT_STARTED

    def logs(self, handle: EcsRun, tail_chars: int | None = LOG_TAIL_CHARS) -> str:
        """Return the log tail (or bounded whole), plus why ECS stopped the container."""
        text = self._logs.read(handle.log_stream, tail_chars or MAX_LOG_BYTES)
        if handle.reason and not handle.killed:
            # e.g. "OutOfMemoryError: Container killed due to memory usage" behind exit 137
            text += f"\n[labcloud] ECS stopped the container: {handle.reason}\n"
            if tail_chars is not None:
                text = text[-tail_chars:]
        return text

    def kill(self, handle: EcsRun) -> None:
        handle.killed = True
        if handle.status in _STOPPED or handle.status == _MISSING:
            return
        try:
            self._ecs.stop_task(
                cluster=self.cluster, task=handle.task_arn, reason="stopped by labcloud"
            )
        except (
            self._ecs.exceptions.ClientException,
            self._ecs.exceptions.InvalidParameterException,  # "The referenced task was not found"
        ) as exc:
            log.warning("ECS task %s: stop failed: %s", handle.task_arn, exc)
            return
        wait_until_stopped(
            lambda: self.poll(handle),
            lambda: handle.status in _STOPPED,
            f"ECS task {handle.task_arn}",
        )

    def cleanup(self, handle: EcsRun) -> None:
        if handle.registered:
            handle.registered = False
            self._deregister(handle.definition_arn)

    # --- orphans --------------------------------------------------------------------

    def reap(self) -> list[tuple[str, int | None]]:
        """Stop the live ECS tasks an earlier run of this poller left behind.

        Call at start-up, before leasing: this poller holds nothing yet, so every
        live task tagged with its owner belongs to a previous incarnation. Returns
        (labcloud job id, attempt) of each, so their leases can be handed back.
        """
        # startedBy must be ListTasks' only filter; desiredStatus defaults to RUNNING
        # (which includes tasks still PENDING).
        pages = self._ecs.get_paginator("list_tasks").paginate(
            cluster=self.cluster, startedBy=self.started_by
        )
        arns = [arn for page in pages for arn in page.get("taskArns", [])]
        found: list[tuple[str, int | None]] = []
        for i in range(0, len(arns), _DESCRIBE_BATCH):
            answer = self._ecs.describe_tasks(
                cluster=self.cluster, tasks=arns[i : i + _DESCRIBE_BATCH], include=["TAGS"]
            )
            for task in answer.get("tasks", []):
                if task.get("desiredStatus") == "STOPPED" or task.get("lastStatus") in _STOPPED:
                    continue
                tags = {t.get("key"): t.get("value") for t in task.get("tags") or []}
                if tags.get(OWNER_TAG) != self.owner:
                    continue  # another poller whose name shares our first 36 characters
                self._ecs.stop_task(
                    cluster=self.cluster,
                    task=task["taskArn"],
                    reason="orphaned: its labcloud poller restarted",
                )
                attempt = tags.get(ATTEMPT_TAG) or "0"
                found.append((tags.get(JOB_TAG) or "", int(attempt) or None))
        if found:
            log.warning("ECS: stopped %d orphaned task(s) of %s", len(found), self.owner)
        return found

    # --- definitions ------------------------------------------------------------------

    def task_definition(self, spec: RunSpec) -> dict[str, Any]:
        """RegisterTaskDefinition's arguments for ``spec``, but the family (public for tests)."""
        options = {"awslogs-group": self._log_group, "awslogs-stream-prefix": self._stream_prefix}
        if self._region:
            options["awslogs-region"] = self._region
        container: dict[str, Any] = {
            "name": CONTAINER_NAME,
            "image": spec.image,
            "command": ["sh", "-c", spec.command],
            "essential": True,
            "mountPoints": [self.volume.mount_point()],
            "logConfiguration": {"logDriver": "awslogs", "options": options},
        }
        if spec.gpus:
            container["resourceRequirements"] = [{"type": "GPU", "value": str(spec.gpus)}]
        definition: dict[str, Any] = {
            "containerDefinitions": [container],
            # Fargate accepts only some vCPU/memory pairs; it refuses the others by name.
            "cpu": str((spec.cpu_cores or self._default_vcpus) * 1024),
            "memory": str(spec.memory_mb or self._default_memory_mb),
            "networkMode": "awsvpc",
            "requiresCompatibilities": [self.launch_type],
            "volumes": [self.volume.volume(spec.files_dir)],
        }
        definition.update({k: v for k, v in self._roles.items() if v})
        return definition

    def _definition(self, image: str, spec: RunSpec) -> tuple[str, bool]:
        """An ACTIVE definition with exactly these settings: reused, else registered."""
        wanted = self.task_definition(spec)
        family = definition_name(self._prefix, image, wanted)
        try:
            # A family alone names its latest revision.
            current = self._ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
        except self._ecs.exceptions.ClientException:
            current = None  # no such family (or no ACTIVE revision left)
        if current and current.get("status") == "ACTIVE" and _contains(current, wanted):
            return current["taskDefinitionArn"], False
        answer = self._ecs.register_task_definition(
            family=family, tags=_tag_list({OWNER_TAG: self.owner}), **wanted
        )
        return answer["taskDefinition"]["taskDefinitionArn"], True

    def _deregister(self, arn: str) -> None:
        try:
            self._ecs.deregister_task_definition(taskDefinition=arn)
        except Exception as exc:  # noqa: BLE001 - a leftover definition costs nothing
            log.warning("ECS: could not deregister %s: %s", arn, exc)

    def _ensure_log_group(self) -> None:
        # awslogs does not create the group, and the task fails to start without it.
        if self._log_group_checked:
            return
        self._log_group_checked = True
        try:
            self._logs_client.create_log_group(logGroupName=self._log_group)
        except self._logs_client.exceptions.ResourceAlreadyExistsException:
            pass
        except Exception as exc:  # noqa: BLE001 - if it is missing, tasks say so when they stop
            log.warning("ECS: could not create log group %s: %s", self._log_group, exc)


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in tags.items()]


def _failures(answer: dict[str, Any]) -> str:
    failures = answer.get("failures") or []
    return (
        "; ".join(
            ": ".join(str(f[key]) for key in ("reason", "detail") if f.get(key)) or "unknown"
            for f in failures
        )
        or "no reason given"
    )


def _contains(theirs: Any, ours: Any) -> bool:
    """True if ``theirs`` holds everything in ``ours`` (ECS adds defaults to what it returns)."""
    if isinstance(ours, dict):
        return isinstance(theirs, dict) and all(
            key in theirs and _contains(theirs[key], value) for key, value in ours.items()
        )
    if isinstance(ours, list):
        return (
            isinstance(theirs, list)
            and len(theirs) == len(ours)
            and all(_contains(t, o) for t, o in zip(theirs, ours, strict=True))
        )
    return bool(theirs == ours)
