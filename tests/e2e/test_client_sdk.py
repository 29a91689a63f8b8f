"""The Python SDK (`labcloud.client`) against the real platform: both APIs and a worker
as processes on loopback. A scientist's whole path, then bad input."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import boto3
import httpx
import jwt
import pytest

from labcloud.client import (
    AuthError,
    Client,
    ConflictError,
    Job,
    NotFoundError,
    RequestRejected,
)
from labcloud.client.config import CredentialStore, Session
from tests.e2e.conftest import PASSWORD, Platform, platform

USER = "ada@example.org"


def register(p: Platform, username: str = USER) -> None:
    response = httpx.post(f"{p.user_url}/user", data={"username": username, "password": PASSWORD})
    assert response.status_code == 201, response.text


def sdk(p: Platform, tmp_path: Path) -> Client:
    return Client(p.user_url, store=CredentialStore(tmp_path / "credentials.json"))


def make_inputs(root: Path) -> None:
    (root / "exp1" / "more").mkdir(parents=True)
    (root / "exp1" / "counts.csv").write_text("a,b\n1,2\n3,4\n")
    (root / "exp1" / "more" / "more.txt").write_text("value 10\n")
    (root / "params.yaml").write_text("greeting: hello sdk\n")


def test_a_scientists_path(sqlite_platform: Platform, tmp_path: Path) -> None:
    p = sqlite_platform
    p.start_worker("worker-1")
    register(p)
    lc = sdk(p, tmp_path)
    session = lc.login(USER, PASSWORD, save=True)
    assert session.method == "local" and lc.whoami()["email"] == USER
    assert Client(p.user_url, store=lc.store).whoami()["email"] == USER  # the stored session

    make_inputs(tmp_path / "in")
    report = lc.files.upload(tmp_path / "in" / "exp1", "data")
    assert sorted(report.uploaded) == ["data/exp1/counts.csv", "data/exp1/more/more.txt"]
    lc.files.upload(tmp_path / "in" / "params.yaml", "config/demo")
    listing = lc.files.list("data", recursive=True)
    assert [e.path for e in listing] == [
        "data/exp1/",
        "data/exp1/counts.csv",
        "data/exp1/more/",
        "data/exp1/more/more.txt",
    ]
    again = lc.files.upload(tmp_path / "in" / "exp1", "data")
    assert again.uploaded == [] and len(again.skipped) == 2

    apps = {(e.application, e.version, e.entrypoint): e for e in lc.jobs.applications()}
    assert "DEMO_GREETING" in apps[("demo", "v1", "run")].env

    job = lc.jobs.submit(
        "demo",
        "v1",
        "run",
        name="sdk-run",
        config="config/demo/params.yaml",
        data=["exp1/"],
        env={"DEMO_GREETING": "bonjour"},
    )
    assert job.status == "queued" and job.name == "sdk-run"
    seen: list[str] = []
    final = lc.jobs.wait(job, callback=lambda j: seen.append(j.status), timeout=90)
    assert final.status == "finished", final
    assert seen[0] in ("queued", "pulled", "preprocessing", "running") and seen[-1] == "finished"
    assert lc.jobs.get("sdk-run").id == job.id  # by name too

    history = [s.status for s in lc.jobs.statuses(job)]
    assert history[0] == "queued" and history[-1] == "finished"
    events = list(lc.jobs.follow(job))  # an ended job: its log, then `end`
    assert events[-1].kind == "end" and events[-1].status == "finished"
    assert "bonjour! demo analysis starting" in "".join(e.text for e in events)
    assert "bonjour" in lc.jobs.log(job).text

    results = lc.jobs.download(job, tmp_path / "results")
    assert results == tmp_path / "results" / "sdk-run"
    summary = json.loads((results / "output" / "summary.json").read_text())
    assert summary["greeting"] == "bonjour" and summary["files"] == 2
    assert (results / "log" / "job.log").is_file() and (results / "log" / "demo.log").is_file()
    assert json.loads((results / "model" / "model.json").read_text())["kind"] == "demo-model"

    (tmp_path / "dl").mkdir()  # like cp -r: into an existing folder, else as the name given
    folder = lc.files.download("output/sdk-run", tmp_path / "dl")
    assert folder == tmp_path / "dl" / "sdk-run" and (folder / "output" / "report.txt").is_file()
    named = lc.files.download("output/sdk-run/", tmp_path / "as-named")
    assert (named / "output" / "report.txt").read_bytes() == (
        folder / "output" / "report.txt"
    ).read_bytes()
    one = lc.files.download("output/sdk-run/output/summary.json", tmp_path / "one.json")
    assert json.loads(one.read_text()) == summary

    renamed = lc.files.rename("config/demo/params.yaml", "config/demo/renamed.yaml")
    assert renamed.path == "config/demo/renamed.yaml"
    lc.files.delete("data/exp1/more")
    assert [e.path for e in lc.files.list("data/exp1")] == ["data/exp1/counts.csv"]

    lc.jobs.delete(job)
    with pytest.raises(NotFoundError):
        lc.jobs.get(job.id)
    assert lc.files.stat("output/sdk-run") is None


def test_cancel_a_running_job(sqlite_platform: Platform, tmp_path: Path) -> None:
    p = sqlite_platform
    p.start_worker("worker-1")
    register(p)
    lc = sdk(p, tmp_path)
    lc.login(USER, PASSWORD)
    job = lc.jobs.submit("demo", "v1", "run", env={"DEMO_SLEEP": "60"})
    deadline = time.monotonic() + 60
    while lc.jobs.get(job).status != "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    lc.jobs.cancel(job)
    final: Job = lc.jobs.wait(job, timeout=60)
    assert final.status == "canceled"


def test_bad_input_says_what_the_server_said(sqlite_platform: Platform, tmp_path: Path) -> None:
    p = sqlite_platform
    register(p)
    lc = sdk(p, tmp_path)
    with pytest.raises(AuthError, match="incorrect username or password"):
        lc.login(USER, "wrong-password-1")
    with pytest.raises(AuthError, match="incorrect username or password"):  # as a wrong one
        lc.login("nobody@example.org", PASSWORD)
    with pytest.raises(AuthError, match="not logged in"):
        lc.files.list()

    lc.login(USER, PASSWORD)
    with pytest.raises(NotFoundError, match="404 Not Found: 'data/nope/' is not a directory"):
        lc.files.list("data/nope")
    with pytest.raises(NotFoundError, match="'data/nope.csv' not found"):
        lc.files.download("data/nope.csv", tmp_path)
    with pytest.raises(NotFoundError, match="job not found"):
        lc.jobs.get(424242)
    with pytest.raises(RequestRejected, match="application → version"):
        lc.jobs.submit("demo", "v9", "run")
    with pytest.raises(RequestRejected, match="input data/missing does not exist"):
        lc.jobs.submit("demo", "v1", "run", data=["missing"])
    lc.jobs.submit("demo", "v1", "run", name="twice")
    with pytest.raises(ConflictError, match="already exists"):
        lc.jobs.submit("demo", "v1", "run", name="twice")
    with pytest.raises(FileNotFoundError):
        lc.files.upload(tmp_path / "not-here", "data")


def test_an_expired_session(sqlite_platform: Platform, tmp_path: Path) -> None:
    p = sqlite_platform
    register(p)
    now = int(time.time())
    expired = jwt.encode(
        {
            "sub": USER,
            "username": USER,
            "email": USER,
            "groups": ["users"],
            "iss": "labcloud",
            "aud": "labcloud",
            "iat": now - 7200,
            "exp": now - 3600,
        },
        p.env["AUTH_TOKEN_SECRET"],
        algorithm="HS256",
    )
    store = CredentialStore(tmp_path / "credentials.json")
    # The SDK knows the expiry: it refuses before asking the server.
    with pytest.raises(AuthError, match="expired"):
        Client(p.user_url, expired, store=store).files.list()
    # It does not: the server's 401 says why, and what to do.
    store.save(Session(p.user_url, expired, username=USER))
    with pytest.raises(AuthError, match="expired.*log in again"):
        Client(p.user_url, store=store).files.list()


def test_on_s3_storage(tmp_path: Path, moto_endpoint: str, aws_env: None) -> None:
    """On S3 the SDK uploads through presigned POSTs straight to the bucket; resuming
    and downloads work the same."""
    bucket = f"labcloud-sdk-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", region_name="eu-central-1", endpoint_url=moto_endpoint)
    s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    storage = {
        "FILESYSTEM": "s3",
        "S3_BUCKET": bucket,
        "S3_REGION": "eu-central-1",
        "S3_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "USER_DATA_ROOT_PATH": "user_data",
    }
    db = f"sqlite:///{tmp_path / 'u.db'}", f"sqlite:///{tmp_path / 'w.db'}"
    with platform(tmp_path, *db, both=storage) as p:
        p.start_worker("s3-worker")
        register(p)
        lc = sdk(p, tmp_path)
        lc.login(USER, PASSWORD)
        make_inputs(tmp_path / "in")
        first = lc.files.upload(tmp_path / "in" / "exp1", "data")
        assert sorted(first.uploaded) == ["data/exp1/counts.csv", "data/exp1/more/more.txt"]
        again = lc.files.upload(tmp_path / "in" / "exp1", "data")
        assert again.uploaded == [] and again.resumable and len(again.skipped) == 2
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
        assert f"user_data/{USER}/data/exp1/more/more.txt" in keys

        job = lc.jobs.submit("demo", "v1", "run", name="on-s3", data=["exp1"])
        assert lc.jobs.wait(job, timeout=90).status == "finished"
        results = lc.jobs.download(job, tmp_path / "results")
        assert json.loads((results / "output" / "summary.json").read_text())["files"] == 2
        copy = lc.files.download("data/exp1", tmp_path / "copy")
        assert (copy / "more" / "more.txt").read_text() == "value 10\n"
