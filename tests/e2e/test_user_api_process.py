"""The user API as a real process (uvicorn) on loopback, driven over HTTP."""

from __future__ import annotations

import http.client
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import REPO, free_port, labcloud_process


@pytest.fixture
def user_api(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        "AUTH": "1",
        "AUTH_TOKEN_SECRET": "e2e-token-secret-" + "x" * 32,
        "INTERNAL_API_KEY_SECRET": "e2e-internal-key-123",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'user.db'}",
        "USER_DATA_ROOT_PATH": str(tmp_path / "files"),
        "APPLICATION_CONFIG_FILE": str(REPO / "application_config.yaml"),
    }
    url = f"http://127.0.0.1:{port}"
    with labcloud_process(
        ["user-api", "--port", str(port), "--migrate"],
        env,
        tmp_path / "user-api.log",
        ready_url=url + "/",
    ):
        yield url


def test_account_files_and_job_over_real_http(user_api: str) -> None:
    with httpx.Client(base_url=user_api) as http:
        form = {"username": "ada@example.org", "password": "analysis-42"}
        assert http.post("/user", data=form).status_code == 201
        token = http.post("/token", data=form).json()["id_token"]
        http.headers["Authorization"] = f"Bearer {token}"

        big = b"0123456789" * 300_000  # 3 MB, streamed through the multipart parser
        assert (
            http.post(
                "/files/data/exp1/upload", files={"file": ("big.bin", io.BytesIO(big))}
            ).status_code
            == 201
        )
        assert (
            http.post(
                "/files/data/exp1/upload", files={"file": ("small.txt", io.BytesIO(b"s"))}
            ).status_code
            == 201
        )
        assert http.get("/files/data/exp1/big.bin/download").content == big
        archive = zipfile.ZipFile(io.BytesIO(http.get("/files/data/exp1/download").content))
        assert sorted(archive.namelist()) == ["big.bin", "small.txt"]

        job = http.post(
            "/jobs",
            json={
                "job_name": "e2e",
                "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
                "attributes": {"files_down": {"data_ids": ["exp1"]}},
            },
        )
        assert job.status_code == 201, job.text
        assert http.get("/jobs").json()[0]["status"] == "queued"


def test_raw_dot_dot_paths_are_refused(user_api: str) -> None:
    """A client that does not normalise `/../` (http.client sends the path as is)."""
    form = {"username": "eve@example.org", "password": "analysis-42"}
    httpx.post(user_api + "/user", data=form)
    token = httpx.post(user_api + "/token", data=form).json()["id_token"]
    host, port = user_api.removeprefix("http://").split(":")
    for path in ("/files/data/../../../etc/download", "/files/../", "/files/data/..%2f..%2fx/"):
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        assert response.status in (400, 404), (path, response.status)
        body = response.read()
        assert b"root:" not in body
        conn.close()
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request(
        "GET", "/files/data/../../../etc/download", headers={"Authorization": f"Bearer {token}"}
    )
    assert conn.getresponse().status == 400
