"""Reading synthesised CloudFormation templates: resources, security-group rules, IAM
statements and container definitions, named by their CDK construct paths."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Template = dict[str, Any]


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def path(template: Template, logical_id: str) -> str:
    """The construct path below the stack (`Network/UserApiSg/Resource`)."""
    full = template["Resources"][logical_id].get("Metadata", {}).get("aws:cdk:path", logical_id)
    return full.split("/", 1)[1] if "/" in full else full


def _group(template: Template, ref: Any) -> str:
    """A security group's short name (`UserApiSg`) from its GetAtt/Ref."""
    if isinstance(ref, dict):
        logical = ref.get("Ref") or ref.get("Fn::GetAtt", [None])[0]
        return path(template, logical).split("/")[-2]
    return str(ref)


def ingress_rules(template: Template) -> set[tuple[str, str, int, int]]:
    """(to group, from group or CIDR, from port, to port) of every ingress rule."""
    rules = set()
    for logical, group in resources(template, "AWS::EC2::SecurityGroup").items():
        name = path(template, logical).split("/")[-2]
        for rule in group["Properties"].get("SecurityGroupIngress", []):
            source = (
                rule.get("CidrIp")
                or rule.get("CidrIpv6")
                or _group(template, rule.get("SourceSecurityGroupId"))
            )
            rules.add((name, source, rule["FromPort"], rule["ToPort"]))
    for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values():
        p = rule["Properties"]
        source = p.get("CidrIp") or _group(template, p.get("SourceSecurityGroupId"))
        rules.add((_group(template, p["GroupId"]), source, p["FromPort"], p["ToPort"]))
    return rules


def iam_statements(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """(construct path, statement) of every identity-policy statement in the template."""
    for logical, policy in resources(template, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            yield path(template, logical), statement
    for logical, role in resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield path(template, logical), statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def containers(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """(task definition path, container definition) of every container."""
    for logical, task in resources(template, "AWS::ECS::TaskDefinition").items():
        for container in task["Properties"]["ContainerDefinitions"]:
            yield path(template, logical), container


def environment(container: dict[str, Any]) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in container.get("Environment", [])}
