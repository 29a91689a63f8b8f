"""The limits on what one job may carry and on what one user may have, on SQLite and
PostgreSQL (the user API through TestClient; the log streams over real HTTP): environment,
inputs, spec size, jobs not ended (also from two API processes at once), live-log
streams, storage quotas with administrators' overrides, and the presigned POST's size
condition on S3 (moto).

Each limit: just under passes, just over is refused with its status and a message
naming its setting, and nothing of the refused request was stored.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.integration.userfacing_api.conftest import API_KEY, PASSWORD, make_settings
from tests.support.databases import fresh_database
from tests.support.http_server import serve_in_thread
from userfacing_api.db.models import Job, OutboxMessage
from userfacing_api.db.session import upgrade
from userfacing_api.main import create_app
from userfacing_api.services.storage_usage import StorageUsage

TES = "/ga4gh/tes/v1"
DEMO = {"application": "demo", "version": "v1", "entrypoint": "run"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        upgrade(url)
        yield url


MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(db_url: str, tmp_path: Path) -> Iterator[MakeClient]:
    """A user API on the test's database with settings overrides (several share it)."""
    opened: list[TestClient] = []

    def _make(**overrides: Any) -> TestClient:
        overrides.setdefault("tes_image_allowlist", "docker.io/library/*")
        client = TestClient(
            create_app(make_settings(db_url, tmp_path, **overrides), run_background=False)
        )
        client.__enter__()
        opened.append(client)
        return client

    yield _make
    for client in opened:
        client.__exit__(None, None, None)
        client.app.state.ctx.engine.dispose()  # type: ignore[attr-defined]


def login(
    client: TestClient, username: str, groups: tuple[str, ...] = ("users",)
) -> dict[str, str]:
    client.post(
        "/user",
        headers={"x-api-key": API_KEY},
        data={"username": username, "password": PASSWORD},
        params=[("groups", g) for g in groups],
    )
    token = client.post("/token", data={"username": username, "password": PASSWORD})
    assert token.status_code == 201, token.text
    return {"Authorization": f"Bearer {token.json()['id_token']}"}


def job(name: str, env: dict[str, str] | None = None, **files_down: Any) -> dict[str, Any]:
    return {
        "job_name": name,
        "application": DEMO,
        "attributes": {"files_down": files_down, "env_vars": env},
    }


def upload(client: TestClient, headers: dict[str, str], where: str, name: str, data: bytes) -> int:
    response = client.post(
        f"/files/{where}/upload", headers=headers, files={"file": (name, io.BytesIO(data))}
    )
    return response.status_code


def stored_jobs(client: TestClient) -> tuple[list[str], int]:
    """The names of all jobs in the database, and the number of outbox messages."""
    with client.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        names = list(session.scalars(select(Job.job_name).order_by(Job.id)))
        return names, session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def refused(response: httpx.Response, status: int, setting: str) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail.endswith(f"({setting})"), detail
    return str(detail)


# --- a job's environment ------------------------------------------------------


def test_a_jobs_environment_is_bounded_per_value_in_total_and_in_number(
    make_client: MakeClient,
) -> None:
    client = make_client(max_env_value_bytes=50, max_job_env_bytes=100, max_job_env_vars=2)
    alice = login(client, "alice@example.org")
    # bytes, not characters: 25 × "é" is 50 bytes
    assert (
        client.post("/jobs", headers=alice, json=job("ok", {"DEMO_GREETING": "é" * 25})).status_code
        == 201
    )
    detail = refused(
        client.post("/jobs", headers=alice, json=job("v", {"DEMO_GREETING": "é" * 25 + "!"})),
        413,
        "MAX_ENV_VALUE_BYTES",
    )
    assert "'DEMO_GREETING' is 51 bytes; at most 50 bytes per value" in detail
    # names and values: 13 + 40 + 10 + 37 = 100 passes, one more byte does not
    exact = {"DEMO_GREETING": "g" * 40, "DEMO_SLEEP": "1" * 37}
    assert client.post("/jobs", headers=alice, json=job("total", exact)).status_code == 201
    refused(
        client.post("/jobs", headers=alice, json=job("t2", {**exact, "DEMO_SLEEP": "1" * 38})),
        413,
        "MAX_JOB_ENV_BYTES",
    )
    three = {"DEMO_GREETING": "a", "DEMO_SLEEP": "1", "DEMO_FAIL": "0"}
    refused(client.post("/jobs", headers=alice, json=job("n", three)), 413, "MAX_JOB_ENV_VARS")
    assert stored_jobs(client) == (["ok", "total"], 2)


