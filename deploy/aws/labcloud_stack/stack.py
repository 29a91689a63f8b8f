"""One labcloud deployment: the composition root of the CDK app."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from labcloud_stack.accounts import Accounts
from labcloud_stack.cloud_runs import CloudRuns
from labcloud_stack.config import StackConfig
from labcloud_stack.data import USER_DATABASE, WORKER_DATABASE, Data
from labcloud_stack.edge import Edge
from labcloud_stack.environment import (
    DEAD_QUEUE,
    JOB_QUEUE,
    PollerTarget,
    Resources,
    api_env,
    poller_env,
)
from labcloud_stack.migrations import Migrations
from labcloud_stack.monitoring import Monitoring
from labcloud_stack.network import USER_API_PORT, WORKER_API_PORT, Network
from labcloud_stack.services import Services


class LabcloudStack(Stack):
    def __init__(self, scope: Construct, cid: str, config: StackConfig, **kwargs: Any) -> None:
        super().__init__(
            scope, cid, description="labcloud: a job platform for scientists", **kwargs
        )
        self.config = config
        Tags.of(self).add("labcloud:stack", config.stack_name)  # cost allocation

        network = Network(self, "Network", config)
        data = Data(self, "Data", config, network)
        accounts = Accounts(self, "Accounts")
        cluster = ecs.Cluster(self, "Cluster", vpc=network.vpc)
        edge = Edge(self, "Edge", config, network)
        services = Services(self, "Services", config, network, data, accounts, cluster)
        runs = CloudRuns(self, "CloudRuns", config, network, cluster)

        db = data.database
        resources = Resources(
            db_host=db.db_instance_endpoint_address,
            db_port=db.db_instance_endpoint_port,
            db_secret_arn=data.database_secret.secret_arn,
            internal_key_arn=data.internal_key.secret_arn,
            token_secret_arn=data.token_secret.secret_arn,
            bucket=data.bucket.bucket_name,
            queue_urls={JOB_QUEUE: data.jobs.queue_url, DEAD_QUEUE: data.jobs_dead.queue_url},
            celery_queue_urls={api: q.queue_url for api, q in data.celery.items()},
            user_pool_id=accounts.pool.user_pool_id,
            user_pool_client_id=accounts.client.user_pool_client_id,
        )
        user_env = api_env(self, config, resources, "user", USER_DATABASE)
        worker_env = api_env(self, config, resources, "worker", WORKER_DATABASE)
        edge.route("user", services.api("user", user_env), USER_API_PORT, priority=10)
        edge.route("worker", services.api("worker", worker_env), WORKER_API_PORT, priority=20)
        if config.scaled:
            services.celery("user", user_env)
            services.celery("worker", worker_env)
        job_groups = [network.jobs] + ([network.sessions] if network.sessions else [])
        for runner in config.runners:
            target = PollerTarget(
                file_system_id=data.file_system.file_system_id,
                log_group=runs.log_group.log_group_name,
                job_role_arn=runs.job_role.role_arn,
                execution_role_arn=runs.execution_role.role_arn,
                batch_queue=runs.batch_queue.job_queue_arn if runs.batch_queue else None,
                cluster=cluster.cluster_name,
                subnets=",".join(
                    network.vpc.select_subnets(subnet_group_name="private").subnet_ids
                ),
                security_groups=",".join(g.security_group_id for g in job_groups),
            )
            services.poller(runner, poller_env(config, runner, target), runs)

        migrations = Migrations(self, "Migrations", services, network, user_env, worker_env)
        for service in services.services:
            service.node.add_dependency(migrations.resource)  # migrate, then roll
        self.monitoring = Monitoring(self, "Monitoring", config, data, edge)

        outputs = {
            "UserApiUrl": f"https://{config.domain}",
            "WorkerApiUrl": f"https://{config.worker_domain}",
            "LoadBalancerDns": edge.alb.load_balancer_dns_name,
            "UserPoolId": accounts.pool.user_pool_id,
            "UserPoolClientId": accounts.client.user_pool_client_id,
            "BucketName": data.bucket.bucket_name,
            "InternalApiKeySecretArn": data.internal_key.secret_arn,
            "DatabaseSecretArn": data.database_secret.secret_arn,
            "ClusterName": cluster.cluster_name,
            "AlarmTopicArn": self.monitoring.topic.topic_arn,
        }
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
