"""A moto S3 server on 127.0.0.1 for the storage tests, and a fresh bucket per test.

Nothing here can reach real AWS: every client is pointed at the moto server with
`endpoint_url`, and the credentials are dummies.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from shared.storage.s3 import S3Storage

REGION = "eu-central-1"
PREFIX = "user_data"
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture
def s3_client(moto_endpoint: str) -> Any:
    return boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint, **DUMMY_CREDENTIALS)


@pytest.fixture
def bucket(s3_client: Any) -> Iterator[str]:
    """A new empty bucket; emptied and removed afterwards so the server stays small."""
    name = f"labcloud-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    yield name
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=name):
        objects = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if objects:
            s3_client.delete_objects(Bucket=name, Delete={"Objects": objects})
    s3_client.delete_bucket(Bucket=name)


@pytest.fixture
def make_s3_storage(aws_env: None, moto_endpoint: str, bucket: str) -> Callable[..., S3Storage]:
    """S3Storage built the way the application builds it (region + endpoint_url)."""

    def make(prefix: str = PREFIX, **options: Any) -> S3Storage:
        return S3Storage(bucket, prefix, region=REGION, endpoint_url=moto_endpoint, **options)

    return make


@pytest.fixture
def object_names(s3_client: Any, bucket: str) -> Callable[[], set[str]]:
    """Every object name in the test's bucket, as S3 itself has them."""

    def names() -> set[str]:
        found: set[str] = set()
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            found.update(obj["Key"] for obj in page.get("Contents", []))
        return found

    return names
