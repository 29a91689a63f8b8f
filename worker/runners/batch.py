"""AWS Batch runner: each run is one Batch job whose job directory is on EFS.

``start`` registers (or reuses) a job definition derived from the entrypoint —
image, ``sh -c`` of the command, vCPUs, memory, GPUs, timeout, the EFS volume
with the job's directory mounted at ``/files`` — and submits it with the job's
variables. ``poll`` follows it with DescribeJobs; Batch's states map onto the
runner's: SUBMITTED, PENDING, RUNNABLE, STARTING = not started yet (the job
stays ``preprocessing``), RUNNING = started, SUCCEEDED / FAILED = exited. The
log is the job's CloudWatch stream. ``kill`` is TerminateJob; ``cleanup``
deregisters a definition this run registered.
"""

from __future__ import annotations

import logging
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
    run_name,
    wait_until_stopped,
)
from worker.runners.base import LOG_TAIL_CHARS, MAX_LOG_BYTES, Capability, RunSpec

log = logging.getLogger(__name__)

ACTIVE_STATES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
_NOT_STARTED = frozenset(ACTIVE_STATES[:-1])
#: Batch's log group when a definition names none.
DEFAULT_LOG_GROUP = "/aws/batch/job"
#: What a job queue's compute environments can be; job definitions must match.
PLATFORMS = ("EC2", "FARGATE")
#: Batch refuses attempt durations under 60 s.
_MIN_TIMEOUT_S = 60


@dataclass
class BatchRun:
    """One submitted Batch job, as the runner follows it."""

    job_id: str  # Batch's id
    name: str
    definition_arn: str
    registered: bool  # this run registered the definition (cleanup deregisters it)
    status: str = "SUBMITTED"
    exit_code: int | None = None
    log_stream: str | None = None
    reason: str | None = None


