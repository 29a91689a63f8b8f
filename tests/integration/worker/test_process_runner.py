"""ProcessRunner: real `sh -c` processes on this host."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from worker.runners.base import LOG_TAIL_CHARS, RunSpec, run_to_completion
from worker.runners.process import ProcessRunner


def _spec(files_dir: Path, command: str, **kwargs) -> RunSpec:
    return RunSpec(job_id="proc-test", command=command, files_dir=files_dir, **kwargs)


def _alive(pid: int) -> bool:
    # A zombie still answers kill(pid, 0); look at the state in /proc instead.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _wait_dead(pid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_exit_codes_and_combined_output(tmp_path):
    ok = run_to_completion(ProcessRunner(), _spec(tmp_path, "echo out; echo err >&2"), tick_s=0.1)
    assert ok.exit_code == 0 and not ok.timed_out and not ok.killed
    assert "out" in ok.log and "err" in ok.log
    bad = run_to_completion(ProcessRunner(), _spec(tmp_path, "exit 7"), tick_s=0.1)
    assert bad.exit_code == 7


def test_death_by_signal_is_reported_like_a_shell(tmp_path):
    outcome = run_to_completion(ProcessRunner(), _spec(tmp_path, "kill -9 $$"), tick_s=0.1)
    assert outcome.exit_code == 137


def test_cwd_and_files_dir(tmp_path):
    cmd = 'echo "FILES_DIR=$FILES_DIR"; echo "PWD=$(pwd)"; mkdir -p output; echo hi > output/r.txt'
    outcome = run_to_completion(ProcessRunner(), _spec(tmp_path, cmd), tick_s=0.1)
    assert outcome.exit_code == 0, outcome.log
    assert f"FILES_DIR={tmp_path}\n" in outcome.log
    assert f"PWD={tmp_path}\n" in outcome.log
    assert (tmp_path / "output" / "r.txt").read_text() == "hi\n"
    # The runner's own log lives elsewhere: nothing but the job's output is in files_dir.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output"]


def test_env_is_passed_and_host_secrets_are_not(tmp_path, monkeypatch):
    monkeypatch.setenv("LABCLOUD_TEST_SECRET", "s3cr3t")
    cmd = 'echo "FOO=$FOO"; echo "SECRET=${LABCLOUD_TEST_SECRET:-unset}"'
    outcome = run_to_completion(
        ProcessRunner(), _spec(tmp_path, cmd, env={"FOO": "bar baz"}), tick_s=0.1
    )
    assert "FOO=bar baz" in outcome.log
    assert "SECRET=unset" in outcome.log


def test_python_is_the_workers_interpreter(tmp_path):
    python_dir = os.path.dirname(sys.executable)
    if not os.path.exists(os.path.join(python_dir, "python")):
        pytest.skip(f"no `python` next to {sys.executable}")
    cmd = 'command -v python; python -c "import sys; print(sys.prefix)"'
    outcome = run_to_completion(ProcessRunner(), _spec(tmp_path, cmd), tick_s=0.1)
    assert outcome.exit_code == 0, outcome.log
    assert outcome.log.splitlines() == [os.path.join(python_dir, "python"), sys.prefix]


def test_timeout(tmp_path):
    t0 = time.monotonic()
    outcome = run_to_completion(ProcessRunner(), _spec(tmp_path, "sleep 100", timeout_s=0.5))
    assert time.monotonic() - t0 < 5
    assert outcome.timed_out and not outcome.killed and outcome.exit_code is None


def test_kill_reaches_the_whole_process_tree(tmp_path):
    # A grandchild in a subshell plus a foreground sleep: both must die.
    cmd = "(sleep 300 & echo $! > grandchild.pid; wait) & sleep 300"
    calls = []

    def on_tick() -> bool:
        calls.append(1)
        return not (tmp_path / "grandchild.pid").exists()

    t0 = time.monotonic()
    outcome = run_to_completion(ProcessRunner(), _spec(tmp_path, cmd), on_tick=on_tick, tick_s=0.1)
    assert time.monotonic() - t0 < 5
    assert outcome.killed and outcome.exit_code is None
    grandchild = int((tmp_path / "grandchild.pid").read_text())
    assert _wait_dead(grandchild), f"grandchild {grandchild} survived the kill"


def test_background_leftovers_are_killed_on_cleanup(tmp_path):
    outcome = run_to_completion(
        ProcessRunner(), _spec(tmp_path, "sleep 300 & echo $! > bg.pid"), tick_s=0.1
    )
    assert outcome.exit_code == 0
    assert _wait_dead(int((tmp_path / "bg.pid").read_text()))


def test_log_tail_holds_last_1000_chars(tmp_path):
    cmd = 'i=0; while [ $i -lt 500 ]; do echo "line $i"; i=$((i+1)); done'
    outcome = run_to_completion(ProcessRunner(), _spec(tmp_path, cmd), tick_s=0.1)
    assert outcome.log.startswith("line 0\n") and outcome.log.endswith("line 499\n")
    assert len(outcome.log_tail) == LOG_TAIL_CHARS
    assert outcome.log_tail == outcome.log[-LOG_TAIL_CHARS:]


def test_optional_memory_limit(tmp_path):
    cmd = 'python -c "b = bytearray(400 * 1024 * 1024); print(len(b))"'
    limited = run_to_completion(
        ProcessRunner(enforce_memory_limit=True), _spec(tmp_path, cmd, memory_mb=200), tick_s=0.1
    )
    assert limited.exit_code != 0
    assert "MemoryError" in limited.log
    unlimited = run_to_completion(ProcessRunner(), _spec(tmp_path, cmd, memory_mb=200), tick_s=0.1)
    assert unlimited.exit_code == 0, unlimited.log


def test_missing_files_dir_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        ProcessRunner().start(_spec(tmp_path / "missing", "true"))
