"""`labcloud up --demo`, as a new user runs it: one command, a real result, clean Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.processes import REPO, free_port, wait_until_up


def start_up(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, int]:
    """`labcloud up --demo` on `tmp_path/data`: (the process, its log, the user API port)."""
    user_port, worker_port = free_port(), free_port()
    log = tmp_path / "up.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH", "DATABASE"))}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "labcloud.cli",
                "up",
                "--demo",
                "--data-dir",
                str(tmp_path / "data"),
                "--user-port",
                str(user_port),
                "--worker-port",
                str(worker_port),
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log, user_port


def wait_for_the_demo_job(proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while "demo job finished" not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.3)


def demo_login(tmp_path: Path, user_port: int) -> dict[str, str]:
    secrets = json.loads((tmp_path / "data" / "secrets.json").read_text())
    token = httpx.post(
        f"http://127.0.0.1:{user_port}/token",
        data={"username": "demo@labcloud.local", "password": secrets["demo_password"]},
    )
    return {"Authorization": f"Bearer {token.json()['id_token']}"}


def test_up_demo_runs_the_demo_job_and_stops_cleanly(tmp_path: Path) -> None:
    proc, log, user_port = start_up(tmp_path)
    try:
        wait_for_the_demo_job(proc, log)
        text = log.read_text()
        assert "demo login  demo@labcloud.local / demo-" in text
        assert "summary.json" in text and "finished" in text

        # the printed credentials work, and the results are there
        assert oct((tmp_path / "data" / "secrets.json").stat().st_mode & 0o777) == "0o600"
        base = f"http://127.0.0.1:{user_port}"
        headers = demo_login(tmp_path, user_port)
        jobs = httpx.get(base + "/jobs", headers=headers).json()
        assert [j["status"] for j in jobs] == ["finished"]
        outputs = httpx.get(
            f"{base}/files/output/{jobs[0]['job_name']}/",
            params={"recursive": True},
            headers=headers,
        ).json()
        assert any(f["path"].endswith("summary.json") for f in outputs)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    assert code == 0, log.read_text()
    assert "stopping" in log.read_text()
    # nothing listens any more
    try:
        httpx.get(f"http://127.0.0.1:{user_port}/", timeout=1)
        raise AssertionError("the user API still answers after Ctrl-C")
    except httpx.ConnectError:
        pass


def test_everything_under_the_data_dir_is_private_to_the_service(tmp_path: Path) -> None:
    # a data directory from before: folders 0755, files 0644, and a link leading out
    old = tmp_path / "data" / "files" / "old@example.org" / "data"
    old.mkdir(parents=True)
    (old / "x.csv").write_text("1,2\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("not the service's")
    os.symlink(outside, old / "link")
    for path in [
        outside,
        old / "x.csv",
        *(p for p in (tmp_path / "data").rglob("*") if p.is_dir()),
    ]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    (tmp_path / "data").chmod(0o755)

    proc, log, user_port = start_up(tmp_path)
    try:
        wait_for_the_demo_job(proc, log)  # its inputs uploaded, its outputs stored
        upload = httpx.post(
            f"http://127.0.0.1:{user_port}/files/data/new/upload",
            headers=demo_login(tmp_path, user_port),
            files={"file": ("new.csv", b"3,4\n")},
        )
        assert upload.status_code == 201, upload.text
        found = {
            p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.lstat().st_mode)
            for p in [tmp_path / "data", *(tmp_path / "data").rglob("*")]
            if not p.is_symlink()
        }
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    kinds = {
        "databases": "data/user.db",
        "user files": "data/files/demo@labcloud.local/data/new/new.csv",
        "job outputs": "data/files/demo@labcloud.local/output/",
        "old files": "data/files/old@example.org/data/x.csv",
        "secrets": "data/secrets.json",
    }
    for kind, prefix in kinds.items():
        assert any(key.startswith(prefix) for key in found), f"no {kind} in {sorted(found)}"
    shared = {key: oct(mode) for key, mode in found.items() if mode & 0o077}
    assert shared == {}, f"readable by others: {shared}"
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644  # the link was not followed


def up_without_demo(data: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`labcloud up` on fresh ports, once its user API answers; and that API's URL."""
    user_port, worker_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH", "DATABASE"))}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "labcloud.cli", "up", "--data-dir", str(data),
             "--user-port", str(user_port), "--worker-port", str(worker_port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{user_port}"
    wait_until_up(base + "/", proc, log, timeout=60)  # "labcloud is up" comes before that
    return proc, base


def job_status(base: str, headers: dict[str, str], job_id: int) -> dict:
    return httpx.get(f"{base}/jobs/{job_id}", headers=headers).json()


def wait_status(base: str, headers: dict[str, str], job_id: int, wanted: set[str]) -> dict:
    deadline = time.monotonic() + 60
    while (job := job_status(base, headers, job_id))["status"] not in wanted:
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


def test_ctrl_c_hands_the_running_job_back_and_the_next_start_runs_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc, base = up_without_demo(data, tmp_path / "up-1.log")
    try:
        password = json.loads((data / "secrets.json").read_text())["demo_password"]
        token = httpx.post(
            base + "/token", data={"username": "demo@labcloud.local", "password": password}
        )
        headers = {"Authorization": f"Bearer {token.json()['id_token']}"}
        body = {
            "job_name": "interrupted",
            "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
            "attributes": {"files_down": {}, "env_vars": {"DEMO_SLEEP": "4"}},
        }
        response = httpx.post(base + "/jobs", json=body, headers=headers)
        assert response.status_code == 201, response.text
        job_id = response.json()["id"]
        wait_status(base, headers, job_id, {"running"})
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    log = (tmp_path / "up-1.log").read_text()
    assert "stopping: handing 1 running job back to the queue (it will be run again)" in log
    proc, base = up_without_demo(data, tmp_path / "up-2.log")
    try:
        done = wait_status(base, headers, job_id, {"finished", "error", "canceled"})
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    assert done["status"] == "finished", done
    assert "released by worker" in done["runtime_details"]
    assert "stopping…" in (tmp_path / "up-2.log").read_text()  # nothing was running
