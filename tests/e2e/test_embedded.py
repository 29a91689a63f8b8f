"""`labcloud up --demo`, as a new user runs it: one command, a real result, clean Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.processes import REPO, free_port


def test_up_demo_runs_the_demo_job_and_stops_cleanly(tmp_path: Path) -> None:
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
    try:
        deadline = time.monotonic() + 90
        while "demo job finished" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        text = log.read_text()
        assert "demo login  demo@labcloud.local / demo-" in text
        assert "summary.json" in text and "finished" in text

        # the printed credentials work, and the results are there
        secrets = json.loads((tmp_path / "data" / "secrets.json").read_text())
        assert oct((tmp_path / "data" / "secrets.json").stat().st_mode & 0o777) == "0o600"
        base = f"http://127.0.0.1:{user_port}"
        token = httpx.post(
            base + "/token",
            data={"username": "demo@labcloud.local", "password": secrets["demo_password"]},
        )
        headers = {"Authorization": f"Bearer {token.json()['id_token']}"}
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
