import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from userfacing_api.db.models import Job, OutboxMessage


def put(client: TestClient, headers: dict, where: str, name: str, content: bytes = b"1") -> None:
    response = client.post(
        f"/files/{where}/upload", headers=headers, files={"file": (name, io.BytesIO(content))}
    )
    assert response.status_code == 201, response.text


def job_body(name: str = "run-1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "job_name": name,
        "environment": None,
        "priority": None,
        "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
        "attributes": {
            "files_down": {
                "config_id": "demo/params.yaml",
                "data_ids": ["exp1/"],
                "artifact_ids": None,
            },
            "env_vars": {"DEMO_GREETING": "hi"},
        },
        "hardware": None,
    }
    body.update(changes)
    return body


@pytest.fixture
def inputs(client: TestClient, alice: dict) -> None:
    put(client, alice, "config/demo", "params.yaml", b"greeting: hi\n")
    put(client, alice, "data/exp1", "a.csv", b"1,2\n")
    put(client, alice, "data/exp1/sub", "b.csv", b"3\n")


def outbox(client: TestClient) -> list[OutboxMessage]:
    with client.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_submit_stores_job_and_outbox_spec(client: TestClient, alice: dict, inputs: None) -> None:
    response = client.post("/jobs", headers=alice, json=job_body())
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["status"] == "queued" and job["user_id"] == "alice@example.org"
    assert job["user_email"] == "alice@example.org" and job["priority"] == 0
    assert job["environment"] is None and job["date_started"] is None
    assert job["paths_out"] == {
        "output": "output/run-1",
        "log": "log/run-1",
        "artifact": "artifact/run-1",
    }

    [message] = outbox(client)
    assert message.kind == "submit" and message.job_id == job["id"]
    spec = message.payload
    assert spec["environment"] == "any" and spec["priority"] == 0
    user = "alice@example.org"
    assert spec["job"]["handler"]["files_down"] == {
        "config/params.yaml": f"local://{user}/config/demo/params.yaml",
        "data/a.csv": f"local://{user}/data/exp1/a.csv",
        "data/sub/b.csv": f"local://{user}/data/exp1/sub/b.csv",
    }
    assert spec["job"]["handler"]["files_up"] == {
        "output": "output",
        "log": "log",
        "artifact": "model",
    }
    assert spec["job"]["handler"]["runner"] == "process"
    assert spec["job"]["handler"]["timeout"] == 600
    assert spec["job"]["app"] == {
        "cmd": ["python -m labcloud.demo_app", '--files "$FILES_DIR"'],
        "env": {"DEMO_GREETING": "hi"},
    }
    assert spec["job"]["meta"]["job_id"] == job["id"]
    # hardware: none asked, so the entrypoint's defaults
    assert spec["job"]["hardware"] == {
        "cpu_cores": 1,
        "memory": 128,
        "gpu_model": None,
        "gpu_archi": None,
        "gpu_mem": None,
    }
    assert spec["paths_upload"] == {
        "output": f"local://{user}/output/run-1",
        "log": f"local://{user}/log/run-1",
        "artifact": f"local://{user}/artifact/run-1",
    }


def test_requested_hardware_and_environment_win(
    client: TestClient, alice: dict, inputs: None
) -> None:
    body = job_body(
        hardware={
            "cpu_cores": 8,
            "memory": None,
            "gpu_model": "A100",
            "gpu_archi": None,
            "gpu_mem": 40000,
        },
        environment="local",
        priority=5,
    )
    assert client.post("/jobs", headers=alice, json=body).status_code == 201
    spec = outbox(client)[0].payload
    assert spec["job"]["hardware"] == {
        "cpu_cores": 8,
        "memory": 128,
        "gpu_model": "A100",
        "gpu_archi": None,
        "gpu_mem": 40000,
    }
    assert spec["environment"] == "local" and spec["priority"] == 5


