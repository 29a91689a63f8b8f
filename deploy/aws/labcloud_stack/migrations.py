"""The database migrations: one ECS task per deployment, before any service rolls.

A CloudFormation custom resource backed by a small Lambda function runs the migrations
task (RunTask), waits until it stops and fails the deployment unless every container
exited 0. Its properties name the task definition, whose revision changes with the
image (and with any setting), so each deployment that changes something runs it once;
every service depends on it, so CloudFormation updates them only after it succeeded, and
a failed migration rolls the stack back with the old services untouched. The task has
two containers, one per API: `labcloud db upgrade user|worker --create-database`, each
with its API's settings (the worker API's database is created on the first run). A
Lambda function waits 15 minutes at most: migrations that may take longer should be run
by hand first (`aws ecs run-task` with the same task definition).

Why not the APIs' own `--migrate`: several tasks start at once and would race, and a
failed migration would only show as tasks that never get healthy.
"""

from __future__ import annotations

from aws_cdk import Aws, CustomResource, Duration
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from labcloud_stack.log_groups import log_group
from labcloud_stack.network import Network
from labcloud_stack.services import Services

RUNNER_CODE = """
import boto3, cfnresponse

ecs = boto3.client("ecs")


def handler(event, context):
    physical = "labcloud-migrations"
    if event["RequestType"] == "Delete":
        cfnresponse.send(event, context, cfnresponse.SUCCESS, {}, physical)
        return
    p = event["ResourceProperties"]
    try:
        started = ecs.run_task(
            cluster=p["Cluster"],
            taskDefinition=p["TaskDefinition"],
            launchType="FARGATE",
            count=1,
            startedBy="labcloud-migrations",
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": p["Subnets"],
                "securityGroups": p["SecurityGroups"],
                "assignPublicIp": "DISABLED",
            }},
        )
        if started.get("failures") or not started.get("tasks"):
            raise RuntimeError(f"RunTask failed: {started.get('failures')}")
        arn = started["tasks"][0]["taskArn"]
        ecs.get_waiter("tasks_stopped").wait(
            cluster=p["Cluster"], tasks=[arn], WaiterConfig={"Delay": 10, "MaxAttempts": 84}
        )
        task = ecs.describe_tasks(cluster=p["Cluster"], tasks=[arn])["tasks"][0]
        codes = {c["name"]: c.get("exitCode") for c in task["containers"]}
        if any(code != 0 for code in codes.values()):
            raise RuntimeError(
                f"migrations failed: exit codes {codes} ({task.get('stoppedReason')}); "
                f"see the log group {p['LogGroup']}"
            )
        cfnresponse.send(event, context, cfnresponse.SUCCESS, {"TaskArn": arn}, physical)
    except Exception as exc:
        cfnresponse.send(
            event, context, cfnresponse.FAILED, {}, physical, reason=str(exc)[:900]
        )
"""


class Migrations(Construct):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        services: Services,
        network: Network,
        user_env: dict[str, str],
        worker_env: dict[str, str],
    ) -> None:
        super().__init__(scope, cid)
        task, group = services.task("Migrations", 512, 1024)
        for secret in (
            services.data.database_secret,
            services.data.internal_key,
            services.data.token_secret,
        ):
            secret.grant_read(task.task_role)  # the settings are resolved as the APIs do
        user = services.container(
            task, group, "user-db", ["labcloud", "db", "upgrade", "user", "--create-database"],
            user_env, essential=False,
        )  # fmt: skip
        worker = services.container(
            task, group, "worker-db",
            ["labcloud", "db", "upgrade", "worker", "--create-database"], worker_env,
        )  # fmt: skip
        complete = ecs.ContainerDependencyCondition.COMPLETE  # whatever its exit code
        worker.add_container_dependencies(
            ecs.ContainerDependency(container=user, condition=complete)
        )

        runner_logs = log_group(self, "RunnerLogs", services.config)
        role = iam.Role(
            self,
            "RunnerRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="labcloud: runs the migrations task and waits for it",
        )
        runner_logs.grant_write(role)
        cluster = services.cluster
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ecs:RunTask"],
                resources=[task.task_definition_arn],
                conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ecs:DescribeTasks"],
                resources=[
                    f"arn:{Aws.PARTITION}:ecs:{Aws.REGION}:{Aws.ACCOUNT_ID}:task/"
                    f"{cluster.cluster_name}/*"
                ],
                conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}},
            )
        )
        roles = [task.task_role.role_arn, task.obtain_execution_role().role_arn]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=roles,
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            )
        )
        function = lambda_.Function(
            self,
            "Runner",
            runtime=lambda_.Runtime.PYTHON_3_13,
            handler="index.handler",
            code=lambda_.Code.from_inline(RUNNER_CODE),
            timeout=Duration.minutes(15),
            role=role,
            log_group=runner_logs,
            description="labcloud: runs the database migrations once per deployment",
        )
        subnets = network.vpc.select_subnets(subnet_group_name="private").subnet_ids
        self.resource = CustomResource(
            self,
            "Run",
            service_token=function.function_arn,
            resource_type="Custom::LabcloudMigrations",
            properties={
                "Cluster": cluster.cluster_arn,
                "TaskDefinition": task.task_definition_arn,
                "Subnets": subnets,
                "SecurityGroups": [network.migrations.security_group_id],
                "LogGroup": group.log_group_name,
            },
        )
