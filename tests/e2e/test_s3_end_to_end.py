"""The whole platform with FILESYSTEM=s3 on moto's S3 server: uploads, listings,
presigned transfers for the frontend and for the worker, zip of a folder, and a job."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path

import boto3
import httpx

from tests.e2e.conftest import platform, submit, upload, wait_for


def test_a_job_on_s3_storage(tmp_path: Path, moto_endpoint: str, aws_env: None) -> None:
    bucket = f"labcloud-e2e-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", region_name="eu-central-1", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket=bucket,
                     CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    storage = {"FILESYSTEM": "s3", "S3_BUCKET": bucket, "S3_REGION": "eu-central-1",
               "S3_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "USER_DATA_ROOT_PATH": "user_data"}
    with platform(tmp_path, f"sqlite:///{tmp_path / 'u.db'}", f"sqlite:///{tmp_path / 'w.db'}",
                  both=storage) as p:
        p.start_worker("s3-worker")
        http = p.user_client()
        upload(http, "data/exp", "counts.csv", b"1,2\n3,4\n")
        upload(http, "config/demo", "params.yaml", b"greeting: s3\n")
        listing = http.get("/files/data/", params={"recursive": True}).json()
        assert {"path": "data/exp/counts.csv", "type": "file", "size": "8 Bytes"} in listing

        # the frontend's way: presigned POST straight to the bucket, then presigned GET
        post = http.post("/files/data/exp/url").json()
        assert post["url"].startswith(moto_endpoint) and "policy" in {k.lower() for k in
                                                                      post["data"]}
        sent = httpx.post(post["url"], data={**post["data"]},
                          files={"file": ("direct.txt", io.BytesIO(b"direct upload"))})
        assert sent.status_code in (200, 201, 204), sent.text
        get = http.get("/files/data/exp/direct.txt/url").json()
        assert httpx.get(get["url"], headers=get["headers"]).content == b"direct upload"

        job = submit(http, "on-s3", files_down={"config_id": "demo/params.yaml",
                                                "data_ids": ["exp"]})
        done = wait_for(http, job["id"], {"finished", "error", "canceled"})
        assert done["status"] == "finished", done
        summary = json.loads(http.get("/files/output/on-s3/output/summary.json/download").content)
        assert summary["files"] == 2 and summary["config"] == {"greeting": "s3"}
        archive = zipfile.ZipFile(io.BytesIO(http.get("/files/output/on-s3/download").content))
        assert "output/summary.json" in archive.namelist()
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "user_data/ada@example.org/output/on-s3/output/summary.json" in keys