def test_a_tes_tasks_environment_counts_every_executors(make_client: MakeClient) -> None:
    client = make_client(max_env_value_bytes=20, max_job_env_vars=3)
    ada = login(client, "ada@example.org", ("users", "tes"))

    def task(*envs: dict[str, str]) -> dict[str, Any]:
        return {"executors": [{"image": "alpine", "command": ["env"], "env": e} for e in envs]}

    ok = client.post(f"{TES}/tasks", headers=ada, json=task({"A": "1", "B": "x" * 20}, {"C": "3"}))
    assert ok.status_code == 200, ok.text
    refused(
        client.post(
            f"{TES}/tasks", headers=ada, json=task({"A": "1", "B": "2"}, {"C": "3", "D": "4"})
        ),
        413,
        "MAX_JOB_ENV_VARS",
    )
    refused(
        client.post(f"{TES}/tasks", headers=ada, json=task({"B": "x" * 21})),
        413,
        "MAX_ENV_VALUE_BYTES",
    )
    names, outbox = stored_jobs(client)
    assert len(names) == 1 and outbox == 1


# --- a job's inputs --------------------------------------------------------------


def test_the_inputs_a_job_names_are_bounded(make_client: MakeClient) -> None:
    client = make_client(max_job_inputs=3)
    alice = login(client, "alice@example.org")
    for name in ("a", "b", "c", "d"):
        assert upload(client, alice, "data", f"{name}.csv", b"1") == 201
    assert upload(client, alice, "artifact", "m.bin", b"1") == 201
    three = job("three", data_ids=["a.csv", "b.csv"], artifact_ids=["m.bin"])
    assert client.post("/jobs", headers=alice, json=three).status_code == 201
    four = job("four", data_ids=["a.csv", "b.csv", "c.csv"], artifact_ids=["m.bin"])
    detail = refused(client.post("/jobs", headers=alice, json=four), 413, "MAX_JOB_INPUTS")
    assert "names 4 inputs; at most 3" in detail

    ada = login(client, "ada@example.org", ("users", "tes"))
    inputs = [{"path": f"/in/{n}", "content": "x"} for n in range(4)]
    outputs = [{"path": f"/out/{n}", "url": f"file:///output/t/{n}"} for n in range(4)]
    hello = {"image": "alpine", "command": ["true"]}
    for field, items in (("inputs", inputs), ("outputs", outputs)):
        ok = client.post(f"{TES}/tasks", headers=ada, json={field: items[:3], "executors": [hello]})
        assert ok.status_code == 200, ok.text
        too_many = client.post(
            f"{TES}/tasks", headers=ada, json={field: items, "executors": [hello]}
        )
        assert f"names 4 {field}" in refused(too_many, 413, "MAX_JOB_INPUTS")
    assert len(stored_jobs(client)[0]) == 3


