"""Every setting each service reads, as the stack gives it (README, "Settings").

Secrets travel as Secrets Manager ARNs in the APIs' settings (DATABASE_SECRET,
INTERNAL_API_KEY_SECRET, AUTH_TOKEN_SECRET: labcloud resolves them at start-up with the
task role); the worker does not resolve ARNs, so its API key is injected by ECS
(`secrets`, with the execution role). Nothing secret is in a plain variable.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Stack

from labcloud_stack.config import StackConfig

JOB_QUEUE = "labcloud-jobs"  # JOB_TRANSPORT_QUEUE, and its name in predefined_queues
DEAD_QUEUE = "labcloud-jobs-dead"  # labcloud's dead-letter queue name (kombu transport)
CELERY_QUEUE = "celery"  # Celery's default queue name, on the same transport options
FILES_PREFIX = "files"  # USER_DATA_ROOT_PATH: the key prefix in the bucket
RUNS_MOUNT = "/mnt/runs"  # where the pollers mount the EFS access point (SCRATCH_DIR)
METRICS_PORT = 9100  # the pollers' metrics, /healthz and /readyz (inside the task)


@dataclass(frozen=True)
class Resources:
    """The values (CDK tokens) the settings are made from."""

    db_host: str
    db_port: str
    db_secret_arn: str
    internal_key_arn: str
    token_secret_arn: str
    bucket: str
    queue_urls: dict[str, str]  # name → URL, for kombu's predefined_queues
    celery_queue_urls: dict[str, str]  # api → URL (scaled mode)
    user_pool_id: str
    user_pool_client_id: str


def transport_options(scope: Stack, queues: dict[str, str]) -> str:
    """JOB_TRANSPORT_OPTIONS: the region and the queues by URL (kombu's
    `predefined_queues`: it never lists or creates queues, so the roles need neither)."""
    return scope.to_json_string(
        {"region": Aws.REGION, "predefined_queues": {n: {"url": u} for n, u in queues.items()}}
    )


def api_env(
    scope: Stack, config: StackConfig, res: Resources, api: str, database: str
) -> dict[str, str]:
    """The settings of one API (`user` or `worker`), also used by its Celery services and
    by the migrations task."""
    queues = dict(res.queue_urls)
    if api in res.celery_queue_urls:
        queues[CELERY_QUEUE] = res.celery_queue_urls[api]
    env = {
        "AUTH": "1",  # accounts in the Cognito pool: POST /user and /token go there
        "COGNITO_USER_POOL_ID": res.user_pool_id,
        "COGNITO_CLIENT_ID": res.user_pool_client_id,
        "COGNITO_REGION": Aws.REGION,
        "AUTH_TOKEN_SECRET": res.token_secret_arn,
        "INTERNAL_API_KEY_SECRET": res.internal_key_arn,
        "DATABASE_URL": f"postgresql://labcloud:{{}}@{res.db_host}:{res.db_port}/{database}",
        "DATABASE_SECRET": res.db_secret_arn,
        "FILESYSTEM": "s3",
        "S3_BUCKET": res.bucket,
        "S3_REGION": Aws.REGION,
        "USER_DATA_ROOT_PATH": FILES_PREFIX,
        "JOB_TRANSPORT": "sqs://",  # credentials: the task role
        "JOB_TRANSPORT_QUEUE": JOB_QUEUE,
        "JOB_TRANSPORT_OPTIONS": transport_options(scope, queues),
        "LOG_FORMAT": "json",
        # /metrics is routed nowhere by the load balancer; the key guards it all the same.
        "METRICS_REQUIRE_API_KEY": "1",
        "AWS_REGION": Aws.REGION,
        # uvicorn: trust X-Forwarded-* (only the load balancer reaches the tasks).
        "FORWARDED_ALLOW_IPS": "*",
    }
    if config.scaled:
        env["BACKGROUND"] = "celery"  # the rounds run in the Celery services instead
    if api == "user":
        env.update(
            {
                "WORKERFACING_API_URL": f"https://{config.worker_domain}",
                "APPLICATION_CONFIG_FILE": config.application_config_file,
                "EMAIL_SENDER_SERVICE": "console",  # emails in the log; see settings=
            }
        )
        if config.frontend_url:
            env["FRONTEND_URL"] = config.frontend_url
        if config.tes_image_allowlist:
            env["TES_IMAGE_ALLOWLIST"] = config.tes_image_allowlist
    else:
        env.update({"USERFACING_API_URL": f"https://{config.domain}", "CLOUD_POLLERS": ""})
    env.update(config.extra)
    return env


@dataclass(frozen=True)
class PollerTarget:
    """Where one cloud poller's runs go (CDK tokens)."""

    file_system_id: str
    log_group: str
    job_role_arn: str
    execution_role_arn: str
    batch_queue: str | None = None
    cluster: str | None = None
    subnets: str = ""
    security_groups: str = ""


