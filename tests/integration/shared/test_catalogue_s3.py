"""APPLICATION_CONFIG_FILE=s3://…: read from moto's S3 and reloaded when it changes."""

from __future__ import annotations

import boto3

from shared.app_config import catalogue_s3

APP = """
{name}:
  v1:
    run:
      app: {{cmd: ["echo hi"]}}
      handler: {{runner: process}}
"""


def test_catalogue_in_s3_reloads_and_keeps_the_last_good(moto_endpoint: str,
                                                          aws_env: None) -> None:
    s3 = boto3.client("s3", region_name="eu-central-1", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="lc-config",
                     CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    s3.put_object(Bucket="lc-config", Key="apps/application_config.yaml",
                  Body=APP.format(name="first").encode())
    source = catalogue_s3("s3://lc-config/apps/application_config.yaml", client=s3,
                          min_check_interval_s=0)
    assert list(source.get().root) == ["first"]
    s3.put_object(Bucket="lc-config", Key="apps/application_config.yaml",
                  Body=APP.format(name="second").encode())
    assert list(source.get().root) == ["second"]
    s3.put_object(Bucket="lc-config", Key="apps/application_config.yaml", Body=b"second: [")
    assert list(source.get().root) == ["second"]  # invalid edit: the last good stays


def test_checks_are_rate_limited(moto_endpoint: str, aws_env: None) -> None:
    s3 = boto3.client("s3", region_name="eu-central-1", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="lc-config2",
                     CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    s3.put_object(Bucket="lc-config2", Key="a.yaml", Body=APP.format(name="one").encode())
    source = catalogue_s3("s3://lc-config2/a.yaml", client=s3, min_check_interval_s=3600)
    s3.put_object(Bucket="lc-config2", Key="a.yaml", Body=APP.format(name="two").encode())
    assert list(source.get().root) == ["one"]  # not asked again within the interval
