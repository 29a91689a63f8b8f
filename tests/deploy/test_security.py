"""What the deployment lets in and what it lets each role do, on every variant: data
encrypted at rest and in transit, no public bucket, security groups open only from the
load balancer to the APIs and from the services to the database (plus NFS from the
pollers and their jobs, and the sessions' proxy), no wildcard IAM action, and `*`
resources only for the calls that have no resource-level permissions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy import cfn
from tests.support import cdk

API_PORTS = {"UserApiSg": 8000, "WorkerApiSg": 8001}
#: Every ingress rule a deployment may have: (to, from, first port, last port).
ALLOWED_INGRESS = {
    ("AlbSg", "0.0.0.0/0", 443, 443),
    ("AlbSg", "0.0.0.0/0", 80, 80),
    ("UserApiSg", "AlbSg", 8000, 8000),
    ("WorkerApiSg", "AlbSg", 8001, 8001),
    ("DatabaseSg", "UserApiSg", 5432, 5432),
    ("DatabaseSg", "WorkerApiSg", 5432, 5432),
    ("DatabaseSg", "CelerySg", 5432, 5432),
    ("DatabaseSg", "MigrationsSg", 5432, 5432),
    ("EfsSg", "PollerSg", 2049, 2049),
    ("EfsSg", "JobSg", 2049, 2049),
    ("EfsSg", "SessionSg", 2049, 2049),
    ("SessionSg", "UserApiSg", 1024, 65535),
}
#: Calls that have no resource-level permissions (or whose resource this stack cannot
#: name), the only ones allowed on "*" (each is commented where it is granted).
STAR_RESOURCE_ACTIONS = {
    "ecr:GetAuthorizationToken",
    "batch:DescribeJobs",
    "batch:DescribeJobDefinitions",
    "batch:ListJobs",
    "ecs:RegisterTaskDefinition",
    "ecs:DeregisterTaskDefinition",
    "ecs:DescribeTaskDefinition",
    "ecs:ListTasks",
    # the ECS agent on Batch's GPU instances (Batch names their cluster itself)
    "ecs:RegisterContainerInstance",
    "ecs:DeregisterContainerInstance",
    "ecs:DiscoverPollEndpoint",
    "ecs:Poll",
    "ecs:StartTelemetrySession",
    "ecs:UpdateContainerInstancesState",
    "ecs:SubmitAttachmentStateChanges",
    "ecs:SubmitContainerStateChange",
    "ecs:SubmitTaskStateChange",
}


@pytest.fixture(scope="module")
def assertions() -> Any:
    cdk.cdk_library()
    from aws_cdk import assertions

    return assertions


def test_data_is_encrypted_and_the_bucket_is_private(default, assertions) -> None:
    template = assertions.Template.from_json(default)
    match = assertions.Match
    template.has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "StorageEncrypted": True,
            "PubliclyAccessible": False,
            "DeletionProtection": True,
            "BackupRetentionPeriod": 7,
            "Engine": "postgres",
        },
    )
    template.resource_count_is("AWS::S3::Bucket", 1)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {
                "Rules": match.array_with(
                    [
                        match.object_like(
                            {
                                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                                "Status": "Enabled",
                            }
                        )
                    ]
                )
            },
        },
    )
    # TLS only, for the bucket and every queue
    deny_plain = match.object_like(
        {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    )
    for kind in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy"):
        template.all_resources_properties(
            kind, {"PolicyDocument": {"Statement": match.array_with([deny_plain])}}
        )
    template.all_resources_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})
    template.all_resources_properties("AWS::EFS::FileSystem", {"Encrypted": True})
    template.resource_count_is("AWS::SecretsManager::Secret", 3)  # database, key, token


def test_output_expiry_is_a_lifecycle_rule_when_asked(templates) -> None:
    (bucket,) = cfn.resources(templates["labcloud-size-small"], "AWS::S3::Bucket").values()
    rules = {r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-outputs"]["ExpirationInDays"] == 30
    # the tag the worker API puts on jobs' results, and nothing else
    from shared.storage import JOB_OUTPUT_TAGS

    assert rules["expire-outputs"]["TagFilters"] == [
        {"Key": k, "Value": v} for k, v in JOB_OUTPUT_TAGS.items()
    ]
    assert "Prefix" not in rules["expire-outputs"]
    (plain,) = cfn.resources(templates["labcloud-cpu-batch"], "AWS::S3::Bucket").values()
    assert [r["Id"] for r in plain["Properties"]["LifecycleConfiguration"]["Rules"]] == [
        "abort-incomplete-uploads"
    ]


def test_only_the_allowed_ways_in(templates) -> None:
    for name, template in templates.items():
        rules = cfn.ingress_rules(template)
        assert rules <= ALLOWED_INGRESS, (name, rules - ALLOWED_INGRESS)
        # the load balancer reaches each API, and every API/Celery/migration the database
        assert {r for r in rules if r[0] in API_PORTS} == {
            (group, "AlbSg", port, port) for group, port in API_PORTS.items()
        }, name
        sessions = "sessions" in name
        assert (("SessionSg", "UserApiSg", 1024, 65535) in rules) == sessions, name


def test_the_database_is_in_isolated_subnets_and_only_its_group(default) -> None:
    (db,) = cfn.resources(default, "AWS::RDS::DBInstance").values()
    (group_ref,) = db["Properties"]["VPCSecurityGroups"]
    assert cfn.path(default, group_ref["Fn::GetAtt"][0]) == "Network/DatabaseSg/Resource"
    (subnets,) = cfn.resources(default, "AWS::RDS::DBSubnetGroup").values()
    for ref in subnets["Properties"]["SubnetIds"]:
        assert "/databaseSubnet" in cfn.path(default, ref["Ref"])


def test_no_wildcard_actions_and_star_resources_only_where_needed(templates) -> None:
    for name, template in templates.items():
        for where, statement in cfn.iam_statements(template):
            if statement["Effect"] != "Allow":
                continue
            actions = cfn.as_list(statement["Action"])
            assert not [a for a in actions if "*" in a], (name, where, actions)
            if "*" in cfn.as_list(statement.get("Resource", [])):
                assert set(actions) <= STAR_RESOURCE_ACTIONS, (name, where, actions)
        for role in cfn.resources(template, "AWS::IAM::Role").values():
            assert "ManagedPolicyArns" not in role["Properties"], name  # all spelled out


def test_each_service_has_its_own_task_role(default) -> None:
    tasks = cfn.resources(default, "AWS::ECS::TaskDefinition")
    roles = [t["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0] for t in tasks.values()]
    assert len(roles) == len(set(roles)) == len(tasks)


def test_only_the_user_api_may_manage_accounts_and_only_pollers_start_runs(templates) -> None:
    template = templates["labcloud-gpu-batch-ecs-sessions-scaled"]
    for where, statement in cfn.iam_statements(template):
        actions = cfn.as_list(statement["Action"])
        owner = where.split("/")[1]
        if any(a.startswith("cognito-idp:") for a in actions):
            assert owner == "UserApiTask", where
        if any(a.startswith(("batch:", "ecs:RunTask", "ecs:StopTask")) for a in actions):
            assert owner in ("BatchPollerTask", "EcsPollerTask", "RunnerRole"), where


def test_with_a_hosted_zone_the_stack_makes_its_certificate_and_records(
    assertions, tmp_path
) -> None:
    import aws_cdk as core
    from labcloud_stack.config import StackConfig
    from labcloud_stack.stack import LabcloudStack

    config = StackConfig(
        domain="lab.example.org",
        image="ghcr.io/lab/labcloud:1",
        hosted_zone_id="Z0123456789",
        hosted_zone_name="example.org",
    )
    stack = LabcloudStack(core.App(outdir=str(tmp_path)), "zoned", config)
    template = assertions.Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::CertificateManager::Certificate",
        {
            "DomainName": "lab.example.org",
            "SubjectAlternativeNames": ["workers.lab.example.org"],
            "ValidationMethod": "DNS",
        },
    )
    for host in ("lab.example.org.", "workers.lab.example.org."):
        template.has_resource_properties(
            "AWS::Route53::RecordSet",
            {"Name": host, "Type": "A", "HostedZoneId": "Z0123456789"},
        )
    # an image outside ECR: no ECR permission at all
    statements = [s for _w, s in cfn.iam_statements(template.to_json())]
    assert not [
        s for s in statements if any(a.startswith("ecr:") for a in cfn.as_list(s["Action"]))
    ]
