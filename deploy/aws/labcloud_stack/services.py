"""The ECS services: both APIs (behind the load balancer), their Celery worker and beat in
scaled mode, and one cloud poller per job runner; each with its own task role.

Every container runs the same image (the repository's Dockerfile) with a different
command. A container health check asks the process's `/healthz` (python is in the
image; curl is not); the load balancer asks `/readyz`, so a task that cannot reach its
database, queue or bucket gets no traffic, and a deployment whose new tasks never get
ready is rolled back by the circuit breaker.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from labcloud_stack.accounts import ADMIN_ACTIONS, Accounts
from labcloud_stack.cloud_runs import CloudRuns
from labcloud_stack.config import StackConfig
from labcloud_stack.data import Data
from labcloud_stack.environment import FILES_PREFIX, METRICS_PORT, RUNS_MOUNT
from labcloud_stack.log_groups import log_group
from labcloud_stack.network import USER_API_PORT, WORKER_API_PORT, Network

EMF_METRICS = ("labcloud_queue_oldest_age_seconds", "labcloud_queue_depth")
EMF_NAMESPACE = "labcloud"


def health_check(port: int) -> ecs.HealthCheck:
    """The container's liveness: its `/healthz` answers (urlopen raises otherwise)."""
    probe = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{port}/healthz', timeout=3)"
    )
    return ecs.HealthCheck(
        command=["CMD", "python", "-c", probe],
        interval=Duration.seconds(30),
        timeout=Duration.seconds(5),
        retries=3,
        start_period=Duration.seconds(60),
    )


