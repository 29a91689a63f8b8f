"""A scientist's whole path over real HTTP: account → upload → submit → finished →
download → one email; with the process runner, the docker runner (Podman) and on
PostgreSQL. Plus cancel while running and a worker killed mid-job."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    Platform,
    kill_hard,
    platform,
    submit,
    upload,
    wait_for,
)

CONFIG = b"greeting: hello e2e\n"


def run_demo_job(p: Platform, http: httpx.Client, name: str = "demo-e2e") -> dict:
    upload(http, "data/exp1", "counts.csv", b"a,b\n1,2\n3,4\n")
    upload(http, "data/exp1/more", "more.txt", b"value 10\n")
    upload(http, "config/demo", "params.yaml", CONFIG)
    job = submit(
        http,
        name,
        files_down={"config_id": "demo/params.yaml", "data_ids": ["exp1/"]},
        env_vars={"DEMO_GREETING": "bonjour"},
    )
    return wait_for(http, job["id"], {"finished", "error", "canceled"})


def check_demo_results(p: Platform, http: httpx.Client, job: dict, name: str) -> None:
    assert job["status"] == "finished", job
    assert job["date_started"] and job["date_finished"]
    summary = json.loads(http.get(f"/files/output/{name}/output/summary.json/download").content)
    assert summary == {
        "job": str(job["id"]),
        "attempt": "1",
        "config": {"greeting": "hello e2e"},
        "files": 2,
        "greeting": "bonjour",
        "total_sum": 20.0,
    }
    archive = zipfile.ZipFile(io.BytesIO(http.get(f"/files/output/{name}/download").content))
    assert sorted(archive.namelist()) == [
        "output/histogram.svg",
        "output/metrics.csv",
        "output/per_file.json",
        "output/report.txt",
        "output/summary.json",
    ]
    log_files = [
        f["path"]
        for f in http.get(
            f"/files/log/{name}/", params={"recursive": True, "show_dirs": False}
        ).json()
    ]
    assert f"log/{name}/log/demo.log" in log_files and f"log/{name}/log/job.log" in log_files
    model = http.get(f"/files/artifact/{name}/model/model.json/download")
    assert json.loads(model.content)["means"]["counts.csv"] == 2.5
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not p.emails():
        time.sleep(0.2)
    time.sleep(1)  # a second email would show up by now
    emails = [e for e in p.emails() if name in e["subject"]]
    assert len(emails) == 1 and emails[0]["to"] == "ada@example.org"
    assert "finished" in emails[0]["subject"]


def test_demo_job_with_the_process_runner(sqlite_platform: Platform) -> None:
    p = sqlite_platform
    p.start_worker("worker-1")
    http = p.user_client()
    job = run_demo_job(p, http)
    check_demo_results(p, http, job, "demo-e2e")


@pytest.mark.postgres
def test_demo_job_with_both_databases_on_postgres(postgres_platform: Platform) -> None:
    p = postgres_platform
    p.start_worker("worker-pg")
    http = p.user_client()
    job = run_demo_job(p, http, "demo-pg")
    check_demo_results(p, http, job, "demo-pg")


DOCKER_APPS = """
busy:
  v1:
    count:
      app:
        cmd:
          - "mkdir -p /files/output /files/log &&"
          - "wc -l /files/data/*.txt > /files/output/counts.txt &&"
          - "echo \\"$GREETING from the container\\" > /files/log/run.log &&"
          - "cat /files/config/* >> /files/output/counts.txt"
        env: [GREETING]
      handler:
        image_url: "{image}"
        runner: docker
        files_down: {{config_id: config, data_ids: data}}
        files_up: {{output: output, log: log}}
      aws_resources:
        hardware: {{MEMORY: 64, VCPU: 1, GPU: 0}}
        timeout: 60
