"""Stopping a worker while it runs a job, as Ctrl-C does, over real HTTP: the job is
handed back and run again, and a hand-back is not a failed attempt, however often
the worker is stopped."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import Platform, kill_hard, submit, wait_for


def wait_in_log(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert proc.poll() is None or text in log.read_text(), log.read_text()
        assert time.monotonic() < deadline, f"{text!r} not logged:\n{log.read_text()}"
        time.sleep(0.1)


def ctrl_c_twice(p: Platform, name: str) -> None:
    """What an impatient user does: Ctrl-C (no new jobs), and again (stop the running
    ones and hand them back)."""
    proc, log = p.workers[name], p.tmp / f"{name}.log"
    proc.send_signal(signal.SIGINT)
    wait_in_log(log, "finishing running jobs", proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0, log.read_text()


def test_a_job_survives_three_stops_and_a_lost_worker_with_its_retries_intact(
    sqlite_platform: Platform,
) -> None:
    p = sqlite_platform
    http = p.user_client()
    job = submit(http, "patient", env_vars={"DEMO_SLEEP": "6"})
    for n in range(1, 4):
        name = f"worker-stop-{n}"
        p.start_worker(name)
        wait_for(http, job["id"], {"running"})
        ctrl_c_twice(p, name)
        log = (p.tmp / f"{name}.log").read_text()
        assert f"job {job['id']}: handed back to the queue" in log
        assert wait_for(http, job["id"], {"queued"}, timeout=20)["status"] == "queued"
    # Three hand-backs later the job still has all of its MAX_RETRIES=2: a worker lost
    # mid-job costs one attempt, and the job runs again instead of failing for good.
    doomed = p.start_worker("worker-lost")
    wait_for(http, job["id"], {"running"})
    kill_hard(doomed)
    p.start_worker("worker-last")
    done = wait_for(http, job["id"], {"finished", "error", "canceled"}, timeout=90)
    assert done["status"] == "finished", done
    details = done["runtime_details"]
    assert details.count("released by worker") >= 3
    assert re.search(
        r"lease expired on worker worker-lost/\S+, requeued \(attempt 2 of 3\)", details
    )
    assert "max retries" not in details
    key = {"x-api-key": p.env["INTERNAL_API_KEY_SECRET"]}
    state = httpx.get(f"{p.worker_url}/_jobs/{job['id']}", headers=key).json()
    assert state["status"] == "finished" and state["worker_id"].startswith("worker-last/")
