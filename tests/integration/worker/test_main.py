"""run_worker as a real process: settings from the environment, signals, exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit.worker.worker_protocol_fake import job_spec, serve
from worker.main import EXIT_CONFIG, run_worker

REPO_ROOT = Path(__file__).resolve().parents[3]
CODE = "import sys; from worker.main import run_worker; sys.exit(run_worker())"


@pytest.fixture
def fake():
    with serve() as (url, state):
        yield url, state


def _env(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABCLOUD_WORKER_")}
    env.update(
        {
            "LABCLOUD_WORKER_API_URL": url,
            "LABCLOUD_WORKER_AUTH_URL": url,
            "LABCLOUD_WORKER_USERNAME": "worker",
            "LABCLOUD_WORKER_PASSWORD": "secret-pw",
            "LABCLOUD_WORKER_SCRATCH_DIR": str(tmp_path / "scratch"),
            "LABCLOUD_WORKER_RUNNERS": "process",
            "LABCLOUD_WORKER_POLL_MIN": "0.05",
            "LABCLOUD_WORKER_POLL_MAX": "0.2",
            "LABCLOUD_WORKER_LONG_POLL": "0",
            "LABCLOUD_WORKER_HEARTBEAT_INTERVAL": "0.2",
            "LABCLOUD_WORKER_GPU_COUNT": "0",
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    env.update(extra)
    return env


def _start(env: dict[str, str], tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CODE],
        env=env,
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_sigterm_lets_the_running_job_finish(fake, tmp_path):
    url, state = fake
    state.add_job("q1", job_spec(1, "sleep 1; echo ok > output/ok.txt"))
    proc = _start(_env(url, tmp_path), tmp_path)
    try:
        _wait_for(lambda: "running" in state.status_names("q1"))
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert state.final("q1") == ("finished", None)
    assert state.uploads[("q1", "output", "output", "ok.txt")] == b"ok\n"
    assert "finishing running jobs" in out
    assert "HTTP Request" not in out  # httpx's per-request lines are muted


def test_a_second_signal_kills_and_releases(fake, tmp_path):
    url, state = fake
    state.add_job("q2", job_spec(2, "sleep 60"))
    proc = _start(_env(url, tmp_path), tmp_path)
    try:
        _wait_for(lambda: "running" in state.status_names("q2"))
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert state.released == ["q2"] and state.final("q2") is None


def test_a_rejected_login_exits_non_zero(fake, tmp_path):
    url, _ = fake
    env = _env(url, tmp_path, LABCLOUD_WORKER_PASSWORD="wrong")
    proc = _start(env, tmp_path)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "login as 'worker' failed" in out


def test_missing_credentials_are_a_configuration_error(monkeypatch, tmp_path, capsys):
    for name in list(os.environ):
        if name.startswith("LABCLOUD_WORKER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env here
    assert run_worker() == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "LABCLOUD_WORKER_TOKEN" in err and "LABCLOUD_WORKER_USERNAME" in err
