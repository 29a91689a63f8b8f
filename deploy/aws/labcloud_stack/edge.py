"""The way in: an internet-facing application load balancer over both zones, HTTPS only.

`domain` goes to the user API and `workerDomain` to the worker API (the APIs share paths
such as `/jobs`, so they are told apart by host name); HTTP is redirected to HTTPS;
`/metrics` is answered 404 for both (Prometheus scrapes inside the VPC, and the APIs ask
for the internal key anyway); any other host gets 404. Target groups check `/readyz`.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from constructs import Construct

from labcloud_stack.config import StackConfig
from labcloud_stack.network import Network

HEALTH_PATH = "/readyz"


class Edge(Construct):
    def __init__(self, scope: Construct, cid: str, config: StackConfig, network: Network) -> None:
        super().__init__(scope, cid)
        self.config = config
        zone = None
        if config.hosted_zone:
            zone = route53.HostedZone.from_hosted_zone_attributes(
                self,
                "Zone",
                hosted_zone_id=config.hosted_zone_id or "",
                zone_name=config.hosted_zone_name or "",
            )
        if config.certificate_arn:
            certificate = acm.Certificate.from_certificate_arn(
                self, "Certificate", config.certificate_arn
            )
        else:
            certificate = acm.Certificate(
                self,
                "Certificate",
                domain_name=config.domain,
                subject_alternative_names=[config.worker_domain],
                validation=acm.CertificateValidation.from_dns(zone),
            )
        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=network.vpc,
            internet_facing=True,
            security_group=network.alb,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            drop_invalid_header_fields=True,
            idle_timeout=Duration.seconds(120),  # long polls (30 s) and SSE keep-alives (15 s)
        )
        self.https = self.alb.add_listener(
            "Https",
            port=443,
            open=False,  # the security group's own rules say who may connect
            certificates=[elbv2.ListenerCertificate.from_certificate_manager(certificate)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_action=elbv2.ListenerAction.fixed_response(
                404, content_type="text/plain", message_body="unknown host"
            ),
        )
        self.alb.add_listener(
            "Http",
            port=80,
            open=False,
            default_action=elbv2.ListenerAction.redirect(protocol="HTTPS", port="443"),
        )
        self.https.add_action(
            "HideMetrics",
            priority=5,
            conditions=[elbv2.ListenerCondition.path_patterns(["/metrics", "/metrics/*"])],
            action=elbv2.ListenerAction.fixed_response(404, content_type="text/plain"),
        )
        self.target_groups: dict[str, elbv2.ApplicationTargetGroup] = {}
        if zone is not None:
            for name, host in (("User", config.domain), ("Worker", config.worker_domain)):
                route53.ARecord(
                    self,
                    f"{name}Record",
                    zone=zone,
                    record_name=host,
                    target=route53.RecordTarget.from_alias(targets.LoadBalancerTarget(self.alb)),
                )

    def route(self, api: str, service: ecs.FargateService, port: int, priority: int) -> None:
        """Send the API's host name to `service`, checking its `/readyz`."""
        host = self.config.domain if api == "user" else self.config.worker_domain
        group = elbv2.ApplicationTargetGroup(
            self,
            f"{api.title()}Targets",
            vpc=self.alb.vpc,
            port=port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            targets=[service],
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path=HEALTH_PATH,
                healthy_http_codes="200",
                interval=Duration.seconds(30),
                timeout=Duration.seconds(10),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )
        self.https.add_target_groups(
            f"{api.title()}Host",
            priority=priority,
            conditions=[elbv2.ListenerCondition.host_headers([host])],
            target_groups=[group],
        )
        self.target_groups[api] = group
