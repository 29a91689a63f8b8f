"""The AWS deployment on emulators: Cognito accounts, S3 storage, SQS between the
APIs, Mailjet email, and a cloud job run as an AWS Batch job by the worker API's
in-process poller — plus a workstation worker that logs in to Cognito directly.

Everything AWS is moto's server on 127.0.0.1; moto's Batch runs the job's
container in Podman, with the job directory as a host-path volume (standing in
for EFS, which moto cannot mount). The Mailjet stand-in is a local HTTP server.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

from tests.e2e.conftest import PASSWORD, platform, upload, wait_for
from tests.support.http_server import serve_in_thread
from tests.support.mailjet import FlakyMailjet
from tests.support.moto_batch import REGION, create_batch_queue, run_batch_containers_in_podman
from tests.support.processes import REPO

pytestmark = pytest.mark.podman


def _cognito_pool(endpoint: str) -> tuple[str, str]:
    idp = boto3.client("cognito-idp", region_name=REGION, endpoint_url=endpoint)
    lenient = {
        "MinimumLength": 8,
        "RequireUppercase": False,
        "RequireLowercase": False,
        "RequireNumbers": False,
        "RequireSymbols": False,
    }
    pool = idp.create_user_pool(
        PoolName=f"labcloud-{uuid.uuid4().hex[:6]}", Policies={"PasswordPolicy": lenient}
    )["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="labcloud", ExplicitAuthFlows=["USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    for group in ("users", "workers", "cloud"):
        idp.create_group(GroupName=group, UserPoolId=pool)
    return pool, client_id


def _catalogue(path: Path, image: str) -> Path:
    """The repo's demo application plus one container application for the cloud."""
    apps = yaml.safe_load((REPO / "application_config.yaml").read_text())
    cloudapp = {
        "app": {
            "cmd": [
                "mkdir -p /files/output &&",
                "find /files/data -type f | xargs wc -c > /files/output/sizes.txt &&",
                "echo ran on batch: $AWS_BATCH_JOB_ID",
            ],
            "env": [],
        },
        "handler": {
            "image_url": image,
            "files_down": {"config_id": "config", "data_ids": "data", "artifact_ids": "artifact"},
            "files_up": {"output": "output", "log": "log"},
        },
        "aws_resources": {"hardware": {"MEMORY": 128, "VCPU": 1, "GPU": 0}, "timeout": 600},
    }
    sleeper = {**cloudapp, "app": {"cmd": ["sleep 120"], "env": []}}
    path.write_text(
        yaml.safe_dump(
            {"demo": apps["demo"], "cloudapp": {"v1": {"run": cloudapp, "sleep": sleeper}}}
        )
    )
    return path


