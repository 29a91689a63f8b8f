"""On S3 storage, every key the APIs hand out — presigned GETs, presigned POST key
prefixes and their policy conditions — lies in the caller's own folder (the user's,
or the job's for a worker), through the real user API and worker API on moto's S3.

(moto checks no POST policy condition; real S3 enforces the `starts-with` condition
checked here, see tests/integration/shared/storage/test_s3_presign.py.)
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import boto3  # type: ignore[import-untyped]
import pytest

from tests.support.two_apis import TwoApis, two_apis

ALICE, BOB = "alice@example.org", "bob@example.org"
REGION, PREFIX = "eu-central-1", "user_data"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def apis(
    request: pytest.FixtureRequest, tmp_path: Path, moto_endpoint: str, aws_env: None
) -> Iterator[TwoApis]:
    bucket = f"labcloud-keys-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    storage = dict(
        filesystem="s3",
        s3_bucket=bucket,
        s3_region=REGION,
        s3_endpoint_url=moto_endpoint,
        user_data_root_path=PREFIX,
    )
    with two_apis(request.param, tmp_path, **storage) as both:
        yield both


def policy_prefix(post: dict[str, Any]) -> str:
    """The key prefix a presigned POST's signed policy binds the upload to."""
    policy = json.loads(base64.b64decode(post["data"]["policy"]))
    conditions = [c for c in policy["conditions"] if isinstance(c, list)]
    (prefix,) = [c[2] for c in conditions if c[:2] == ["starts-with", "$key"]]
    assert post["data"]["key"].startswith(prefix)
    return str(prefix)


def object_key(url: str) -> str:
    """The object a presigned GET (path-style, as on moto) names."""
    return unquote(urlsplit(url).path).split("/", 2)[2]


def put(apis: TwoApis, headers: dict[str, str], folder: str, name: str) -> None:
    reply = apis.user.post(
        f"/files/{folder}/upload", headers=headers, files={"file": (name, io.BytesIO(b"x"))}
    )
    assert reply.status_code == 201, reply.text


def test_the_user_api_presigns_only_the_callers_keys(apis: TwoApis) -> None:
    alice, bob = apis.login(ALICE), apis.login(BOB)
    put(apis, alice, "data/exp", "a.csv")
    put(apis, bob, "data/exp", "b.csv")
    post = apis.user.post("/files/data/exp/url", headers=alice)
    assert post.status_code == 201, post.text
    assert policy_prefix(post.json()) == f"{PREFIX}/{ALICE}/data/exp/"
    get = apis.user.get("/files/data/exp/a.csv/url", headers=alice)
    assert object_key(get.json()["url"]) == f"{PREFIX}/{ALICE}/data/exp/a.csv"
    # bob's file is not alice's to name, however the path is spelled
    assert apis.user.get("/files/data/exp/b.csv/url", headers=alice).status_code == 404
    for path in (f"%2e%2e/{BOB}/data/exp/b.csv", f"data/%2e%2e/%2e%2e/{quote(BOB)}/data"):
        assert apis.user.get(f"/files/{path}/url", headers=alice).status_code == 400
        assert apis.user.post(f"/files/data/{path}/url", headers=alice).status_code == 400


def test_the_worker_api_presigns_only_its_jobs_keys(apis: TwoApis) -> None:
    alice, worker = apis.login(ALICE), apis.login("ws-1", ("workers",))
    put(apis, alice, "data/exp", "a.csv")
    name = f"run-{uuid.uuid4().hex[:8]}"
    body = {
        "job_name": name,
        "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
        "attributes": {"files_down": {"data_ids": ["exp/a.csv"]}, "env_vars": {}},
    }
    job_id, payload = apis.submit(alice, body)
    (uri,) = payload["job"]["handler"]["files_down"].values()
    apis.hold(worker, job_id, payload)

    get = apis.worker.get(f"/files/{quote(uri, safe='')}/url", headers=worker)
    assert get.status_code == 200, get.text
    assert object_key(get.json()["url"]) == f"{PREFIX}/{ALICE}/data/exp/a.csv"
    post = apis.worker.post(
        f"/jobs/{job_id}/files/url", params={"type": "output", "base_path": "sub"}, headers=worker
    )
    assert post.status_code == 201, post.text
    assert policy_prefix(post.json()) == f"{PREFIX}/{ALICE}/output/{name}/sub/"
    escape = apis.worker.post(
        f"/jobs/{job_id}/files/url",
        params={"type": "output", "base_path": f"../../../{BOB}/data"},
        headers=worker,
    )
    assert escape.status_code == 400


def test_the_worker_api_presigns_no_input_outside_the_owners_folder(apis: TwoApis) -> None:
    alice, bob = apis.login(ALICE), apis.login(BOB)
    worker = apis.login("ws-1", ("workers",))
    put(apis, bob, "data", "secret.csv")
    body = {
        "job_name": f"run-{uuid.uuid4().hex[:8]}",
        "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
        "attributes": {"files_down": {}, "env_vars": {}},
    }
    job_id, payload = apis.submit(alice, body)
    bucket = payload["paths_upload"]["output"].split("/")[2]
    bobs = f"s3://{bucket}/{PREFIX}/{BOB}/data/secret.csv"
    # a message the user API never builds: the worker API holds the line by itself
    payload["job"]["handler"]["files_down"] = {"data/secret.csv": bobs}
    apis.hold(worker, job_id, payload)
    reply = apis.worker.get(f"/files/{quote(bobs, safe='')}/url", headers=worker)
    assert reply.status_code == 403, reply.text
    assert "url" not in reply.json() and f"outside '{ALICE}'" in reply.json()["detail"]