"""


@pytest.mark.podman
def test_job_in_a_container(tmp_path: Path, docker_host: str, test_image: str) -> None:
    apps = tmp_path / "apps.yaml"
    apps.write_text(DOCKER_APPS.format(image=test_image))
    with platform(
        tmp_path,
        f"sqlite:///{tmp_path / 'u.db'}",
        f"sqlite:///{tmp_path / 'w.db'}",
        app_config=apps,
    ) as p:
        p.start_worker("container-worker", runners="docker", docker_host=docker_host)
        http = p.user_client()
        upload(http, "data/lines", "a.txt", b"1\n2\n3\n")
        upload(http, "data/lines", "b.txt", b"x\n")
        upload(http, "config", "c.cfg", b"threshold=5\n")
        job = submit(
            http,
            "in-a-box",
            application="busy",
            entrypoint="count",
            files_down={"config_id": "c.cfg", "data_ids": ["lines"]},
            env_vars={"GREETING": "hallo"},
        )
        job = wait_for(http, job["id"], {"finished", "error", "canceled"})
        assert job["status"] == "finished", job
        counts = http.get("/files/output/in-a-box/output/counts.txt/download").text
        assert "3 /files/data/a.txt" in counts and "1 /files/data/b.txt" in counts
        assert "threshold=5" in counts
        log = http.get("/files/log/in-a-box/log/run.log/download").text
        assert log == "hallo from the container\n"


def test_cancel_while_running_kills_the_job(sqlite_platform: Platform) -> None:
    p = sqlite_platform
    p.start_worker("worker-c")
    http = p.user_client()
    job = submit(http, "long", env_vars={"DEMO_SLEEP": "120"})
    wait_for(http, job["id"], {"running"})
    time.sleep(1)
    assert http.post(f"/jobs/{job['id']}/cancel").status_code == 202
    started = time.monotonic()
    done = wait_for(http, job["id"], {"finished", "error", "canceled"}, timeout=30)
    assert done["status"] == "canceled"
    # the process is gone: its scratch folder is removed within a few heartbeats
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and list((p.tmp / "scratch").rglob("job-*")):
        time.sleep(0.2)
    assert not list((p.tmp / "scratch").rglob("job-*"))
    assert time.monotonic() - started < 20
    worker_log = (p.tmp / "worker-c.log").read_text()
    assert f"job {job['id']}: the server no longer knows it as ours; dropped" in worker_log


def test_delete_while_running_stops_the_job_and_removes_it(sqlite_platform: Platform) -> None:
    p = sqlite_platform
    p.start_worker("worker-d")
    http = p.user_client()
    job = submit(http, "doomed", env_vars={"DEMO_SLEEP": "120"})
    wait_for(http, job["id"], {"running"})
    assert http.delete(f"/jobs/{job['id']}").status_code == 204
    assert http.get(f"/jobs/{job['id']}").status_code == 404
    key = {"x-api-key": p.env["INTERNAL_API_KEY_SECRET"]}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = httpx.get(f"{p.worker_url}/_jobs/{job['id']}", headers=key).json()
        if state["status"] == "canceled" and not list((p.tmp / "scratch").rglob("job-*")):
            break
        time.sleep(0.2)
    assert state["status"] == "canceled", state
    assert not list((p.tmp / "scratch").rglob("job-*"))  # the run was killed and cleaned up
    worker_log = (p.tmp / "worker-d.log").read_text()
    assert f"job {job['id']}: the server no longer knows it as ours; dropped" in worker_log
    assert http.get("/files/output/doomed/").status_code == 404
    # the name is free again
    assert submit(http, "doomed")["status"] == "queued"


def test_a_worker_killed_mid_job_is_replaced(sqlite_platform: Platform) -> None:
    p = sqlite_platform
    first = p.start_worker("worker-doomed")
    http = p.user_client()
    job = submit(http, "survivor", env_vars={"DEMO_SLEEP": "3"})
    wait_for(http, job["id"], {"running"})
    kill_hard(first)
    p.start_worker("worker-rescue")
    done = wait_for(http, job["id"], {"finished", "error", "canceled"}, timeout=60)
    assert done["status"] == "finished", done
    assert "lease expired on worker worker-doomed" in done["runtime_details"]
    assert "worker-rescue" in done["runtime_details"]
    summary = http.get("/files/output/survivor/output/summary.json/download")
    assert summary.status_code == 200
    assert summary.json()["attempt"] == "2"  # the outputs are the second attempt's
