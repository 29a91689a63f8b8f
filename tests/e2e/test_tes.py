"""The GA4GH TES API end to end, with py-tes (the PyPI client) as the client: both APIs
and a worker with the docker runner (Podman) as processes on loopback; tasks run in
the local busybox image under its own name and as `alpine` (scripts/setup-podman)."""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import requests
import tes
from fastapi import FastAPI, Request, Response

from tests.e2e.conftest import PASSWORD, Platform, platform, upload
from tests.support.http_server import serve_in_thread
from tests.support.tes_openapi import assert_task_view, assert_valid

pytestmark = pytest.mark.podman

TES = "/ga4gh/tes/v1"
TERMINAL = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED", "PREEMPTED"}
ALLOW = "localhost/labcloud-busybox:*,docker.io/library/alpine:*"


@contextlib.contextmanager
def tes_platform(
    tmp: Path, docker_host: str, both: dict[str, str] | None = None
) -> Iterator[Platform]:
    with platform(
        tmp,
        f"sqlite:///{tmp / 'u.db'}",
        f"sqlite:///{tmp / 'w.db'}",
        both=both,
        user={"TES_IMAGE_ALLOWLIST": ALLOW},
    ) as p:
        # The test's web server is on loopback, which tasks may not reach by default.
        p.start_worker(
            "tes-worker", runners="docker", docker_host=docker_host, tes_allow_loopback_urls="1"
        )
        yield p


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, docker_host: str) -> Iterator[Platform]:
    with tes_platform(tmp_path_factory.mktemp("tes"), docker_host) as p:
        yield p


def tes_account(p: Platform, name: str, groups: tuple[str, ...] = ("users", "tes")) -> str:
    response = httpx.post(
        f"{p.user_url}/user",
        params=[("groups", g) for g in groups],
        data={"username": name, "password": PASSWORD},
        headers={"x-api-key": p.env["INTERNAL_API_KEY_SECRET"]},
    )
    assert response.status_code == 201, response.text
    return name


@pytest.fixture(scope="module")
def user(stack: Platform) -> str:
    return tes_account(stack, f"tes-{uuid.uuid4().hex[:6]}@example.org")


@pytest.fixture(scope="module")
def client(stack: Platform, user: str) -> tes.HTTPClient:
    return tes.HTTPClient(stack.user_url, user=user, password=PASSWORD, timeout=30)