class Services(Construct):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        config: StackConfig,
        network: Network,
        data: Data,
        accounts: Accounts,
        cluster: ecs.Cluster,
    ) -> None:
        super().__init__(scope, cid)
        self.config, self.network, self.data, self.accounts = config, network, data, accounts
        self.cluster = cluster
        self.image = self._image()
        self.services: list[ecs.FargateService] = []
        self.log_groups: list[logs.LogGroup] = []

    def _image(self) -> ecs.ContainerImage:
        """The image, from its URI; an ECR image also gets the pull granted (CDK adds
        ecr:GetAuthorizationToken on "*": that call has no resource-level permissions)."""
        ecr_image = self.config.ecr_image
        if ecr_image is None:
            return ecs.ContainerImage.from_registry(self.config.image)
        repository = ecr.Repository.from_repository_attributes(
            self,
            "ImageRepository",
            repository_arn=f"arn:{Aws.PARTITION}:ecr:{ecr_image['region']}:"
            f"{ecr_image['account']}:repository/{ecr_image['repository']}",
            repository_name=ecr_image["repository"],
        )
        return ecs.ContainerImage.from_ecr_repository(repository, ecr_image["tag"])

    # --- task definitions ---------------------------------------------------------------

    def task(
        self,
        name: str,
        cpu: int,
        memory_mb: int,
        role_of: str | None = None,
        serves_requests: bool = True,
    ) -> tuple[ecs.FargateTaskDefinition, logs.LogGroup]:
        """A Fargate task definition with its own task role and log group."""
        task = ecs.FargateTaskDefinition(
            self,
            f"{name}Task",
            cpu=cpu,
            memory_limit_mib=memory_mb,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        group = log_group(self, f"{name}Logs", self.config)
        self.log_groups.append(group)
        if role_of is not None:
            self.grant_api(task.task_role, role_of, serves_requests=serves_requests)
        return task, group

    def container(
        self,
        task: ecs.FargateTaskDefinition,
        group: logs.LogGroup,
        name: str,
        command: list[str],
        env: dict[str, str],
        *,
        port: int | None = None,
        health_port: int | None = None,
        essential: bool = True,
        secrets: dict[str, ecs.Secret] | None = None,
    ) -> ecs.ContainerDefinition:
        container = task.add_container(
            name,
            image=self.image,
            command=command,
            environment=env,
            secrets=secrets,
            essential=essential,
            logging=ecs.LogDrivers.aws_logs(stream_prefix=name, log_group=group),
            health_check=health_check(health_port) if health_port else None,
            stop_timeout=Duration.seconds(120) if essential else None,
        )
        if port is not None:
            container.add_port_mappings(ecs.PortMapping(container_port=port))
        return container

    def service(
        self,
        name: str,
        task: ecs.FargateTaskDefinition,
        groups: list,
        count: int,
        *,
        rolling: bool = True,
        behind_load_balancer: bool = False,
    ) -> ecs.FargateService:
        """A service in the private subnets. `rolling=False`: stop the old task before
        the new one starts (pollers and beat: one at a time, or runs are reaped twice)."""
        service = ecs.FargateService(
            self,
            name,
            cluster=self.cluster,
            task_definition=task,
            desired_count=count,
            security_groups=groups,
            vpc_subnets=self.network.private_subnets,
            assign_public_ip=False,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            min_healthy_percent=100 if rolling else 0,
            max_healthy_percent=200 if rolling else 100,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
            # a new API task has this long to pass /readyz before its failures count
            health_check_grace_period=Duration.seconds(90) if behind_load_balancer else None,
        )
        self.services.append(service)
        return service

    # --- the services ---------------------------------------------------------------

    def api(self, api: str, env: dict[str, str]) -> ecs.FargateService:
        """The user API (`user`) or the worker API (`worker`); the worker API's task also
        runs the EMF sidecar that turns its queue gauges into CloudWatch metrics."""
        size = self.config.sizes
        port = USER_API_PORT if api == "user" else WORKER_API_PORT
        name = "UserApi" if api == "user" else "WorkerApi"
        task, group = self.task(name, size.api_cpu, size.api_memory_mb, role_of=api)
        command = ["labcloud", f"{api}-api", "--host", "0.0.0.0", "--port", str(port)]
        self.container(task, group, "api", command, env, port=port, health_port=port)
        if api == "worker":
            emf = ["labcloud", "metrics-emf", "--url", f"http://127.0.0.1:{port}/metrics"]
            for metric in EMF_METRICS:
                emf += ["--metric", metric]
            emf += ["--namespace", EMF_NAMESPACE, "--dimension", f"Stack={self.config.stack_name}"]
            sidecar_env = {
                "INTERNAL_API_KEY_SECRET": env["INTERNAL_API_KEY_SECRET"],
                "AWS_REGION": Aws.REGION,
            }
            self.container(task, group, "metrics-emf", emf, sidecar_env, essential=False)
        groups = [self.network.user_api if api == "user" else self.network.worker_api]
        return self.service(name, task, groups, size.api_tasks, behind_load_balancer=True)

    def celery(self, api: str, env: dict[str, str]) -> None:
        """Scaled mode: `labcloud celery worker` and `labcloud celery beat` with one API's
        settings (each API's rounds need its own database)."""
        for part in ("worker", "beat"):
            name = f"Celery{api.title()}{part.title()}"
            task, group = self.task(name, 256, 512, role_of=api, serves_requests=False)
            self.container(task, group, "celery", ["labcloud", "celery", part], env)
            count = self.config.sizes.api_tasks if part == "worker" else 1
            self.service(name, task, [self.network.celery], count, rolling=part == "worker")

    def poller(self, runner: str, env: dict[str, str], runs: CloudRuns) -> None:
        """`labcloud worker` leasing cloud jobs (and sessions) for `runner`."""
        name = f"{runner.title()}Poller"
        task, group = self.task(name, 256, 512)
        data = self.data
        task.add_volume(
            name="runs",
            efs_volume_configuration=ecs.EfsVolumeConfiguration(
                file_system_id=data.file_system.file_system_id,
                transit_encryption="ENABLED",
                authorization_config=ecs.AuthorizationConfig(
                    access_point_id=data.access_point.access_point_id, iam="ENABLED"
                ),
            ),
        )
        key = {"LABCLOUD_WORKER_API_KEY": ecs.Secret.from_secrets_manager(data.internal_key)}
        container = self.container(
            task, group, "poller", ["labcloud", "worker"], env,
            health_port=METRICS_PORT, secrets=key,
        )  # fmt: skip
        container.add_mount_points(
            ecs.MountPoint(container_path=RUNS_MOUNT, source_volume="runs", read_only=False)
        )
        task.task_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "elasticfilesystem:ClientMount",
                    "elasticfilesystem:ClientWrite",
                    "elasticfilesystem:ClientRootAccess",  # the access point's user is root
                ],
                resources=[data.file_system.file_system_arn],
                conditions={
                    "StringEquals": {
                        "elasticfilesystem:AccessPointArn": data.access_point.access_point_arn
                    }
                },
            )
        )
        runs.grant_poller(task.task_role, runner)
        self.service(name, task, [self.network.pollers], 1, rolling=False)

    # --- permissions ----------------------------------------------------------------

    def grant_api(self, role: iam.IRole, api: str, *, serves_requests: bool = True) -> None:
        """What an API may touch; its Celery services (`serves_requests=False`) run the
        background rounds only: no accounts to create, no catalogue to read."""
        data = self.data
        for secret in (data.database_secret, data.internal_key, data.token_secret):
            secret.grant_read(role)  # labcloud resolves the ARNs at start-up
        bucket = data.bucket
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
        )
        objects = [bucket.arn_for_objects(f"{FILES_PREFIX}/*")]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                ],
                resources=objects,
            )
        )
        if api == "user" and serves_requests:
            # the catalogue may live in the bucket (APPLICATION_CONFIG_FILE)
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject"], resources=[bucket.arn_for_objects("catalogue/*")]
                )
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=list(ADMIN_ACTIONS), resources=[self.accounts.pool.user_pool_arn]
                )
            )
        if api == "user":
            data.jobs.grant_send_messages(role)
            # the transport declares the dead-letter queue too (kombu reads its size)
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["sqs:GetQueueAttributes"], resources=[data.jobs_dead.queue_arn]
                )
            )
        else:
            data.jobs.grant_consume_messages(role)
            data.jobs_dead.grant_send_messages(role)  # labcloud's own dead-lettering
            # jobs' results are tagged (the expiry rule's filter), presigned POSTs too
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=["s3:PutObjectTagging"], resources=objects)
            )
        if api in data.celery:
            data.celery[api].grant_send_messages(role)
            data.celery[api].grant_consume_messages(role)
