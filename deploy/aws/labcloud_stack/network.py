"""The VPC over two availability zones, and every security group with its only ways in.

Ingress, all of it: the internet → the load balancer (443, and 80 for the redirect);
the load balancer → the user API (8000) and the worker API (8001); the APIs, their
Celery services and the migrations task → PostgreSQL (5432); the cloud pollers and
the jobs they start → EFS (2049); with sessions, the user API → session tasks (their
app's port). Nothing else reaches anything: the pollers, Celery and the jobs take no
connections at all. Services reach each other through the load balancer (HTTPS).
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from labcloud_stack.config import StackConfig

USER_API_PORT = 8000
WORKER_API_PORT = 8001
POSTGRES_PORT = 5432
NFS_PORT = 2049
SESSION_PORTS = (1024, 65535)  # a session app listens on the port its catalogue entry names


class Network(Construct):
    def __init__(self, scope: Construct, cid: str, config: StackConfig) -> None:
        super().__init__(scope, cid)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            # The default security group is used by nothing here; restricting it would
            # cost a helper Lambda function with a broad logging role.
            restrict_default_security_group=False,
            nat_gateways=config.sizes.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
                ),
                ec2.SubnetConfiguration(
                    name="database", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
                ),
            ],
            # S3 traffic (uploads, downloads, outputs) skips the NAT gateway: free, faster.
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
        )

        def group(name: str, description: str) -> ec2.SecurityGroup:
            return ec2.SecurityGroup(
                self, name, vpc=self.vpc, description=description, allow_all_outbound=True
            )

        self.alb = group("AlbSg", "labcloud load balancer: HTTPS from anywhere")
        self.user_api = group("UserApiSg", "labcloud user API: from the load balancer")
        self.worker_api = group("WorkerApiSg", "labcloud worker API: from the load balancer")
        self.database = group("DatabaseSg", "labcloud PostgreSQL: from the services")
        self.efs = group("EfsSg", "labcloud EFS: from the cloud pollers and their jobs")
        self.pollers = group("PollerSg", "labcloud cloud pollers: no ingress")
        self.jobs = group("JobSg", "labcloud cloud jobs (Batch, ECS): no ingress")
        self.celery = group("CelerySg", "labcloud Celery worker and beat: no ingress")
        self.migrations = group("MigrationsSg", "labcloud migrations task: no ingress")

        anyone = ec2.Peer.any_ipv4()
        self.alb.add_ingress_rule(anyone, ec2.Port.tcp(443), "HTTPS")
        self.alb.add_ingress_rule(anyone, ec2.Port.tcp(80), "HTTP, redirected to HTTPS")
        self.user_api.add_ingress_rule(self.alb, ec2.Port.tcp(USER_API_PORT), "from the ALB")
        self.worker_api.add_ingress_rule(self.alb, ec2.Port.tcp(WORKER_API_PORT), "from the ALB")
        for client, why in (
            (self.user_api, "user API"),
            (self.worker_api, "worker API"),
            (self.celery, "Celery"),
            (self.migrations, "migrations"),
        ):
            self.database.add_ingress_rule(client, ec2.Port.tcp(POSTGRES_PORT), why)
        for client, why in ((self.pollers, "cloud pollers"), (self.jobs, "cloud jobs")):
            self.efs.add_ingress_rule(client, ec2.Port.tcp(NFS_PORT), why)
        self.sessions: ec2.SecurityGroup | None = None
        if config.sessions:
            self.sessions = group("SessionSg", "labcloud sessions: from the user API proxy")
            self.sessions.add_ingress_rule(
                self.user_api, ec2.Port.tcp_range(*SESSION_PORTS), "the user API proxy"
            )
            self.efs.add_ingress_rule(self.sessions, ec2.Port.tcp(NFS_PORT), "sessions")

    @property
    def private_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