def poller_env(config: StackConfig, runner: str, target: PollerTarget) -> dict[str, str]:
    """`labcloud worker` as the cloud poller for `runner` (batch or ecs)."""
    size = config.sizes
    gpus = 4 if (config.gpu and runner == "batch") else 0
    env = {
        "LABCLOUD_WORKER_API_URL": f"https://{config.worker_domain}",
        "LABCLOUD_WORKER_AUTH_URL": f"https://{config.domain}",
        # Stable: a restarted poller stops the runs its previous start left behind.
        "LABCLOUD_WORKER_ID": f"{config.stack_name}-{runner}",
        "LABCLOUD_WORKER_CONTAINER_RUNNER": runner,
        "LABCLOUD_WORKER_RUNNERS": "docker",  # never `process`: nothing runs in the poller
        "LABCLOUD_WORKER_SCRATCH_DIR": RUNS_MOUNT,
        "LABCLOUD_WORKER_EFS_FILE_SYSTEM_ID": target.file_system_id,
        "LABCLOUD_WORKER_EFS_ROOT_DIRECTORY": "/labcloud",
        "LABCLOUD_WORKER_AWS_REGION": Aws.REGION,
        "LABCLOUD_WORKER_LOG_GROUP": target.log_group,
        "LABCLOUD_WORKER_DEFINITION_PREFIX": definition_prefix(config),
        "LABCLOUD_WORKER_JOB_ROLE_ARN": target.job_role_arn,
        "LABCLOUD_WORKER_EXECUTION_ROLE_ARN": target.execution_role_arn,
        # What it offers: the largest job the compute environment takes, not the
        # poller's own small task (it would probe that).
        "LABCLOUD_WORKER_CPU_CORES": str(size.max_job_vcpus),
        "LABCLOUD_WORKER_MEMORY_MB": str(size.max_job_memory_mb),
        "LABCLOUD_WORKER_GPU_COUNT": str(gpus),
        "LABCLOUD_WORKER_MAX_CONCURRENT_JOBS": str(max(size.batch_max_vcpus // 2, 4)),
        "LABCLOUD_WORKER_OLDER_THAN": "60",  # workstations first for jobs of any environment
        "LABCLOUD_WORKER_DRAIN_TIMEOUT": "100",  # within ECS's 120 s stop timeout
        "LABCLOUD_WORKER_METRICS_PORT": str(METRICS_PORT),
        "LABCLOUD_WORKER_LOG_FORMAT": "json",
        "AWS_REGION": Aws.REGION,
    }
    if gpus:
        env["LABCLOUD_WORKER_GPU_MEM_MB"] = "16384"  # g4dn: NVIDIA T4, 16 GB
    if runner == "batch":
        assert target.batch_queue
        env["LABCLOUD_WORKER_BATCH_JOB_QUEUE"] = target.batch_queue
        env["LABCLOUD_WORKER_BATCH_PLATFORM"] = "EC2" if config.gpu else "FARGATE"
    else:
        assert target.cluster
        env.update(
            {
                "LABCLOUD_WORKER_ECS_CLUSTER": target.cluster,
                "LABCLOUD_WORKER_ECS_LAUNCH_TYPE": "FARGATE",
                "LABCLOUD_WORKER_ECS_SUBNETS": target.subnets,
                "LABCLOUD_WORKER_ECS_SECURITY_GROUPS": target.security_groups,
                "LABCLOUD_WORKER_ECS_ASSIGN_PUBLIC_IP": "false",
            }
        )
    return env


def definition_prefix(config: StackConfig) -> str:
    """Prefix of the job and task definitions the pollers register (their IAM scope)."""
    return f"{config.stack_name}-run"
