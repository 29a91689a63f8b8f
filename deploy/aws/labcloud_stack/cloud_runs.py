"""Where cloud jobs run: the AWS Batch compute environment and job queue, the roles the
runs get, their log group, and what each cloud poller may do to start and follow them.

Batch: without GPUs, a Fargate compute environment (nothing runs, nothing is paid
while no job waits); with GPUs, a managed EC2 one whose GPU instances boot the
GPU-optimised ECS AMI named by its public SSM parameter (CPU-only jobs land on the
cheaper "optimal" instances with the standard ECS AMI). Both scale from 0 vCPUs.
ECS jobs run as Fargate tasks in the stack's cluster.

The job role has no permissions at all ("the job role needs nothing of labcloud's");
the execution role may write the runs' log group only (job images come from public
registries; an image in a private ECR repository needs that repository's pull granted).
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from labcloud_stack.config import StackConfig
from labcloud_stack.environment import definition_prefix
from labcloud_stack.log_groups import log_group
from labcloud_stack.network import Network

ECS_TASKS = "ecs-tasks.amazonaws.com"


class CloudRuns(Construct):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        config: StackConfig,
        network: Network,
        cluster: ecs.Cluster,
    ) -> None:
        super().__init__(scope, cid)
        self.config, self.cluster = config, cluster
        self.log_group: logs.LogGroup = log_group(self, "RunLogs", config)
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal(ECS_TASKS),
            description="labcloud: what a cloud job's code runs as (no permissions)",
        )
        self.execution_role = iam.Role(
            self,
            "JobExecutionRole",
            assumed_by=iam.ServicePrincipal(ECS_TASKS),
            description="labcloud: pulls a cloud job's image and writes its log",
        )
        self.log_group.grant_write(self.execution_role)
        self.batch_queue: batch.JobQueue | None = None
        if "batch" in config.runners:
            self.batch_queue = batch.JobQueue(
                self,
                "BatchQueue",
                priority=1,
                compute_environments=[
                    batch.OrderedComputeEnvironment(
                        compute_environment=self._compute_environment(network), order=1
                    )
                ],
            )

    def _compute_environment(self, network: Network) -> batch.IComputeEnvironment:
        common = dict(
            vpc=network.vpc,
            vpc_subnets=network.private_subnets,
            security_groups=[network.jobs],
            maxv_cpus=self.config.sizes.batch_max_vcpus,
        )
        if not self.config.gpu:
            return batch.FargateComputeEnvironment(self, "Fargate", **common)
        gpu_ami = ecs.EcsOptimizedImage.amazon_linux2(ecs.AmiHardwareType.GPU)  # from SSM
        return batch.ManagedEc2EcsComputeEnvironment(
            self,
            "Gpu",
            minv_cpus=0,
            instance_role=self._instance_role(),
            instance_types=[ec2.InstanceType(t) for t in self.config.gpu_instance_types],
            use_optimal_instance_classes=True,  # CPU-only jobs go to cheaper instances
            images=[
                batch.EcsMachineImage(image_type=batch.EcsMachineImageType.ECS_AL2),
                batch.EcsMachineImage(
                    image=gpu_ami, image_type=batch.EcsMachineImageType.ECS_AL2_NVIDIA
                ),
            ],
            **common,
        )

    def _instance_role(self) -> iam.Role:
        """What the ECS agent on a Batch instance needs: AWS's managed policy for it
        spelled out (it uses `ecs:Submit*`), with the log group narrowed to the runs'."""
        role = iam.Role(
            self,
            "InstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="labcloud: the ECS agent on Batch's GPU instances",
        )
        # Batch makes the ECS cluster of these instances itself: its ARN is unknown
        # here, and ECR's token call has no resource-level permissions: "*".
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "ecs:RegisterContainerInstance",
                    "ecs:DeregisterContainerInstance",
                    "ecs:DiscoverPollEndpoint",
                    "ecs:Poll",
                    "ecs:StartTelemetrySession",
                    "ecs:UpdateContainerInstancesState",
                    "ecs:SubmitAttachmentStateChanges",
                    "ecs:SubmitContainerStateChange",
                    "ecs:SubmitTaskStateChange",
                    "ecr:GetAuthorizationToken",
                ],
                resources=["*"],
            )
        )
        self.log_group.grant_write(role)
        return role

    # --- what a poller may do --------------------------------------------------------

    def grant_poller(self, role: iam.IRole, runner: str) -> None:
        """The least a `runner` poller needs (README, "IAM, in short")."""
        prefix = definition_prefix(self.config)

        def arn(service: str, resource: str) -> str:
            return f"arn:{Aws.PARTITION}:{service}:{Aws.REGION}:{Aws.ACCOUNT_ID}:{resource}"

        def add(actions: list[str], resources: list[str], **conditions: object) -> None:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=actions, resources=resources, conditions=conditions or None
                )
            )

        group = self.log_group.log_group_arn  # `…:log-group:NAME:*`: its streams too
        add(["logs:GetLogEvents"], [group])
        services = [ECS_TASKS] + (["batch.amazonaws.com"] if runner == "batch" else [])
        add(
            ["iam:PassRole"],
            [self.job_role.role_arn, self.execution_role.role_arn],
            StringEquals={"iam:PassedToService": services},
        )
        if runner == "batch":
            assert self.batch_queue is not None
            definitions = arn("batch", f"job-definition/{prefix}-*")
            # Batch job ids are random: TerminateJob and the tags SubmitJob sets can only
            # be scoped to this account's jobs in this region.
            jobs = arn("batch", "job/*")
            add(["batch:RegisterJobDefinition", "batch:DeregisterJobDefinition"], [definitions])
            add(["batch:SubmitJob"], [self.batch_queue.job_queue_arn, definitions])
            add(["batch:TagResource"], [definitions, jobs])
            add(["batch:TerminateJob"], [jobs])
            # No resource-level permissions exist for these read-only calls: "*".
            add(["batch:DescribeJobs", "batch:DescribeJobDefinitions", "batch:ListJobs"], ["*"])
            return
        cluster = self.cluster.cluster_arn
        on_cluster = {"ArnEquals": {"ecs:cluster": cluster}}
        definitions = arn("ecs", f"task-definition/{prefix}-*:*")
        tasks = arn("ecs", f"task/{self.cluster.cluster_name}/*")
        add(["ecs:RunTask"], [definitions], **on_cluster)
        add(["ecs:DescribeTasks", "ecs:StopTask"], [tasks], **on_cluster)
        add(["ecs:TagResource"], [definitions, tasks])
        name = self.log_group.log_group_name  # the runner creates it when missing
        add(["logs:CreateLogGroup"], [arn("logs", f"log-group:{name}")])
        # Task definitions have no resource-level permissions for these calls, and
        # ListTasks is scoped by its cluster condition: "*".
        add(
            [
                "ecs:RegisterTaskDefinition",
                "ecs:DeregisterTaskDefinition",
                "ecs:DescribeTaskDefinition",
            ],
            ["*"],
        )
        add(["ecs:ListTasks"], ["*"], **on_cluster)
