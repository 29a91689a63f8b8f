"""What keeps the deployment observable and safe to roll: health checks on the new
endpoints, log retention everywhere, the alarms, migrations before any service, and
settings that come from the stack (secrets as ARNs, never as values)."""

from __future__ import annotations

from tests.deploy import cfn

ALARMS = {
    "DeadLetters",
    "JobQueueStuck",
    "UserApi5xx",
    "WorkerApi5xx",
    "LoadBalancer5xx",
    "QueuedJobAge",
    "DatabaseStorageLow",
}


def test_the_load_balancer_checks_readyz_and_containers_healthz(templates) -> None:
    for name, template in templates.items():
        groups = cfn.resources(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
        assert len(groups) == 2, name
        assert {g["Properties"]["HealthCheckPath"] for g in groups.values()} == {"/readyz"}
        for task, container in cfn.containers(template):
            if container["Name"] in ("api", "poller"):
                probe = " ".join(container["HealthCheck"]["Command"])
                assert "/healthz" in probe and probe.startswith("CMD python -c"), (name, task)


def test_http_redirects_and_https_routes_by_host(default) -> None:
    listeners = cfn.resources(default, "AWS::ElasticLoadBalancingV2::Listener").values()
    by_port = {listener["Properties"]["Port"]: listener["Properties"] for listener in listeners}
    assert by_port[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    assert by_port[443]["Protocol"] == "HTTPS"
    rules = cfn.resources(default, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
    hosts = {
        tuple(c["HostHeaderConfig"]["Values"])
        for rule in rules
        for c in rule["Properties"]["Conditions"]
        if c["Field"] == "host-header"
    }
    assert hosts == {("lab.example.org",), ("workers.lab.example.org",)}


def test_every_log_group_has_a_retention_and_every_container_logs_to_one(templates) -> None:
    for name, template in templates.items():
        groups = cfn.resources(template, "AWS::Logs::LogGroup")
        assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {30}, name
        for task, container in cfn.containers(template):
            options = container["LogConfiguration"]["Options"]
            assert options["awslogs-group"]["Ref"] in groups, (name, task)
        for function in cfn.resources(template, "AWS::Lambda::Function").values():
            assert function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] in groups


def test_the_alarms_are_there_and_notify_the_topic(templates) -> None:
    for name, template in templates.items():
        alarms = cfn.resources(template, "AWS::CloudWatch::Alarm")
        assert {cfn.path(template, k).split("/")[1] for k in alarms} == ALARMS, name
        (topic,) = cfn.resources(template, "AWS::SNS::Topic")
        for alarm in alarms.values():
            assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]
    queued = next(
        a
        for k, a in cfn.resources(templates["labcloud-cpu-batch"], "AWS::CloudWatch::Alarm").items()
        if "QueuedJobAge" in k
    )
    metrics = [
        m["MetricStat"]["Metric"] for m in queued["Properties"]["Metrics"] if "MetricStat" in m
    ]
    assert {m["MetricName"] for m in metrics} == {"labcloud_queue_oldest_age_seconds"}
    assert queued["Properties"]["Threshold"] == 3600


def test_the_emf_sidecar_sends_the_gauge_the_alarm_reads(default) -> None:
    (sidecar,) = [c for _task, c in cfn.containers(default) if c["Name"] == "metrics-emf"]
    command = sidecar["Command"]
    assert command[:2] == ["labcloud", "metrics-emf"]
    assert "labcloud_queue_oldest_age_seconds" in command
    assert command[command.index("--dimension") + 1] == "Stack=labcloud-cpu-batch"
    assert sidecar["Essential"] is False  # the API does not stop with it


def test_migrations_run_before_every_service(templates) -> None:
    for name, template in templates.items():
        (migrations,) = cfn.resources(template, "Custom::LabcloudMigrations")
        for logical, service in cfn.resources(template, "AWS::ECS::Service").items():
            assert migrations in service.get("DependsOn", []), (name, logical)
    (task,) = [
        t
        for k, t in cfn.resources(
            templates["labcloud-cpu-batch"], "AWS::ECS::TaskDefinition"
        ).items()
        if "Migrations" in k
    ]
    commands = [c["Command"] for c in task["Properties"]["ContainerDefinitions"]]
    assert commands == [
        ["labcloud", "db", "upgrade", "user", "--create-database"],
        ["labcloud", "db", "upgrade", "worker", "--create-database"],
    ]