def test_frontend_quirks_are_accepted(client: TestClient, alice: dict, inputs: None) -> None:
    body = job_body(environment="null")
    body["attributes"]["files_down"] = {
        "config_id": "demo/",
        "data_ids": None,
        "artifact_ids": None,
    }
    body["attributes"]["env_vars"] = None
    response = client.post("/jobs", headers=alice, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["environment"] is None
    assert list(outbox(client)[0].payload["job"]["handler"]["files_down"]) == ["config/params.yaml"]


def test_no_inputs_at_all_is_valid(client: TestClient, alice: dict) -> None:
    body = job_body(
        attributes={
            "files_down": {"config_id": None, "data_ids": None, "artifact_ids": None},
            "env_vars": None,
        }
    )
    assert client.post("/jobs", headers=alice, json=body).status_code == 201
    assert outbox(client)[0].payload["job"]["handler"]["files_down"] == {}


@pytest.mark.parametrize(
    "change,loc",
    [
        (
            {"application": {"application": "nope", "version": "v1", "entrypoint": "run"}},
            ["body", "application", "application"],
        ),
        (
            {"application": {"application": "demo", "version": "v9", "entrypoint": "run"}},
            ["body", "application", "version"],
        ),
        (
            {"application": {"application": "demo", "version": "v1", "entrypoint": "x"}},
            ["body", "application", "entrypoint"],
        ),
        (
            {"attributes": {"files_down": {}, "env_vars": {"LD_PRELOAD": "x"}}},
            ["body", "attributes", "env_vars"],
        ),
        ({"priority": 6}, ["body", "priority"]),
        ({"priority": -1}, ["body", "priority"]),
        ({"environment": "mars"}, ["body", "environment"]),
        ({"hardware": {"cpu_cores": "many"}}, ["body", "hardware", "cpu_cores"]),
        ({"hardware": {"memory": -5}}, ["body", "hardware", "memory"]),
        ({"job_name": ""}, ["body", "job_name"]),
        ({"job_name": "../escape"}, ["body", "job_name"]),
        ({"job_name": "a/b"}, ["body", "job_name"]),
        ({"job_name": ".hidden"}, ["body", "job_name"]),
    ],
)
def test_invalid_requests_are_422_with_location(
    client: TestClient, alice: dict, inputs: None, change: dict, loc: list
) -> None:
    response = client.post("/jobs", headers=alice, json=job_body(**change))
    assert response.status_code == 422, response.text
    assert any(d["loc"][: len(loc)] == loc for d in response.json()["detail"])
    assert outbox(client) == []


@pytest.mark.parametrize(
    "files_down,missing",
    [
        ({"config_id": "demo/nothing.yaml"}, "config/demo/nothing.yaml"),
        ({"data_ids": ["exp1/", "exp2"]}, "data/exp2"),
        ({"artifact_ids": ["model"]}, "artifact/model"),
    ],
)
def test_missing_input_is_400(
    client: TestClient, alice: dict, inputs: None, files_down: dict, missing: str
) -> None:
    body = job_body()
    body["attributes"]["files_down"] = files_down
    response = client.post("/jobs", headers=alice, json=body)
    assert response.status_code == 400
    assert missing in response.json()["detail"]
    assert client.get("/jobs", headers=alice).json() == [] and outbox(client) == []


def test_input_path_escape_is_400(client: TestClient, alice: dict, inputs: None) -> None:
    body = job_body()
    body["attributes"]["files_down"] = {"data_ids": ["../../bob@example.org/data"]}
    response = client.post("/jobs", headers=alice, json=body)
    assert response.status_code == 400 and outbox(client) == []


def test_duplicate_job_name_is_409(client: TestClient, alice: dict, login, inputs: None) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/jobs", headers=alice, json=job_body("same")).status_code == 201
    again = client.post("/jobs", headers=alice, json=job_body("same"))
    assert again.status_code == 409 and "same" in again.json()["detail"]
    assert len(outbox(client)) == 1
    bob = login("bob@example.org")
    no_inputs = job_body("same", attributes={"files_down": {}, "env_vars": None})
    assert client.post("/jobs", headers=bob, json=no_inputs).status_code == 201  # per user


@pytest.mark.parametrize(
    ("where", "name", "job_name", "folder"),
    [
        ("artifact", "model.pt", "model.pt", "artifact/model.pt"),  # an upload named so
        ("artifact/run-a", "weights.bin", "run-a", "artifact/run-a"),
        ("data", "x", "x", None),  # data/ holds no job results: no conflict
    ],
)
def test_a_job_cannot_take_result_folders_that_hold_the_users_files(
    client: TestClient, alice: dict, where: str, name: str, job_name: str, folder: str | None
) -> None:
    put(client, alice, where, name, b"the user's own")
    body = job_body(job_name, attributes={"files_down": {}, "env_vars": None})
    response = client.post("/jobs", headers=alice, json=body)
    if folder is None:
        assert response.status_code == 201, response.text
        return
    assert response.status_code == 409, response.text
    assert f"'{folder}' already exists" in response.json()["detail"]
    assert outbox(client) == [] and client.get("/jobs", headers=alice).json() == []
    upload = client.get(f"/files/{where}/{name}/download", headers=alice)
    assert upload.content == b"the user's own"


def test_an_empty_result_folder_may_be_taken_and_goes_with_the_job(
    client: TestClient, alice: dict
) -> None:
    assert client.post("/files/artifact/run-e/", headers=alice).status_code == 201
    put(client, alice, "artifact", "run-e.txt", b"a neighbour with the same start")
    body = job_body("run-e", attributes={"files_down": {}, "env_vars": None})
    response = client.post("/jobs", headers=alice, json=body)
    assert response.status_code == 201, response.text
    assert client.delete(f"/jobs/{response.json()['id']}", headers=alice).status_code == 204
    left = [f["path"] for f in client.get("/files/artifact/", headers=alice).json()]
    assert left == ["artifact/run-e.txt"]


def test_list_is_newest_first_and_paged(client: TestClient, alice: dict) -> None:
    for i in range(5):
        body = job_body(f"job-{i}", attributes={"files_down": {}, "env_vars": None})
        assert client.post("/jobs", headers=alice, json=body).status_code == 201
    names = [j["job_name"] for j in client.get("/jobs", headers=alice).json()]
    assert names == ["job-4", "job-3", "job-2", "job-1", "job-0"]
    page = client.get("/jobs", params={"offset": 1, "limit": 2}, headers=alice).json()
    assert [j["job_name"] for j in page] == ["job-3", "job-2"]
    assert client.get("/jobs", params={"limit": 0}, headers=alice).status_code == 422
    assert client.get("/jobs", params={"offset": -1}, headers=alice).status_code == 422


def test_other_users_jobs_are_404(client: TestClient, alice: dict, login) -> None:  # type: ignore[no-untyped-def]
    body = job_body(attributes={"files_down": {}, "env_vars": None})
    job_id = client.post("/jobs", headers=alice, json=body).json()["id"]
    bob = login("bob@example.org")
    assert client.get(f"/jobs/{job_id}", headers=bob).status_code == 404
    assert client.delete(f"/jobs/{job_id}", headers=bob).status_code == 404
    assert client.get("/jobs", headers=bob).json() == []
    assert client.get(f"/jobs/{job_id}", headers=alice).status_code == 200
    assert client.get("/jobs/999999", headers=alice).status_code == 404


def test_delete_cancels_and_removes_outputs(client: TestClient, alice: dict, storage_root) -> None:  # type: ignore[no-untyped-def]
    body = job_body("to-delete", attributes={"files_down": {}, "env_vars": None})
    job_id = client.post("/jobs", headers=alice, json=body).json()["id"]
    out = storage_root / "alice@example.org" / "output" / "to-delete"
    out.mkdir(parents=True)
    (out / "result.txt").write_text("r")
    assert client.delete(f"/jobs/{job_id}", headers=alice).status_code == 204
    assert client.get(f"/jobs/{job_id}", headers=alice).status_code == 404
    assert not out.exists()
    kinds = [(m.kind, m.job_id) for m in outbox(client)]
    assert kinds == [("cancel", job_id)]  # all that is left of it, until delivered
    with client.app.state.ctx.sessions() as session:  # type: ignore[attr-defined]
        assert session.get(Job, job_id) is None


def test_applications_catalogue(client: TestClient, alice: dict) -> None:
    apps = client.get("/jobs/applications", headers=alice).json()
    assert set(apps) >= {"demo", "decode", "comet"}
    assert set(apps["decode"]) == {"v0_10_1", "latest"}
    assert apps["decode"]["v0_10_1"]["train"]["aws_resources"]["hardware"]["MEMORY"] == 8000
