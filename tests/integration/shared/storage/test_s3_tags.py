"""Object tags on what an S3 storage writes (the worker API tags jobs' results, so that
an S3 lifecycle rule can expire them): single PUTs and multipart uploads carry them, and
presigned POSTs carry the `tagging` field S3 applies (moto 5.2 ignores that field, so
here the form and its signed condition are checked); a storage without tags adds none."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from shared.storage import JOB_OUTPUT_TAGS
from shared.storage.s3 import S3Storage
from tests.integration.shared.storage.test_s3_presign import policy_of, post_file


def _tags(s3_client: Any, bucket: str, storage: S3Storage, key: str) -> dict[str, str]:
    answer = s3_client.get_object_tagging(Bucket=bucket, Key=f"{storage.prefix}/{key}")
    return {t["Key"]: t["Value"] for t in answer["TagSet"]}


def test_writes_and_presigned_posts_carry_the_tags(
    make_s3_storage: Callable[..., S3Storage], s3_client: Any, bucket: str
) -> None:
    tagged = make_s3_storage(tags=JOB_OUTPUT_TAGS)
    tagged.write("ada/output/run1/small.txt", io.BytesIO(b"small"))
    tagged.write("ada/output/run1/big.bin", io.BytesIO(b"x" * (9 << 20)))  # multipart
    for key in ("ada/output/run1/small.txt", "ada/output/run1/big.bin"):
        assert _tags(s3_client, bucket, tagged, key) == {"labcloud-kind": "job-output"}, key
    post = tagged.presigned_post("ada/log/run1")
    tag = "<Tag><Key>labcloud-kind</Key><Value>job-output</Value></Tag>"
    xml = f"<Tagging><TagSet>{tag}</TagSet></Tagging>"
    assert post["fields"]["tagging"] == xml
    assert {"tagging": xml} in policy_of(post)["conditions"]  # S3 refuses any other tags
    assert post_file(post, "job.log", b"log\n").status_code in (200, 201, 204)

    plain = make_s3_storage()
    plain.write("ada/data/mine.csv", io.BytesIO(b"1,2\n"))
    assert _tags(s3_client, bucket, plain, "ada/data/mine.csv") == {}
    assert "tagging" not in plain.presigned_post("ada/data")["fields"]
