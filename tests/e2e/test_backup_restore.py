"""A lab's `labcloud up` backed up while it runs (to a folder and to S3 on moto),
restored into new folders, started again: every user, job and file is there."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx

from tests.support.processes import REPO, free_port, labcloud_process

PASSWORD = "analysis-42-backup"
USERS = ("ada@example.org", "grace@example.org")


def _env(tmp_path: Path, moto_endpoint: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AUTH", "DATABASE", "LABCLOUD_"))
    }
    env.update(
        AWS_ENDPOINT_URL=moto_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
    )
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labcloud.cli", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _up(data: Path, env: dict[str, str], log: Path):  # type: ignore[no-untyped-def]
    user_port, worker_port = free_port(), free_port()
    args = ["up", "--data-dir", str(data), "--user-port", str(user_port)]
    args += ["--worker-port", str(worker_port)]
    base = f"http://127.0.0.1:{user_port}"
    return base, labcloud_process(args, env, log, ready_url=base + "/healthz")


def _login(base: str, username: str) -> dict[str, str]:
    token = httpx.post(base + "/token", data={"username": username, "password": PASSWORD})
    assert token.status_code == 201, token.text
    return {"Authorization": f"Bearer {token.json()['id_token']}"}


def _state(base: str) -> dict[str, object]:
    """What each user sees: their jobs (id, name, status) and their files (sha256)."""
    seen: dict[str, object] = {}
    for user in USERS:
        headers = _login(base, user)
        jobs = httpx.get(base + "/jobs", headers=headers).json()
        files = {}
        for entry in httpx.get(
            base + "/files/", params={"recursive": True}, headers=headers
        ).json():
            if not entry["path"].endswith("/"):
                body = httpx.get(f"{base}/files/{entry['path']}/download", headers=headers)
                files[entry["path"]] = hashlib.sha256(body.content).hexdigest()
        seen[user] = {
            "jobs": sorted((j["id"], j["job_name"], j["status"]) for j in jobs),
            "files": files,
        }
    return seen


def _run_jobs(base: str) -> None:
    for n, user in enumerate(USERS):
        created = httpx.post(base + "/user", data={"username": user, "password": PASSWORD})
        assert created.status_code in (200, 201), created.text
        headers = _login(base, user)
        files = {"file": ("counts.csv", f"{n},2,3\n4,5,6\n".encode())}
        assert httpx.post(base + "/files/data/exp1/upload", headers=headers, files=files).is_success
        params = {"file": ("params.yaml", b"greeting: hello\n")}
        assert httpx.post(
            base + "/files/config/demo/upload", headers=headers, files=params
        ).is_success
        for run in ("first-run", "second-run"):
            job = {
                "job_name": run,
                "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
                "attributes": {
                    "files_down": {"config_id": "demo/params.yaml", "data_ids": ["exp1/"]}
                },
            }
            answer = httpx.post(base + "/jobs", headers=headers, json=job)
            assert answer.status_code == 201, answer.text
    deadline = time.monotonic() + 120
    while True:
        statuses = [
            j["status"]
            for user in USERS
            for j in httpx.get(base + "/jobs", headers=_login(base, user)).json()
        ]
        if statuses and all(s in ("finished", "error") for s in statuses):
            assert set(statuses) == {"finished"}, statuses
            return
        assert time.monotonic() < deadline, statuses
        time.sleep(0.5)


def test_backup_while_running_then_restore_and_start_again(
    tmp_path: Path, moto_endpoint: str
) -> None:
    env = _env(tmp_path, moto_endpoint)
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing",
                 ).create_bucket(Bucket="lab-backups")  # fmt: skip
    data, backups = tmp_path / "data", tmp_path / "backups"
    base, running = _up(data, env, tmp_path / "up.log")
    with running:
        _run_jobs(base)
        before = _state(base)
        to_folder = _cli(env, "backup", str(backups), "--data-dir", str(data), "--json")
        assert to_folder.returncode == 0, to_folder.stderr
        to_s3 = _cli(env, "backup", "s3://lab-backups/nightly", "--data-dir", str(data), "--json")
        assert to_s3.returncode == 0, to_s3.stderr
        # written after the backups: must not come back
        late = {"file": ("late.csv", b"late\n")}
        httpx.post(base + "/files/data/late/upload", headers=_login(base, USERS[0]), files=late)
    summary = json.loads(to_folder.stdout)
    assert summary["counts"]["jobs"] == 4 and summary["counts"]["users"] >= 4  # + demo, worker
    assert json.loads(to_s3.stdout)["counts"] == summary["counts"]

    restored = tmp_path / "restored"
    done = _cli(env, "restore", str(backups), "--data-dir", str(restored), "--json")
    assert done.returncode == 0, done.stderr
    again = _cli(env, "restore", str(backups), "--data-dir", str(restored))
    assert again.returncode == 2 and "not empty" in again.stderr
    from_s3 = tmp_path / "from-s3"
    done = _cli(env, "restore", "s3://lab-backups/nightly", "--data-dir", str(from_s3), "--json")
    assert done.returncode == 0, done.stderr

    for folder in (restored, from_s3):
        base, running = _up(folder, env, tmp_path / f"{folder.name}.log")
        with running:
            assert _state(base) == before  # every user, job and file; not the late upload