class CountingStorage:
    """The app's storage, noting how many entries its listings handed out."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.listed = 0

    def list(self, key: str, recursive: bool = False) -> Iterator[Any]:
        for entry in self._inner.list(key, recursive):
            self.listed += 1
            yield entry

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_the_files_a_jobs_inputs_expand_to_are_bounded_and_a_big_folder_not_walked(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(max_job_input_files=5)
    alice = login(client, "alice@example.org")
    for n in range(4):
        assert upload(client, alice, "data/five", f"{n}.csv", b"1") == 201
    assert upload(client, alice, "config", "p.yaml", b"a: 1") == 201
    ok = job("five", config_id="p.yaml", data_ids=["five/"])
    assert client.post("/jobs", headers=alice, json=ok).status_code == 201
    big = tmp_path / "files" / "alice@example.org" / "data" / "big"
    big.mkdir()
    for n in range(300):
        (big / f"{n}.csv").write_bytes(b"1")
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    ctx.storage = counting = CountingStorage(ctx.storage)
    over = job("big", data_ids=["big/"])
    assert "more than 5 files" in refused(
        client.post("/jobs", headers=alice, json=over), 413, "MAX_JOB_INPUT_FILES"
    )
    assert counting.listed <= 6  # the listing stopped at the sixth file

    ada = login(client, "ada@example.org", ("users", "tes"))
    task = {
        "inputs": [{"path": "/in", "url": "file:///data/big", "type": "DIRECTORY"}],
        "executors": [{"image": "alpine", "command": ["ls", "/in"]}],
    }
    adas = tmp_path / "files" / "ada@example.org" / "data" / "big"
    adas.mkdir()
    for n in range(300):
        (adas / f"{n}.csv").write_bytes(b"1")
    refused(client.post(f"{TES}/tasks", headers=ada, json=task), 413, "MAX_JOB_INPUT_FILES")
    assert stored_jobs(client) == (["five"], 1)


def test_a_job_whose_spec_the_worker_api_could_not_take_is_refused(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(max_request_bytes=8192)
    alice = login(client, "alice@example.org")
    folder = tmp_path / "files" / "alice@example.org" / "data" / "long"
    folder.mkdir(parents=True)
    for n in range(12):  # each input is named twice in the spec, ~500 bytes
        (folder / f"{n:03d}-{'x' * 200}.csv").write_bytes(b"1")
    assert (
        client.post("/jobs", headers=alice, json=job("fits", data_ids=["long/"])).status_code == 201
    )
    for n in range(12, 24):
        (folder / f"{n:03d}-{'x' * 200}.csv").write_bytes(b"1")
    detail = refused(
        client.post("/jobs", headers=alice, json=job("too-big", data_ids=["long/"])),
        413,
        "MAX_REQUEST_BYTES",
    )
    assert "the job's spec" in detail
    assert stored_jobs(client) == (["fits"], 1)
    with client.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        payload = session.scalars(select(OutboxMessage.payload)).one()
    assert len(json.dumps(payload, separators=(",", ":")).encode()) <= 8192


# --- jobs not ended per user --------------------------------------------------------


def report(client: TestClient, job_id: int, status: str) -> None:
    response = client.put(
        "/_job_status",
        json={"job_id": job_id, "status": status},
        headers={"x-api-key": API_KEY},
    )
    assert response.status_code == 204, response.text


def test_jobs_not_ended_are_bounded_per_user_tes_tasks_included(make_client: MakeClient) -> None:
    client = make_client(max_queued_jobs_per_user=3)
    ada = login(client, "ada@example.org", ("users", "tes"))
    bob = login(client, "bob@example.org")
    ids = [client.post("/jobs", headers=ada, json=job(f"j{n}")).json()["id"] for n in range(2)]
    hello = {"executors": [{"image": "alpine", "command": ["true"]}]}
    assert client.post(f"{TES}/tasks", headers=ada, json=hello).status_code == 200
    detail = refused(
        client.post("/jobs", headers=ada, json=job("j3")), 429, "MAX_QUEUED_JOBS_PER_USER"
    )
    assert "you have 3 jobs that have not ended; at most 3" in detail
    refused(client.post(f"{TES}/tasks", headers=ada, json=hello), 429, "MAX_QUEUED_JOBS_PER_USER")
    assert client.post("/jobs", headers=bob, json=job("bobs")).status_code == 201  # per user
    assert len(stored_jobs(client)[0]) == 4

    report(client, ids[0], "finished")  # an ended job no longer counts
    assert client.post("/jobs", headers=ada, json=job("j3")).status_code == 201
    refused(client.post("/jobs", headers=ada, json=job("j4")), 429, "MAX_QUEUED_JOBS_PER_USER")


def test_the_job_limit_holds_across_api_processes_submitting_at_once(
    make_client: MakeClient,
) -> None:
    apps = [make_client(max_queued_jobs_per_user=5) for _ in range(2)]
    alice = login(apps[0], "alice@example.org")
    statuses: list[int] = []
    start = threading.Barrier(12)

    def submit(n: int) -> None:
        start.wait()
        statuses.append(apps[n % 2].post("/jobs", headers=alice, json=job(f"c{n}")).status_code)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(statuses) == [201] * 5 + [429] * 7
    names, outbox = stored_jobs(apps[0])
    assert len(names) == 5 and outbox == 5


# --- live-log streams per user ------------------------------------------------------


def test_live_log_streams_are_bounded_per_user(db_url: str, tmp_path: Path) -> None:
    app = create_app(
        make_settings(db_url, tmp_path, max_log_streams_per_user=2), run_background=False
    )
    with TestClient(app) as setup:
        alice = login(setup, "alice@example.org")
        bob = login(setup, "bob@example.org")
        job_id = setup.post("/jobs", headers=alice, json=job("follow")).json()["id"]
        bobs_job = setup.post("/jobs", headers=bob, json=job("bobs")).json()["id"]
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        path = f"/jobs/{job_id}/logs/stream"

        def open_stream(headers: dict[str, str], at: str = path) -> Any:
            stream = http.stream("GET", at, headers=headers)
            response = stream.__enter__()
            return stream, response

        held = [open_stream(alice) for _ in range(2)]
        # kept: a line iterator let go of closes its stream (httpcore does on GeneratorExit)
        lines = [response.iter_lines() for _stream, response in held]
        for (_stream, response), read in zip(held, lines, strict=True):
            assert response.status_code == 200
            assert next(read).startswith("event:")  # streaming
        third, answer = open_stream(alice)
        answer.read()
        assert answer.status_code == 429
        assert answer.json()["detail"].endswith("(MAX_LOG_STREAMS_PER_USER)")
        third.__exit__(None, None, None)
        others, theirs = open_stream(bob, f"/jobs/{bobs_job}/logs/stream")  # per user
        assert theirs.status_code == 200
        others.__exit__(None, None, None)

        held[0][0].__exit__(None, None, None)  # a closed stream gives its slot back
        deadline = time.monotonic() + 30
        while True:
            stream, response = open_stream(alice)
            if response.status_code == 200:
                break
            response.read()
            stream.__exit__(None, None, None)
            assert time.monotonic() < deadline, "the closed stream's slot never came back"
            time.sleep(0.1)
        stream.__exit__(None, None, None)
        held[1][0].__exit__(None, None, None)
    app.state.ctx.engine.dispose()


# --- storage quotas ------------------------------------------------------------------


def test_uploads_and_new_jobs_are_held_to_the_storage_quota(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(storage_quota_bytes=1000)
    alice = login(client, "alice@example.org")
    assert upload(client, alice, "data", "a.bin", b"a" * 600) == 201
    over = client.post("/files/data/upload", headers=alice, files={"file": ("b.bin", b"b" * 401)})
    detail = refused(over, 507, "STORAGE_QUOTA_BYTES")
    assert "1001 bytes" in detail and "1000 bytes" in detail
    assert upload(client, alice, "data", "b.bin", b"b" * 400) == 201  # exactly full
    user_dir = tmp_path / "files" / "alice@example.org"
    assert sorted(p.name for p in (user_dir / "data").iterdir()) == ["a.bin", "b.bin"]
    assert not any((tmp_path / "files" / ".labcloud-tmp").iterdir())
    me = client.get("/user", headers=alice).json()
    assert (me["storage_used"], me["storage_quota"]) == (1000, 1000)

    # full: no upload (not even an empty file), no upload URL, no new job
    refused(
        client.post("/files/data/upload", headers=alice, files={"file": ("e", b"")}),
        507,
        "STORAGE_QUOTA_BYTES",
    )
    refused(client.post("/files/data/url", headers=alice), 507, "STORAGE_QUOTA_BYTES")
    refused(client.post("/jobs", headers=alice, json=job("j")), 507, "STORAGE_QUOTA_BYTES")
    assert stored_jobs(client) == ([], 0)
    # replacing a file counts the difference only
    assert client.delete("/files/data/b.bin", headers=alice).status_code == 204
    assert upload(client, alice, "data", "a.bin", b"a" * 900) == 201
    assert client.get("/user", headers=alice).json()["storage_used"] == 900
    assert client.post("/jobs", headers=alice, json=job("j")).status_code == 201


def test_job_outputs_count_toward_the_quota_and_can_take_a_user_over_it(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(storage_quota_bytes=1000, storage_usage_max_age=60)
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    now = [0.0]
    ctx.usage = StorageUsage(ctx.storage, 60, clock=lambda: now[0])
    alice = login(client, "alice@example.org")
    assert upload(client, alice, "data", "a.bin", b"a" * 500) == 201
    # what the worker API stores for a job, straight into storage
    outputs = tmp_path / "files" / "alice@example.org" / "output" / "run"
    outputs.mkdir(parents=True)
    (outputs / "result.h5").write_bytes(b"r" * 700)
    assert client.get("/user", headers=alice).json()["storage_used"] == 500  # not seen yet
    now[0] += 61  # older than STORAGE_USAGE_MAX_AGE: measured again
    assert client.get("/user", headers=alice).json()["storage_used"] == 1200
    refused(
        client.post("/files/data/upload", headers=alice, files={"file": ("x", b"1")}),
        507,
        "STORAGE_QUOTA_BYTES",
    )
    refused(client.post("/jobs", headers=alice, json=job("next")), 507, "STORAGE_QUOTA_BYTES")
    assert client.get("/files/output/run/result.h5/download", headers=alice).status_code == 200
    assert client.delete("/files/output/run", headers=alice).status_code == 204
    assert client.post("/jobs", headers=alice, json=job("next")).status_code == 201


def test_storage_usage_is_measured_once_not_on_every_upload(make_client: MakeClient) -> None:
    client = make_client(storage_quota_bytes=10_000)
    alice = login(client, "alice@example.org")
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    counting = CountingStorage(ctx.storage)
    ctx.usage._storage = counting  # what measuring lists
    for n in range(5):
        assert upload(client, alice, "data/many", f"{n}.bin", b"x" * 100) == 201
    walks_after_first = counting.listed
    for n in range(5, 10):
        assert upload(client, alice, "data/many", f"{n}.bin", b"x" * 100) == 201
    assert counting.listed == walks_after_first  # the later uploads walked nothing
    assert client.get("/user", headers=alice).json()["storage_used"] == 1000


def test_administrators_set_quotas_per_user_and_per_group(make_client: MakeClient) -> None:
    client = make_client(storage_quota_bytes=1000)
    # local accounts know only labcloud's groups; Cognito's may be any
    alice = login(client, "alice@example.org", ("users", "tes"))
    root = login(client, "root@example.org", ("users", "admin"))
    key = {"x-api-key": API_KEY}

    def quota() -> int:
        return int(client.get("/user", headers=alice).json()["storage_quota"])

    assert (
        client.put(
            "/admin/quotas/users/alice@example.org", headers=alice, json={"quota_bytes": 9}
        ).status_code
        == 403
    )
    assert client.get("/admin/quotas").status_code == 401
    assert (
        client.put(
            "/admin/quotas/groups/users", headers=root, json={"quota_bytes": 3000}
        ).status_code
        == 200
    )
    assert (
        client.put("/admin/quotas/groups/tes", headers=key, json={"quota_bytes": 5000}).status_code
        == 200
    )
    assert quota() == 5000  # the largest of the user's groups'
    assert upload(client, alice, "data", "big.bin", b"x" * 4000) == 201
    mine = client.put(
        "/admin/quotas/users/alice@example.org", headers=key, json={"quota_bytes": 2000}
    )
    assert mine.status_code == 200 and mine.json()["quota_bytes"] == 2000
    assert quota() == 2000  # the user's own wins over the groups'
    refused(
        client.post("/files/data/upload", headers=alice, files={"file": ("y", b"1")}),
        507,
        "STORAGE_QUOTA_BYTES",
    )
    report = client.get("/admin/quotas/users/alice@example.org", headers=root).json()
    assert report == {
        "username": "alice@example.org",
        "quota_bytes": 2000,
        "source": "user",
        "groups": ["tes", "users"],
        "used_bytes": 4000,
    }
    bad = client.put("/admin/quotas/users/alice@example.org", headers=key, json={"quota_bytes": -1})
    assert bad.status_code == 422
    assert client.delete("/admin/quotas/users/alice@example.org", headers=key).status_code == 204
    assert client.delete("/admin/quotas/users/alice@example.org", headers=key).status_code == 404
    assert quota() == 5000
    listed = client.get("/admin/quotas", headers=root).json()
    assert listed["default_bytes"] == 1000
    assert [(q["kind"], q["name"], q["quota_bytes"]) for q in listed["quotas"]] == [
        ("group", "tes", 5000),
        ("group", "users", 3000),
    ]


def test_a_presigned_post_carries_the_size_limit_and_what_is_left_of_the_quota(
    make_client: MakeClient, moto_endpoint: str, aws_env: None
) -> None:
    import boto3

    bucket = f"limits-{uuid.uuid4().hex[:12]}"  # one per test: the moto server is shared
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    client = make_client(
        filesystem="s3",
        s3_bucket=bucket,
        s3_region="us-east-1",
        s3_endpoint_url=moto_endpoint,
        user_data_root_path="user_data",
        max_upload_bytes=5000,
        storage_quota_bytes=8000,
    )
    alice = login(client, "alice@example.org")

    def size_condition() -> list[Any]:
        reply = client.post("/files/data/url", headers=alice)
        assert reply.status_code == 201, reply.text
        policy = json.loads(base64.b64decode(reply.json()["data"]["policy"]))
        return [
            c
            for c in policy["conditions"]
            if isinstance(c, list) and c[0] == "content-length-range"
        ]

    assert size_condition() == [["content-length-range", 0, 5000]]  # MAX_UPLOAD_BYTES
    assert upload(client, alice, "data", "a.bin", b"a" * 5000) == 201
    assert size_condition() == [["content-length-range", 0, 3000]]  # what is left
    refused(
        client.post("/files/data/upload", headers=alice, files={"file": ("b", b"b" * 3001)}),
        507,
        "STORAGE_QUOTA_BYTES",
    )
    assert upload(client, alice, "data", "b.bin", b"b" * 3000) == 201
    refused(client.post("/files/data/url", headers=alice), 507, "STORAGE_QUOTA_BYTES")
    assert client.get("/user", headers=alice).json()["storage_used"] == 8000


def test_a_closed_account_leaves_no_quota_to_a_new_account_of_its_name(
    make_client: MakeClient,
) -> None:
    client = make_client(storage_quota_bytes=1000)
    alice = login(client, "alice@example.org")
    key = {"x-api-key": API_KEY}
    assert (
        client.put(
            "/admin/quotas/users/alice@example.org", headers=key, json={"quota_bytes": 50_000}
        ).status_code
        == 200
    )
    assert client.get("/user", headers=alice).json()["storage_quota"] == 50_000
    assert client.delete("/user", headers=alice).status_code == 204
    again = login(client, "alice@example.org")
    assert client.get("/user", headers=again).json()["storage_quota"] == 1000
    report = client.get("/admin/quotas/users/alice@example.org", headers=key).json()
    assert report["source"] != "user"
