"""The GA4GH TES API of the user API on SQLite and PostgreSQL (TestClient): tasks as
jobs, views and lists checked against the specification's OpenAPI document, states
from the jobs' statuses, auth (bearer, Basic, group) and the image allowlist."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.jobs.specs import SubmittedJob
from tests.integration.userfacing_api.conftest import API_KEY, PASSWORD, Login, make_settings
from tests.support.tes_openapi import assert_task_view, assert_valid
from userfacing_api.db.models import OutboxMessage
from userfacing_api.settings import UserAPISettings

TES = "/ga4gh/tes/v1"
HELLO = {"executors": [{"image": "alpine", "command": ["echo", "hello"]}]}


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> UserAPISettings:
    return make_settings(db_url, tmp_path, tes_image_allowlist="docker.io/library/*, quay.io/x/*")


@pytest.fixture
def ada(login: Login) -> dict[str, str]:
    return login("ada@example.org", groups=("users", "tes"))


def basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def create(client: TestClient, headers: dict[str, str], body: dict[str, Any] = HELLO) -> str:
    response = client.post(f"{TES}/tasks", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert_valid(response.json(), "tesCreateTaskResponse")
    return str(response.json()["id"])


def report(client: TestClient, task_id: str, status: str, details: str | None = None) -> None:
    response = client.put(
        "/_job_status",
        json={"job_id": int(task_id), "status": status, "runtime_details": details},
        headers={"x-api-key": API_KEY},
    )
    assert response.status_code == 204, response.text


def state(client: TestClient, headers: dict[str, str], task_id: str) -> str:
    response = client.get(f"{TES}/tasks/{task_id}", headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["state"])


def test_service_info_needs_no_login(client: TestClient) -> None:
    info = client.get(f"{TES}/service-info").json()
    assert_valid(info, "tesServiceInfo")
    assert info["storage"] == ["file:///"]


def test_a_task_is_a_job_with_its_spec_in_the_outbox(
    client: TestClient, ada: dict[str, str], storage_root: Path
) -> None:
    body = {
        "name": "count",
        "inputs": [{"path": "/data/in.txt", "content": "1\n2\n"}],
        "outputs": [{"path": "/data/out.txt", "url": "file:///output/counting/out.txt"}],
        "executors": [
            {"image": "alpine", "command": ["wc", "-l", "/data/in.txt"], "stdout": "/data/out.txt"}
        ],
        "resources": {
            "cpu_cores": 2,
            "ram_gb": 0.5,
            "backend_parameters": {"gpu_count": "1", "GPU_MODEL": "A100"},
        },
        "tags": {"project": "p1"},
    }
    task_id = create(client, ada, body)
    job = client.get(f"/jobs/{task_id}", headers=ada).json()
    assert job["application"]["application"] == "ga4gh-tes" and job["status"] == "queued"
    with client.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        [message] = session.query(OutboxMessage).filter_by(job_id=int(task_id)).all()
        spec = SubmittedJob.model_validate(message.payload)
    assert spec.job.handler.runner == "docker" and spec.job.handler.gpus == 1
    assert spec.job.hardware.cpu_cores == 2 and spec.job.hardware.memory == 512
    assert spec.job.hardware.gpu_model == "A100"
    tes_spec = spec.job.handler.tes
    assert tes_spec is not None and tes_spec.executors[0].stdout == "/data/out.txt"
    assert tes_spec.outputs[0].store == "out.txt"
    assert spec.paths_upload.output == "local://ada@example.org/output/counting"
    full = client.get(f"{TES}/tasks/{task_id}", params={"view": "FULL"}, headers=ada).json()
    assert_task_view(full, "FULL")
    assert full["inputs"][0]["content"] == "1\n2\n" and "logs" not in full
    assert full["resources"]["backend_parameters"] == {"gpu_count": "1", "GPU_MODEL": "A100"}
    basic_view = client.get(f"{TES}/tasks/{task_id}", params={"view": "basic"}, headers=ada)
    assert_task_view(basic_view.json(), "BASIC")
    assert client.get(f"{TES}/tasks/{task_id}", headers=ada).json() == {
        "id": task_id,
        "state": "QUEUED",
    }


def test_states_follow_the_job(client: TestClient, ada: dict[str, str]) -> None:
    ids = [create(client, ada) for _ in range(5)]
    report(client, ids[0], "pulled")
    assert state(client, ada, ids[0]) == "INITIALIZING"
    report(client, ids[0], "running")
    assert state(client, ada, ids[0]) == "RUNNING"
    report(client, ids[0], "finished")
    assert state(client, ada, ids[0]) == "COMPLETE"
    report(client, ids[1], "running", "lease renewed")
    report(client, ids[1], "error", "exit code 2 (executor 1 of 1)\nno such file")
    assert state(client, ada, ids[1]) == "EXECUTOR_ERROR"
    report(client, ids[2], "error", "input missing: data/x")
    assert state(client, ada, ids[2]) == "SYSTEM_ERROR"
    assert client.post(f"{TES}/tasks/{ids[3]}:cancel", headers=ada).json() == {}
    assert state(client, ada, ids[3]) == "CANCELING"
    report(client, ids[3], "canceled")
    assert state(client, ada, ids[3]) == "CANCELED"
    full = client.get(f"{TES}/tasks/{ids[2]}", params={"view": "FULL"}, headers=ada).json()
    assert_task_view(full, "FULL")
    assert full["logs"][0]["system_logs"] == ["input missing: data/x"]
    assert "end_time" in full["logs"][0]


def test_the_worker_task_log_shows_in_the_views(
    client: TestClient, ada: dict[str, str], storage_root: Path
) -> None:
    task_id = create(client, ada)
    report(client, task_id, "running")
    name = client.get(f"/jobs/{task_id}", headers=ada).json()["job_name"]
    log = {
        "start_time": "2024-05-01T10:00:00Z",
        "end_time": "2024-05-01T10:00:05Z",
        "logs": [
            {
                "start_time": "2024-05-01T10:00:01Z",
                "end_time": "2024-05-01T10:00:02Z",
                "exit_code": 0,
                "stdout": "hello\n",
                "stderr": "",
            }
        ],
        "outputs": [{"url": "file:///o/x", "path": "/o/x", "size_bytes": "6"}],
        "metadata": {"worker_id": "w"},
        "system_logs": [],
    }
    path = storage_root / "ada@example.org" / "log" / name / "tes-task.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(log))
    report(client, task_id, "finished")
    full = client.get(f"{TES}/tasks/{task_id}", params={"view": "FULL"}, headers=ada).json()
    assert_task_view(full, "FULL")
    assert full["logs"][0]["logs"][0]["stdout"] == "hello\n"
    assert full["logs"][0]["outputs"][0]["size_bytes"] == "6"
    path.write_text("{not json")  # the user may edit their files: the view still works
    assert_task_view(
        client.get(f"{TES}/tasks/{task_id}", params={"view": "BASIC"}, headers=ada).json(), "BASIC"
    )


def test_list_filters_and_pages(client: TestClient, ada: dict[str, str], login: Login) -> None:
    ids = []
    for n in range(7):
        ids.append(
            create(
                client,
                ada,
                {
                    **HELLO,
                    "name": f"{'even' if n % 2 == 0 else 'odd'}-{n}",
                    "tags": {"n": str(n), "group": "g" if n < 4 else "h"},
                },
            )
        )
    report(client, ids[6], "running")
    report(client, ids[5], "error", "exit code 1")
    regular = client.post(
        "/jobs",
        headers=ada,
        json={
            "job_name": "plain",
            "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
        },
    )
    assert regular.status_code == 201, regular.text
    create(client, login("bob@example.org", groups=("users", "tes")))  # someone else's

    def ids_of(params: Any) -> list[str]:
        response = client.get(f"{TES}/tasks", params=params, headers=ada)
        assert response.status_code == 200, response.text
        assert_valid(response.json(), "tesListTasksResponse", minimal=True)
        return [t["id"] for t in response.json()["tasks"]]

    newest = list(reversed(ids))
    assert ids_of({}) == newest
    assert ids_of({"name_prefix": "odd"}) == [ids[5], ids[3], ids[1]]
    assert ids_of({"state": "RUNNING"}) == [ids[6]]
    assert ids_of({"state": "EXECUTOR_ERROR"}) == [ids[5]]
    assert ids_of({"state": "QUEUED"}) == newest[2:]
    assert ids_of({"state": "PAUSED"}) == []
    assert ids_of([("tag_key", "group"), ("tag_value", "g")]) == [ids[3], ids[2], ids[1], ids[0]]
    assert ids_of(
        [("tag_key", "group"), ("tag_key", "n"), ("tag_value", "h"), ("tag_value", "4")]
    ) == [ids[4]]
    assert ids_of([("tag_key", "n")]) == newest
    assert ids_of([("tag_key", "nope")]) == []
    pages, token = [], None
    while True:
        params = {"page_size": 3, "view": "BASIC", **({"page_token": token} if token else {})}
        body = client.get(f"{TES}/tasks", params=params, headers=ada).json()
        for task in body["tasks"]:
            assert_task_view(task, "BASIC")
        pages.append([t["id"] for t in body["tasks"]])
        token = body.get("next_page_token")
        if token is None:
            break
    assert pages == [newest[0:3], newest[3:6], newest[6:7]]
    assert ids_of({"name_prefix": "even", "page_size": 2}) == [ids[6], ids[4]]
    for bad in (
        {"page_size": 0},
        {"page_size": 5000},
        {"page_token": "x"},
        {"view": "ALL"},
        {"state": "DONE"},
        [("tag_value", "v")],
    ):
        assert client.get(f"{TES}/tasks", params=bad, headers=ada).status_code == 400, bad


def test_auth_groups_and_images(client: TestClient, ada: dict[str, str], login: Login) -> None:
    assert client.get(f"{TES}/tasks").status_code == 401
    assert client.post(f"{TES}/tasks", content=b"{").status_code == 401
    assert client.get(f"{TES}/tasks", headers=basic("ada@example.org")).status_code == 200
    wrong = client.get(f"{TES}/tasks", headers=basic("ada@example.org", "nope-1234"))
    assert wrong.status_code == 401 and "Basic" in wrong.headers["www-authenticate"]
    assert client.get(f"{TES}/tasks", headers=basic("nobody@example.org")).status_code == 401
    garbled = client.get(f"{TES}/tasks", headers={"Authorization": "Basic ***"})
    assert garbled.status_code == 401
    plain = login("carol@example.org")
    refused = client.get(f"{TES}/tasks", headers=plain)
    assert refused.status_code == 403 and "'tes' group" in refused.json()["detail"]
    for image in ("ghcr.io/o/ubuntu:22.04", "quay.io/y/z", "evil.io/library/alpine"):
        body = {"executors": [{"image": image, "command": ["true"]}]}
        response = client.post(f"{TES}/tasks", json=body, headers=ada)
        assert response.status_code == 403 and image in response.json()["detail"], image
    ok = {
        "executors": [
            {"image": "quay.io/x/tool:1", "command": ["true"]},
            {"image": "alpine:3", "command": ["true"]},
        ]
    }
    create(client, basic("ada@example.org"), ok)
    # a tes account needs the internal key, like workers
    response = client.post(
        "/user",
        params={"groups": "tes"},
        data={"username": "eve@example.org", "password": PASSWORD},
    )
    assert response.status_code == 403


def test_bad_requests_and_unknown_tasks(client: TestClient, ada: dict[str, str]) -> None:
    for body in (
        b"{",
        b"[]",
        json.dumps({"executors": []}).encode(),
        json.dumps({**HELLO, "volumes": ["relative"]}).encode(),
        json.dumps({**HELLO, "outputs": [{"path": "/x.txt", "url": "file:///x"}]}).encode(),
        json.dumps({**HELLO, "inputs": [{"path": "/a", "url": "gs://b/a"}]}).encode(),
        json.dumps(
            {
                **HELLO,
                "resources": {"backend_parameters": {"x": "1"}, "backend_parameters_strict": True},
            }
        ).encode(),
    ):
        response = client.post(
            f"{TES}/tasks", content=body, headers={**ada, "content-type": "application/json"}
        )
        assert response.status_code == 400, (body, response.text)
        assert response.json()["detail"]
    other = create(client, ada)
    assert client.get(f"{TES}/tasks/999999", headers=ada).status_code == 404
    assert client.get(f"{TES}/tasks/abc", headers=ada).status_code == 404
    assert client.post(f"{TES}/tasks/999999:cancel", headers=ada).status_code == 404
    regular = client.post(
        "/jobs",
        headers=ada,
        json={
            "job_name": "plain2",
            "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
        },
    ).json()
    assert client.get(f"{TES}/tasks/{regular['id']}", headers=ada).status_code == 404
    assert client.get(f"{TES}/tasks/{other}", headers=ada).status_code == 200


def test_storage_inputs_are_checked_and_listed_for_the_worker(
    client: TestClient, ada: dict[str, str]
) -> None:
    for name, data in (("a.txt", b"a"), ("b.txt", b"b")):
        client.post("/files/data/tes/upload", headers=ada, files={"file": (name, io.BytesIO(data))})
    task_id = create(
        client,
        ada,
        {**HELLO, "inputs": [{"path": "/in", "url": "file:///data/tes", "type": "DIRECTORY"}]},
    )
    with client.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        [message] = session.query(OutboxMessage).filter_by(job_id=int(task_id)).all()
    files_down = message.payload["job"]["handler"]["files_down"]
    assert sorted(files_down.values()) == [
        "local://ada@example.org/data/tes/a.txt",
        "local://ada@example.org/data/tes/b.txt",
    ]


def test_a_hostile_page_cannot_submit_tasks(client: TestClient, ada: dict[str, str]) -> None:
    """No cookie login on TES, and only JSON bodies: a cross-site form post (which a
    browser sends without a CORS preflight) can neither authenticate nor be read."""
    form_post = client.post(
        f"{TES}/tasks",
        content=json.dumps(HELLO).encode(),
        headers={**ada, "content-type": "text/plain"},
    )
    assert form_post.status_code == 415
    token = ada["Authorization"].removeprefix("Bearer ")
    cookie_only = client.post(
        f"{TES}/tasks", json=HELLO, headers={"Cookie": f'Authorization="Bearer {token}"'}
    )
    assert cookie_only.status_code == 401
    assert client.get(f"{TES}/tasks", headers=ada).json().get("tasks", []) == []