@pytest.fixture(scope="module")
def http(stack: Platform, user: str) -> Iterator[httpx.Client]:
    """The same account over plain HTTP (Basic), for what py-tes does not send."""
    with httpx.Client(base_url=stack.user_url + TES, auth=(user, PASSWORD), timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def files(stack: Platform, user: str) -> Iterator[httpx.Client]:
    """The account's labcloud files API (bearer token)."""
    with httpx.Client(base_url=stack.user_url, timeout=30) as c:
        token = c.post("/token", data={"username": user, "password": PASSWORD}).json()
        c.headers["Authorization"] = f"Bearer {token['id_token']}"
        yield c


def ex(*argv: str, image: str = "alpine", **fields: Any) -> tes.Executor:
    return tes.Executor(image=image, command=list(argv), **fields)


def wait(client: tes.HTTPClient, task_id: str, states: set[str] = TERMINAL) -> tes.Task:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        task = client.get_task(task_id, view="MINIMAL")
        if task.state in states:
            return client.get_task(task_id, view="FULL")
        time.sleep(0.3)
    raise AssertionError(f"task {task_id} still {task.state}")


def ends_as(client: tes.HTTPClient, task_id: str, state: str) -> None:
    """Wait for the task to end and assert its state, showing its logs if it is another."""
    task = wait(client, task_id)
    assert task.state == state, (task.state, [log.system_logs for log in task.logs or []])


def get(http: httpx.Client, task_id: str, view: str) -> dict[str, Any]:
    response = http.get(f"/tasks/{task_id}", params={"view": view})
    assert response.status_code == 200, response.text
    assert_task_view(response.json(), view)
    return response.json()


def download(files: httpx.Client, path: str) -> bytes:
    response = files.get(f"/files/{path}/download")
    assert response.status_code == 200, (path, response.text)
    return response.content


# --- the tests ---------------------------------------------------------------


def test_service_info(client: tes.HTTPClient, http: httpx.Client) -> None:
    info = http.get("/service-info").json()
    assert_valid(info, "tesServiceInfo")
    assert info["type"] == {"group": "org.ga4gh", "artifact": "tes", "version": "1.1.0"}
    assert "gpu_count" in info["tesResources_backend_parameters"]
    assert client.get_service_info().type["artifact"] == "tes"


def test_create_get_in_every_view_and_list_with_filters(
    client: tes.HTTPClient, http: httpx.Client
) -> None:
    run = uuid.uuid4().hex[:6]
    ids = []
    for n, (name, colour) in enumerate([("alpha", "red"), ("alpha", "blue"), ("beta", "red")]):
        task = tes.Task(
            name=f"{run}-{name}-{n}",
            executors=[ex("echo", f"hello {n}")],
            tags={"colour": colour, "run": run},
        )
        ids.append(client.create_task(task))
    failing = client.create_task(
        tes.Task(name=f"{run}-gamma", executors=[ex("false")], tags={"run": run})
    )
    for task_id in ids:
        ends_as(client, task_id, "COMPLETE")
    ends_as(client, failing, "EXECUTOR_ERROR")

    for view in ("MINIMAL", "BASIC", "FULL"):
        shown = get(http, ids[0], view)
        assert shown["id"] == ids[0] and shown["state"] == "COMPLETE"
    full = get(http, ids[0], "FULL")
    assert full["name"] == f"{run}-alpha-0" and full["tags"]["colour"] == "red"
    [log] = full["logs"]
    assert log["logs"][0]["exit_code"] == 0 and log["logs"][0]["stdout"] == "hello 0\n"
    assert log["start_time"] and log["end_time"] and full["creation_time"]
    basic = get(http, ids[0], "BASIC")
    assert "stdout" not in basic["logs"][0]["logs"][0]
    assert client.get_task(ids[0], view="FULL").logs[0].logs[0].exit_code == 0

    def listed(**params: Any) -> list[str]:
        response = http.get("/tasks", params={"tag_key": "run", "tag_value": run, **params})
        assert response.status_code == 200, response.text
        body = response.json()
        assert_valid(body, "tesListTasksResponse", minimal=params.get("view") is None)
        return [t["id"] for t in body["tasks"]]

    newest_first = [failing, *reversed(ids)]
    assert listed() == newest_first
    assert listed(name_prefix=f"{run}-alpha") == [ids[1], ids[0]]
    assert listed(state="EXECUTOR_ERROR") == [failing]
    assert listed(state="COMPLETE") == list(reversed(ids))
    assert listed(state="RUNNING") == []
    assert http.get(
        "/tasks",
        params=[
            ("tag_key", "colour"),
            ("tag_key", "run"),
            ("tag_value", "red"),
            ("tag_value", run),
        ],
    ).json()["tasks"] == [{"id": ids[2], "state": "COMPLETE"}, {"id": ids[0], "state": "COMPLETE"}]
    assert listed(tag_key="colour") == []  # tag colour == the run id: none
    # paging: two at a time, through the tokens, in BASIC view
    seen, token = [], None
    while True:
        params: dict[str, Any] = {"page_size": 2, "view": "BASIC"}
        if token:
            params["page_token"] = token
        body = http.get("/tasks", params={"tag_key": "run", "tag_value": run, **params}).json()
        for task in body["tasks"]:
            assert_task_view(task, "BASIC")
        seen += [t["id"] for t in body["tasks"]]
        token = body.get("next_page_token")
        if not token:
            break
    assert seen == newest_first
    # py-tes' own listing (all of this user's tasks)
    page = client.list_tasks(view="MINIMAL", page_size=2)
    assert len(page.tasks) == 2 and page.next_page_token


def test_cancel_a_running_task(client: tes.HTTPClient, http: httpx.Client) -> None:
    task_id = client.create_task(tes.Task(executors=[ex("sleep", "60")]))
    assert wait(client, task_id, {"RUNNING"}).state == "RUNNING"
    client.cancel_task(task_id)
    assert client.get_task(task_id, view="MINIMAL").state in ("CANCELING", "CANCELED")
    started = time.monotonic()
    ends_as(client, task_id, "CANCELED")
    assert time.monotonic() - started < 30
    assert http.post(f"/tasks/{task_id}:cancel").json() == {}  # again: nothing to do
    assert http.post("/tasks/999999:cancel").status_code == 404


def test_two_executors_share_a_volume(
    client: tes.HTTPClient, http: httpx.Client, files: httpx.Client
) -> None:
    folder = f"output/tes-{uuid.uuid4().hex[:6]}"
    task = tes.Task(
        volumes=["/vol"],
        executors=[
            ex(
                "sh",
                "-c",
                "echo first > /vol/shared.txt && echo to-stderr >&2",
                stderr="/out/first.err",
            ),
            ex(
                "cat",
                "/vol/shared.txt",
                "-",
                image="localhost/labcloud-busybox:test",
                stdin="/in/extra.txt",
                stdout="/out/second.txt",
                workdir="/vol",
                env={"GREETING": "hi"},
            ),
            ex("sh", "-c", 'echo "$GREETING from $(pwd)"', workdir="/vol", env={"GREETING": "hi"}),
        ],
        inputs=[tes.Input(path="/in/extra.txt", content="from stdin\n")],
        outputs=[
            tes.Output(path="/out/second.txt", url=f"file:///{folder}/second.txt"),
            tes.Output(path="/out/first.err", url=f"file:///{folder}/logs/first.err"),
        ],
    )
    task_id = client.create_task(task)
    done = wait(client, task_id)
    assert done.state == "COMPLETE", get(http, task_id, "FULL")
    assert download(files, f"{folder}/second.txt") == b"first\nfrom stdin\n"
    assert download(files, f"{folder}/logs/first.err") == b"to-stderr\n"
    logs = get(http, task_id, "FULL")["logs"][0]
    assert [e["exit_code"] for e in logs["logs"]] == [0, 0, 0]
    assert logs["logs"][2]["stdout"] == "hi from /vol\n"
    assert logs["logs"][0]["stderr"] == "to-stderr\n"
    sizes = {o["url"]: o["size_bytes"] for o in logs["outputs"]}
    assert sizes == {f"file:///{folder}/second.txt": "17", f"file:///{folder}/logs/first.err": "10"}


def test_inputs_by_content_and_file_url_and_a_wildcard_output(
    client: tes.HTTPClient, http: httpx.Client, files: httpx.Client
) -> None:
    upload(files, "data/tes-in", "a.txt", b"alpha\n")
    upload(files, "data/tes-in/sub", "b.txt", b"beta\n")
    out = f"output/wild-{uuid.uuid4().hex[:6]}"
    task = tes.Task(
        inputs=[
            tes.Input(path="/data/one.txt", url="file:///data/tes-in/a.txt"),
            tes.Input(path="/data/dir", url="file:///data/tes-in", type="DIRECTORY"),
            tes.Input(path="/data/inline.txt", content="inline\n"),
        ],
        executors=[
            ex(
                "sh",
                "-c",
                "mkdir -p /work/res/deep && cat /data/one.txt /data/dir/sub/b.txt "
                "/data/inline.txt > /work/res/all.txt && echo x > /work/res/deep/x.txt "
                "&& echo no > /work/res/skip.log",
            ),
        ],
        outputs=[
            tes.Output(path="/work/res/*.txt", path_prefix="/work/res/", url=f"file:///{out}/"),
            tes.Output(path="/work/res/deep", url=f"file:///{out}/deeper", type="DIRECTORY"),
        ],
    )
    task_id = client.create_task(task)
    assert wait(client, task_id).state == "COMPLETE", get(http, task_id, "FULL")
    assert download(files, f"{out}/all.txt") == b"alpha\nbeta\ninline\n"
    assert download(files, f"{out}/deeper/x.txt") == b"x\n"
    listing = files.get(f"/files/{out}/", params={"recursive": True}).json()
    assert not any(f["path"].endswith("skip.log") for f in listing)
    outputs = get(http, task_id, "BASIC")["logs"][0]["outputs"]
    assert {o["path"] for o in outputs} == {"/work/res/all.txt", "/work/res/deep/x.txt"}
    # an input that is not in the user's storage is refused up front
    missing = http.post(
        "/tasks",
        json={
            "executors": [{"image": "alpine", "command": ["true"]}],
            "inputs": [{"path": "/x", "url": "file:///data/nope"}],
        },
    )
    assert missing.status_code == 400 and "does not exist" in missing.json()["detail"]


def test_http_input_and_output(client: tes.HTTPClient, http: httpx.Client) -> None:
    web = FastAPI()
    received: dict[str, bytes] = {}

    @web.get("/in/{name}")
    def give(name: str) -> Response:
        if name != "reads.txt":
            return Response(status_code=404)
        return Response(b"ACGT" * 1000)

    @web.put("/out/{name}")
    async def take(name: str, request: Request) -> Response:
        received[name] = await request.body()
        return Response(status_code=201)

    with serve_in_thread(web) as base:
        task = tes.Task(
            inputs=[tes.Input(path="/in/reads.txt", url=f"{base}/in/reads.txt")],
            executors=[ex("sh", "-c", "wc -c < /in/reads.txt > /out/count.txt")],
            outputs=[tes.Output(path="/out/count.txt", url=f"{base}/out/count.txt")],
        )
        task_id = client.create_task(task)
        assert wait(client, task_id).state == "COMPLETE", get(http, task_id, "FULL")["logs"]
        assert received == {"count.txt": b"4000\n"}
        missing = client.create_task(
            tes.Task(
                inputs=[tes.Input(path="/in/x", url=f"{base}/in/nope")],
                executors=[ex("true")],
            )
        )
        ends_as(client, missing, "SYSTEM_ERROR")
        [log] = get(http, missing, "FULL")["logs"]
        assert any("HTTP 404" in line for line in log["system_logs"]), log


def test_failing_executor_with_and_without_ignore_error(
    client: tes.HTTPClient, http: httpx.Client
) -> None:
    stops = client.create_task(
        tes.Task(executors=[ex("sh", "-c", "echo bad >&2; exit 3"), ex("echo", "never")])
    )
    goes_on = client.create_task(
        tes.Task(executors=[ex("sh", "-c", "exit 3", ignore_error=True), ex("echo", "after")])
    )
    not_found = client.create_task(tes.Task(executors=[ex("ERROR")]))
    ends_as(client, stops, "EXECUTOR_ERROR")
    full = get(http, stops, "FULL")["logs"][0]
    assert [e["exit_code"] for e in full["logs"]] == [3] and full["logs"][0]["stderr"] == "bad\n"
    ends_as(client, goes_on, "COMPLETE")
    full = get(http, goes_on, "FULL")["logs"][0]
    assert [e["exit_code"] for e in full["logs"]] == [3, 0]
    assert full["logs"][1]["stdout"] == "after\n"
    assert any("ignore_error" in line for line in full["system_logs"])
    ends_as(client, not_found, "EXECUTOR_ERROR")
    assert get(http, not_found, "FULL")["logs"][0]["logs"][0]["exit_code"] == 127


def test_backend_parameters_images_groups_and_auth(
    stack: Platform, client: tes.HTTPClient, http: httpx.Client, user: str
) -> None:
    strict = tes.Task(
        executors=[ex("true")],
        resources=tes.Resources(
            backend_parameters={"VmSize": "huge"}, backend_parameters_strict=True
        ),
    )
    with pytest.raises(requests.HTTPError) as refused:
        client.create_task(strict)
    assert refused.value.response.status_code == 400
    assert "VmSize" in refused.value.response.json()["detail"]
    lenient = tes.Task(
        executors=[ex("true")],
        resources=tes.Resources(
            backend_parameters={"VmSize": "huge", "gpu_count": "0"}, cpu_cores=1, ram_gb=0.25
        ),
    )
    task_id = client.create_task(lenient)
    ends_as(client, task_id, "COMPLETE")
    full = get(http, task_id, "FULL")
    assert full["resources"]["backend_parameters"] == {"gpu_count": "0"}
    assert any("VmSize" in line for line in full["logs"][0]["system_logs"])

    other_image = http.post("/tasks", json={"executors": [{"image": "ubuntu", "command": ["x"]}]})
    assert other_image.status_code == 403 and "not allowed" in other_image.json()["detail"]
    outsider = tes_account(stack, f"plain-{uuid.uuid4().hex[:6]}@example.org", ("users",))
    assert httpx.get(f"{stack.user_url}{TES}/tasks", auth=(outsider, PASSWORD)).status_code == 403
    wrong = httpx.get(f"{stack.user_url}{TES}/tasks", auth=(user, "wrong-password-1"))
    assert wrong.status_code == 401 and "Basic" in wrong.headers["www-authenticate"]
    token = httpx.post(
        f"{stack.user_url}/token", data={"username": user, "password": PASSWORD}
    ).json()["id_token"]
    bearer = tes.HTTPClient(stack.user_url, token=token)
    assert bearer.get_task(task_id).state == "COMPLETE"
    assert http.get("/tasks/424242").status_code == 404
    assert (
        http.post("/tasks", content=b"{", headers={"content-type": "application/json"}).status_code
        == 400
    )


def test_s3_inputs_and_outputs_on_moto(
    tmp_path: Path, docker_host: str, moto_endpoint: str, aws_env: None
) -> None:
    bucket = f"labcloud-tes-{uuid.uuid4().hex[:8]}"
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
    with tes_platform(tmp_path, docker_host, both=storage) as p:
        name = tes_account(p, "s3-tes@example.org")
        prefix = f"s3://{bucket}/user_data/{name}"
        s3.put_object(Bucket=bucket, Key=f"user_data/{name}/data/s3in/reads.txt", Body=b"ACGT\n")
        client = tes.HTTPClient(p.user_url, user=name, password=PASSWORD)
        info = client.get_service_info()
        assert f"s3://{bucket}/user_data/" in info.storage
        task = tes.Task(
            inputs=[
                tes.Input(path="/in/reads.txt", url=f"{prefix}/data/s3in/reads.txt"),
                tes.Input(path="/in/inline.txt", content="inline\n"),
            ],
            executors=[ex("sh", "-c", "cat /in/reads.txt /in/inline.txt > /out/both.txt")],
            outputs=[
                tes.Output(path="/out/both.txt", url=f"{prefix}/output/s3out/both.txt"),
                tes.Output(path="/out/*.txt", path_prefix="/out", url="file:///output/s3wild"),
            ],
        )
        task_id = client.create_task(task)
        done = wait(client, task_id)
        assert done.state == "COMPLETE", done
        both = s3.get_object(Bucket=bucket, Key=f"user_data/{name}/output/s3out/both.txt")
        assert both["Body"].read() == b"ACGT\ninline\n"
        wild = s3.get_object(Bucket=bucket, Key=f"user_data/{name}/output/s3wild/both.txt")
        assert (
            hashlib.sha256(wild["Body"].read()).hexdigest()
            == hashlib.sha256(b"ACGT\ninline\n").hexdigest()
        )
        foreign = httpx.post(
            f"{p.user_url}{TES}/tasks",
            auth=(name, PASSWORD),
            json={
                "executors": [{"image": "alpine", "command": ["true"]}],
                "inputs": [{"path": "/x", "url": f"s3://{bucket}/user_data/someone-else/data/x"}],
            },
        )
        assert foreign.status_code == 400, foreign.text
