"""The app's parameters (CDK context): defaults, conversions, and bad values named."""

from __future__ import annotations

import pytest

from tests.support import cdk

cdk.app_on_path()

from labcloud_stack.config import ConfigError, StackConfig  # noqa: E402

BASE = {"domain": "lab.example.org", "image": "ghcr.io/lab/labcloud:1", "certificateArn": "arn:c"}


def _from(**context: object) -> StackConfig:
    values = {**BASE, **context}
    return StackConfig.from_context(lambda key: values.get(key))


def test_defaults_and_conversions() -> None:
    config = _from(gpu="true", jobRunners="ecs, batch", sessions="0", logRetentionDays="90")
    assert config.worker_domain == "workers.lab.example.org"
    assert config.gpu is True and config.sessions is False
    assert config.runners == ("batch", "ecs") and config.log_retention_days == 90
    assert config.ecr_image is None
    ecr = _from(image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/lab/labcloud:0.1.0")
    assert ecr.ecr_image == {
        "account": "123456789012",
        "region": "eu-west-1",
        "repository": "lab/labcloud",
        "tag": "0.1.0",
    }
    assert _from(sessions="yes", jobRunners="batch").runners == ("batch", "ecs")  # ECS runs them
    assert _from(settings="EMAIL_SENDER_SERVICE=,TES_GROUP=tes").extra == {
        "EMAIL_SENDER_SERVICE": "",
        "TES_GROUP": "tes",
    }


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"domain": None}, "context domain is required"),
        ({"certificateArn": None}, "certificateArn"),
        ({"size": "huge"}, "context size"),
        ({"jobRunners": "slurm"}, "context jobRunners"),
        ({"gpu": "maybe"}, "context gpu: expected true or false"),
        ({"logRetentionDays": "31"}, "context logRetentionDays"),
        ({"image": "ghcr.io/lab/labcloud"}, "name a tag"),
        ({"stackName": "lab_cloud"}, "context stackName"),
    ],
)
def test_a_bad_parameter_is_named(context: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _from(**context)


def test_a_hosted_zone_replaces_the_certificate() -> None:
    config = _from(certificateArn=None, hostedZoneId="Z123", hostedZoneName="example.org")
    assert config.hosted_zone and config.certificate_arn is None


def test_the_variants_cover_every_switch_and_size() -> None:
    names = [name for name, _config in _from().variants()]
    assert len(names) == len(set(names)) == 27
    configs = [config for _name, config in _from().variants()]
    assert {(c.gpu, c.job_runners, c.sessions, c.scaled) for c in configs[:24]} == {
        (g, r, s, x)
        for g in (False, True)
        for r in (("batch",), ("ecs",), ("batch", "ecs"))
        for s in (False, True)
        for x in (False, True)
    }
    assert all(len(c.stack_name) <= 41 for c in configs)