class BatchRunner:
    """Runs jobs as AWS Batch jobs on ``job_queue``; see the module docstring."""

    capabilities = frozenset({Capability.QUEUES, Capability.REAPS})

    def __init__(
        self,
        *,
        job_queue: str,
        volume: EfsVolume,
        owner: str,
        client: Any = None,
        logs_client: Any = None,
        region: str | None = None,
        definition_prefix: str = "labcloud",
        job_role_arn: str | None = None,
        execution_role_arn: str | None = None,
        log_group: str | None = None,
        default_vcpus: int = 1,
        default_memory_mb: int = 2048,
        platform: str = "EC2",
    ) -> None:
        import boto3  # only cloud pollers need it

        if platform not in PLATFORMS:
            raise ValueError(f"unknown Batch platform {platform!r}; known: {', '.join(PLATFORMS)}")
        if platform == "FARGATE" and not execution_role_arn:
            raise ValueError("Batch on Fargate needs LABCLOUD_WORKER_EXECUTION_ROLE_ARN")
        self.platform = platform
        self.job_queue, self.volume, self.owner = job_queue, volume, owner
        self._batch = client or boto3.client("batch", region_name=region)
        self._logs = CloudWatchLogs(
            logs_client or boto3.client("logs", region_name=region),
            log_group or DEFAULT_LOG_GROUP,
        )
        self._prefix = definition_prefix
        self._roles = {"jobRoleArn": job_role_arn, "executionRoleArn": execution_role_arn}
        self._log_group = log_group
        self._default_vcpus, self._default_memory_mb = default_vcpus, default_memory_mb

    # --- the Runner protocol -------------------------------------------------------

    def start(self, spec: RunSpec) -> BatchRun:
        if not spec.image:
            raise CloudRunError("the entrypoint names no container image")
        properties = self.container_properties(spec)
        timeout = max(_MIN_TIMEOUT_S, int(spec.timeout_s)) if spec.timeout_s else None
        arn, registered = self._definition(spec.image, properties, timeout)
        attempt = spec.env.get("LABCLOUD_ATTEMPT")
        name = run_name(self.owner, spec.job_id, int(attempt) if attempt else None)
        try:
            answer = self._batch.submit_job(
                jobName=name,
                jobQueue=self.job_queue,
                jobDefinition=arn,
                containerOverrides={"environment": env_list(spec.env)},
                tags={OWNER_TAG: self.owner, JOB_TAG: spec.job_id, ATTEMPT_TAG: attempt or "0"},
            )
        except Exception:
            if registered:
                self._deregister(arn)
            raise
        log.info("job %s: submitted as AWS Batch job %s (%s)", spec.job_id, answer["jobId"], arn)
        return BatchRun(
            job_id=answer["jobId"], name=name, definition_arn=arn, registered=registered
        )

    def poll(self, handle: BatchRun) -> int | None:
        jobs = self._batch.describe_jobs(jobs=[handle.job_id]).get("jobs", [])
        if not jobs:
            raise RunLost(f"AWS Batch no longer knows job {handle.job_id}")
        job = jobs[0]
        handle.status = job["status"]
        handle.reason = job.get("statusReason")
        container = job.get("container") or {}
        handle.log_stream = container.get("logStreamName") or handle.log_stream
        if handle.status == "SUCCEEDED":
            return _exit_code(job) or 0
        if handle.status == "FAILED":
            code = _exit_code(job)
            if code is None:
                code = self._exit_code_from_listing(handle)
            if code is None:
                # Never ran, or killed by Batch (its timeout, a lost instance).
                raise CloudRunError(
                    f"AWS Batch job {handle.job_id} failed: {handle.reason or 'no reason given'}"
                )
            return code
        return None

    def started(self, handle: BatchRun) -> bool:
        return handle.status not in _NOT_STARTED

    def logs(self, handle: BatchRun, tail_chars: int | None = LOG_TAIL_CHARS) -> str:
        return self._logs.read(handle.log_stream, tail_chars or MAX_LOG_BYTES)

    def kill(self, handle: BatchRun) -> None:
        try:
            self._batch.terminate_job(jobId=handle.job_id, reason="stopped by labcloud")
        except self._batch.exceptions.ClientException as exc:
            log.warning("AWS Batch job %s: terminate failed: %s", handle.job_id, exc)
            return
        wait_until_stopped(
            lambda: self.poll(handle),
            lambda: handle.status in ("SUCCEEDED", "FAILED"),
            f"AWS Batch job {handle.job_id}",
        )

    def cleanup(self, handle: BatchRun) -> None:
        if handle.registered:
            handle.registered = False
            self._deregister(handle.definition_arn)

    # --- orphans --------------------------------------------------------------------

    def reap(self) -> list[tuple[str, int | None]]:
        """Terminate the live Batch jobs an earlier run of this poller left behind.

        Call at start-up, before leasing: this poller holds nothing yet, so every
        live job tagged with its owner belongs to a previous incarnation. Returns
        (labcloud job id, attempt) of each, so their leases can be handed back.
        """
        found: list[tuple[str, int | None]] = []
        for summary in self._list(f"{self.owner}-*"):
            if summary.get("status") not in ACTIVE_STATES:
                continue
            tags = self._tags(summary["jobId"])
            if tags.get(OWNER_TAG) != self.owner:
                continue  # another poller whose name shares our prefix
            self._batch.terminate_job(
                jobId=summary["jobId"], reason="orphaned: its labcloud poller restarted"
            )
            attempt = tags.get(ATTEMPT_TAG, "0")
            found.append((tags.get(JOB_TAG, ""), int(attempt) or None))
        if found:
            log.warning("AWS Batch: terminated %d orphaned job(s) of %s", len(found), self.owner)
        return found

    # --- definitions ------------------------------------------------------------------

    def container_properties(self, spec: RunSpec) -> dict[str, Any]:
        """The job definition's containerProperties for ``spec`` (public for tests)."""
        resources = [
            {"type": "VCPU", "value": str(spec.cpu_cores or self._default_vcpus)},
            {"type": "MEMORY", "value": str(spec.memory_mb or self._default_memory_mb)},
        ]
        if spec.gpus:
            if self.platform == "FARGATE":
                raise CloudRunError("GPUs need an EC2 compute environment; this queue is Fargate")
            resources.append({"type": "GPU", "value": str(spec.gpus)})
        properties: dict[str, Any] = {
            "image": spec.image,
            "command": ["sh", "-c", spec.command],
            "resourceRequirements": resources,
            "volumes": [self.volume.volume(spec.files_dir)],
            "mountPoints": [self.volume.mount_point()],
        }
        properties.update({k: v for k, v in self._roles.items() if v})
        if self.platform == "FARGATE":
            # Private subnets with a NAT gateway pull the image; no public address.
            properties["networkConfiguration"] = {"assignPublicIp": "DISABLED"}
            properties["fargatePlatformConfiguration"] = {"platformVersion": "LATEST"}
        if self._log_group:
            properties["logConfiguration"] = {
                "logDriver": "awslogs",
                "options": {"awslogs-group": self._log_group},
            }
        return properties

    def _definition(
        self, image: str, properties: dict[str, Any], timeout: int | None
    ) -> tuple[str, bool]:
        """An ACTIVE definition with exactly these properties: reused, else registered."""
        wanted = {"containerProperties": properties, "timeout": timeout}
        name = definition_name(self._prefix, image, wanted)
        existing = self._batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")
        for definition in existing.get("jobDefinitions", []):
            if _same_definition(definition, properties, timeout):
                return definition["jobDefinitionArn"], False
        kwargs: dict[str, Any] = {
            "jobDefinitionName": name,
            "type": "container",
            "containerProperties": properties,
            "retryStrategy": {"attempts": 1},  # labcloud retries, with its own budget
            "tags": {OWNER_TAG: self.owner},
            "platformCapabilities": [self.platform],
        }
        if timeout:
            kwargs["timeout"] = {"attemptDurationSeconds": timeout}
        answer = self._batch.register_job_definition(**kwargs)
        return answer["jobDefinitionArn"], True

    def _deregister(self, arn: str) -> None:
        try:
            self._batch.deregister_job_definition(jobDefinition=arn)
        except Exception as exc:  # noqa: BLE001 - a leftover definition costs nothing
            log.warning("AWS Batch: could not deregister %s: %s", arn, exc)

    def _tags(self, batch_job_id: str) -> dict[str, str]:
        jobs = self._batch.describe_jobs(jobs=[batch_job_id]).get("jobs", [])
        return dict(jobs[0].get("tags") or {}) if jobs else {}

    def _exit_code_from_listing(self, handle: BatchRun) -> int | None:
        # ListJobs' summaries carry the exit code too (and moto only puts it there).
        for summary in self._list(handle.name):
            if summary.get("jobId") == handle.job_id:
                return (summary.get("container") or {}).get("exitCode")
        return None

    def _list(self, name_pattern: str) -> list[dict[str, Any]]:
        """Job summaries of the queue whose name matches (a trailing * is a wildcard)."""
        pages = self._batch.get_paginator("list_jobs").paginate(
            jobQueue=self.job_queue, filters=[{"name": "JOB_NAME", "values": [name_pattern]}]
        )
        return [summary for page in pages for summary in page.get("jobSummaryList", [])]


def _exit_code(job: dict[str, Any]) -> int | None:
    code = (job.get("container") or {}).get("exitCode")
    if code is None and job.get("attempts"):
        code = (job["attempts"][-1].get("container") or {}).get("exitCode")
    return code


def _same_definition(
    definition: dict[str, Any], properties: dict[str, Any], timeout: int | None
) -> bool:
    theirs = definition.get("containerProperties") or {}
    if any(theirs.get(key) != value for key, value in properties.items()):
        return False
    their_timeout = (definition.get("timeout") or {}).get("attemptDurationSeconds")
    return their_timeout == timeout
