"""`labcloud admin` against a real worker API over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from labcloud.cli import app
from shared.auth.local import LocalTokens
from tests.integration.workerfacing_api.conftest import job_payload
from tests.support.http_server import serve_in_thread
from workerfacing_api.db.session import upgrade
from workerfacing_api.main import create_app
from workerfacing_api.settings import WorkerAPISettings

KEY = "admin-test-key-0123456789"
SECRET = "admin-test-token-secret-0123456789abcdef"
runner = CliRunner()


@pytest.fixture
def worker_api(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(url)
    settings = WorkerAPISettings(_env_file=None, auth=True, auth_token_secret=SECRET,  # type: ignore[call-arg]
                                 internal_api_key_secret=KEY, database_url=url,
                                 user_data_root_path=str(tmp_path / "files"))
    with serve_in_thread(create_app(settings, run_background=False)) as base:
        yield base


def failed_job(base: str, job_id: int) -> None:
    key = {"x-api-key": KEY}
    assert httpx.post(f"{base}/_jobs", json=job_payload(job_id), headers=key).status_code == 201
    token = LocalTokens(SECRET, "labcloud", "labcloud").issue("w", None, ["workers"])
    worker = {"Authorization": f"Bearer {token}"}
    assert list(httpx.get(f"{base}/jobs", params={"memory": 10**6}, headers=worker).json())
    httpx.put(f"{base}/jobs/{job_id}/status", params={"status": "error",
              "runtime_details": "exit code 7"}, headers=worker).raise_for_status()


def admin(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["admin", *args])
    return result.exit_code, result.output


def test_list_and_requeue_failed_jobs(worker_api: str) -> None:
    failed_job(worker_api, 41)
    code, out = admin("jobs", "--failed", "--json", "--url", worker_api, "--api-key", KEY)
    assert code == 0
    rows = json.loads(out)
    assert [(r["job_id"], r["status"], r["terminal_reason"]) for r in rows] == [
        (41, "error", "exit code 7")]

    code, out = admin("requeue", "41", "--url", worker_api, "--api-key", KEY)
    assert code == 0 and "job 41: requeued" in out
    code, out = admin("requeue", "41", "--url", worker_api, "--api-key", KEY)  # idempotent
    assert code == 0 and "nothing to do" in out
    code, out = admin("jobs", "--failed", "--json", "--url", worker_api, "--api-key", KEY)
    assert json.loads(out) == []

    code, out = admin("requeue", "999", "--url", worker_api, "--api-key", KEY)
    assert code == 1 and "job 999: not requeued" in out


def test_wrong_key_and_missing_key(worker_api: str) -> None:
    code, _ = admin("jobs", "--url", worker_api, "--api-key", "wrong-key-0123456789")
    assert code == 3
    code, out = admin("jobs", "--url", worker_api, "--api-key", "")
    assert code == 2