def test_a_cloud_job_on_aws_batch_and_a_local_one_with_cognito_workers(
    tmp_path: Path,
    moto_endpoint: str,
    aws_env: None,
    docker_host: str,
    test_image: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_batch_containers_in_podman(monkeypatch, docker_host)
    pool, client_id = _cognito_pool(moto_endpoint)
    bucket = f"labcloud-aws-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)
    batch_queue = create_batch_queue(moto_endpoint)
    app_config = _catalogue(tmp_path / "apps.yaml", test_image)
    cognito = {
        "COGNITO_REGION": REGION,
        "COGNITO_USER_POOL_ID": pool,
        "COGNITO_CLIENT_ID": client_id,
        "COGNITO_JWKS_URL": f"{moto_endpoint}/{pool}/.well-known/jwks.json",
        "COGNITO_ENDPOINT_URL": moto_endpoint,
    }
    aws = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_endpoint,  # boto3's own setting: every client to moto
    }
    both = {
        **aws,
        **cognito,
        "FILESYSTEM": "s3",
        "S3_BUCKET": bucket,
        "S3_REGION": REGION,
        "S3_ENDPOINT_URL": moto_endpoint,
        "USER_DATA_ROOT_PATH": "user_data",
        "JOB_TRANSPORT": "sqs://testing:testing@" + moto_endpoint.removeprefix("http://"),
        "JOB_TRANSPORT_QUEUE": f"lc-aws-{uuid.uuid4().hex[:8]}",
        "JOB_TRANSPORT_OPTIONS": json.dumps(
            {"is_secure": False, "region": REGION, "wait_time_seconds": 1}
        ),
    }
    efs = tmp_path / "efs"
    mailjet = FlakyMailjet()
    with serve_in_thread(mailjet.app) as mail_url:
        user = {
            "EMAIL_SENDER_SERVICE": "mailjet",
            "EMAIL_SENDER_ADDRESS": "noreply@lab.example",
            "EMAIL_SENDER_API_KEY": "mj-key",
            "EMAIL_SENDER_SECRET_KEY": "mj-secret",
            "EMAIL_SENDER_API_URL": mail_url,
        }
        with platform(
            tmp_path,
            f"sqlite:///{tmp_path / 'u.db'}",
            f"sqlite:///{tmp_path / 'w.db'}",
            app_config=app_config,
            both=both,
            user=user,
            CLOUD_POLLERS="batch:2",
            LABCLOUD_WORKER_BATCH_JOB_QUEUE=batch_queue,
            LABCLOUD_WORKER_EFS_VOLUME="host",
            LABCLOUD_WORKER_SCRATCH_DIR=str(efs),
            LABCLOUD_WORKER_AWS_REGION=REGION,
            LABCLOUD_WORKER_HEARTBEAT_INTERVAL="1",
        ) as p:
            # A workstation worker that logs in to Cognito itself (its AUTH_URL is dead).
            p.start_worker(
                "ws-cognito",
                runners="process",
                auth_url="http://127.0.0.1:9",
                cognito_client_id=client_id,
                cognito_region=REGION,
            )
            http = p.user_client()  # POST /user and /token go to Cognito
            upload(http, "data/exp", "counts.csv", b"1,2\n3,4\n")
            upload(http, "config/demo", "params.yaml", b"greeting: aws\n")

            cloud = _submit(http, "on-batch", "cloudapp", "v1", "run", "cloud", ["exp"])
            local = _submit(http, "on-workstation", "demo", "v1", "run", "local", ["exp"])
            cloud_done = wait_for(http, cloud["id"], {"finished", "error", "canceled"}, 120)
            local_done = wait_for(http, local["id"], {"finished", "error", "canceled"}, 60)
            assert cloud_done["status"] == "finished", cloud_done
            assert local_done["status"] == "finished", local_done

            sizes = http.get("/files/output/on-batch/output/sizes.txt/download")
            assert sizes.status_code == 200 and b"counts.csv" in sizes.content
            job_log = http.get("/files/log/on-batch/log/job.log/download").text
            assert "ran on batch:" in job_log  # the CloudWatch log reached the user

            with sqlite3.connect(tmp_path / "u.db") as db:
                statuses = [
                    row[0]
                    for row in db.execute(
                        "SELECT status FROM job_status_events WHERE job_id = ? ORDER BY id",
                        (cloud["id"],),
                    )
                ]
            assert statuses[-1] == "finished"
            assert statuses.index("preprocessing") < statuses.index("running")
            worker_log = (p.tmp / "worker-api.log").read_text()
            assert "submitted as AWS Batch job" in worker_log
            assert "logged in as ws-cognito" in (p.tmp / "ws-cognito.log").read_text()

            # cancel reaches the Batch job: TerminateJob
            long = _submit(http, "long-on-batch", "cloudapp", "v1", "sleep", "cloud", ["exp"])
            wait_for(http, long["id"], {"running"}, 120)
            assert http.post(f"/jobs/{long['id']}/cancel").status_code == 202
            assert (
                wait_for(http, long["id"], {"canceled", "error", "finished"}, 60)["status"]
                == "canceled"
            )
            batch = boto3.client("batch", region_name=REGION, endpoint_url=moto_endpoint)
            # the poller hears of the cancel at its next heartbeat, then terminates the job
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                stopped = batch.list_jobs(jobQueue=batch_queue, jobStatus="FAILED")
                if stopped["jobSummaryList"]:
                    break
                time.sleep(0.5)
            reasons = [j.get("statusReason") for j in stopped["jobSummaryList"]]
            assert reasons == ["stopped by labcloud"]

            wait_until_emails(mailjet, 3)
        subjects = " | ".join(mailjet.subjects)
        assert "on-batch" in subjects and "on-workstation" in subjects
        assert subjects.count("finished") == 2 and subjects.count("canceled") == 1
    keys = {
        o["Key"]
        for o in boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint).list_objects_v2(
            Bucket=bucket
        )["Contents"]
    }
    assert "user_data/ada@example.org/output/on-batch/output/sizes.txt" in keys
    assert not list(efs.glob("worker-*/*"))  # job directories on EFS cleaned up
    # the worker's password never appears in any log
    for log in tmp_path.glob("*.log"):
        assert PASSWORD not in log.read_text()


def _submit(http, name, application, version, entrypoint, environment, data_ids):
    body = {
        "job_name": name,
        "environment": environment,
        "application": {"application": application, "version": version, "entrypoint": entrypoint},
        "attributes": {"files_down": {"config_id": "demo/params.yaml", "data_ids": data_ids}},
    }
    response = http.post("/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def wait_until_emails(mailjet: FlakyMailjet, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(mailjet.subjects) < count and time.monotonic() < deadline:
        time.sleep(0.2)
