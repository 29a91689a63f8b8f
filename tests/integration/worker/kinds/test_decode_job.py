"""The DECODE job kind (worker.kinds.job) run by the whole worker loop against the
worker-protocol fake: inputs staged, the command run for real (process runner: `sh -c`
on this host; docker runner: Podman), outputs and log uploaded, exit codes, timeouts
and bad inputs reported."""

from __future__ import annotations

import os
import time

import pytest

from tests.integration.worker.test_loop import (
    INPUT_URI,
    _settings,
    fake,
    job_dirs,
    running,
    transitions,
    wait_for,
)
from tests.unit.worker.worker_protocol_fake import job_spec
from worker.loop import Worker
from worker.runners import Capability
from worker.runners.aws import RunLost

__all__ = ["fake"]  # the fixture, shared with test_loop


def test_a_job_runs_from_lease_to_finished(fake, tmp_path):
    url, state = fake
    cmd = (
        'tr a-z A-Z < "data/run 1/in.txt" > output/result.txt && '
        'echo "converted $(wc -c < "data/run 1/in.txt") bytes in $PWD" && sleep 0.7'
    )
    state.add_job("q7", job_spec(7, cmd, files_down={"data/run 1/in.txt": INPUT_URI}))
    worker = Worker(_settings(url, tmp_path))
    with running(worker):
        wait_for(lambda: state.final("q7"))
        wait_for(lambda: not worker.running_jobs)
        assert job_dirs(tmp_path) == []  # removed right after the job
    assert transitions(state, "q7") == ["preprocessing", "running", "postprocessing", "finished"]
    assert state.status_names("q7").count("running") >= 2  # heartbeats while it ran
    assert state.final("q7") == ("finished", None)
    assert state.uploads[("q7", "output", "output", "result.txt")] == b"HELLO WORLD\n"
    log = state.uploads[("q7", "log", "log", "job.log")].decode()
    assert "converted 12 bytes in " + str(tmp_path / "scratch") in log
    assert set(state.uploads) == {
        ("q7", "output", "output", "result.txt"),
        ("q7", "log", "log", "job.log"),
    }
    # Every API call carried the same worker id (the transfers only what the server said;
    # the readiness look before the first poll is anonymous, as a load balancer's).
    transfers = ("/download", "/files/upload")
    calls = [c for c in state.calls if not c.path.endswith(transfers) and c.path != "/readyz"]
    assert len({c.worker_id for c in calls}) == 1


def test_a_failing_command_reports_exit_code_and_log_tail(fake, tmp_path):
    url, state = fake
    cmd = "mkdir -p output && echo partial > output/p.txt && echo boom >&2 && exit 3"
    # files_up names no `log` dir: the runner log still goes up, as kind `log`.
    state.add_job("q8", job_spec(8, cmd, files_up={"output": "output"}))
    worker = Worker(_settings(url, tmp_path))
    with running(worker):
        wait_for(lambda: state.final("q8"))
    status, details = state.final("q8")
    assert status == "error"
    assert details.startswith("exit code 3\n") and "boom" in details
    assert transitions(state, "q8") == ["preprocessing", "running", "postprocessing", "error"]
    assert state.uploads[("q8", "output", "output", "p.txt")] == b"partial\n"
    assert b"boom" in state.uploads[("q8", "log", "", "job.log")]


def test_the_log_tail_is_the_last_1000_characters(fake, tmp_path):
    url, state = fake
    state.add_job("q9", job_spec(9, "seq 1 2000; exit 1"))
    worker = Worker(_settings(url, tmp_path))
    with running(worker):
        wait_for(lambda: state.final("q9"))
    _, details = state.final("q9")
    reason, tail = details.split("\n", 1)
    assert reason == "exit code 1"
    assert len(tail) == 1000 and tail.endswith("1999\n2000\n")
    full = state.uploads[("q9", "log", "log", "job.log")].decode()
    assert full.startswith("1\n2\n3\n") and full.endswith("2000\n")


def test_timeout(fake, tmp_path):
    url, state = fake
    state.add_job("q10", job_spec(10, "echo started; sleep 30", timeout=1))
    worker = Worker(_settings(url, tmp_path))
    started = time.monotonic()
    with running(worker):
        wait_for(lambda: state.final("q10"))
    assert time.monotonic() - started < 10
    status, details = state.final("q10")
    assert status == "error" and details.startswith("timeout after 1 s\n")
    assert "started" in details


def test_a_missing_input_is_an_error(fake, tmp_path):
    url, state = fake
    files_down = {"data/x.tif": "local://alice/data/gone.tif"}
    state.add_job("q14", job_spec(14, "true", files_down=files_down))
    worker = Worker(_settings(url, tmp_path))
    with running(worker):
        wait_for(lambda: state.final("q14"))
    status, details = state.final("q14")
    assert status == "error" and "input missing" in details and "gone.tif" in details
    assert transitions(state, "q14") == ["preprocessing", "error"]


def test_an_unsafe_input_path_is_an_error(fake, tmp_path):
    url, state = fake
    state.add_job("q15", job_spec(15, "true", files_down={"data/../../../etc/x": INPUT_URI}))
    worker = Worker(_settings(url, tmp_path))
    with running(worker):
        wait_for(lambda: state.final("q15"))
    status, details = state.final("q15")
    assert status == "error" and details.startswith("unsafe path in the job spec")
    assert not any(c.path.endswith("/download") for c in state.calls)


@pytest.mark.podman
def test_docker_runner_job(fake, tmp_path, docker_host, test_image):
    url, state = fake
    cmd = (
        'tr a-z A-Z < "/files/data/run 1/in.txt" > /files/output/result.txt && '
        "echo in-container && cat /files/data/run*/in.txt"
    )
    spec = job_spec(
        60,
        cmd,
        runner="docker",
        image=test_image,
        files_down={"data/run 1/in.txt": INPUT_URI},
        hardware={"cpu_cores": 1, "memory": 256},
    )
    state.add_job("q60", spec)
    worker = Worker(_settings(url, tmp_path, runners="docker", docker_host=docker_host))
    with running(worker):
        wait_for(lambda: state.final("q60"), timeout=120)
        wait_for(lambda: not worker.running_jobs)
        assert job_dirs(tmp_path) == []
    assert state.final("q60") == ("finished", None)
    assert transitions(state, "q60") == ["preprocessing", "running", "postprocessing", "finished"]
    assert state.uploads[("q60", "output", "output", "result.txt")] == b"HELLO WORLD\n"
    log = state.uploads[("q60", "log", "log", "job.log")].decode()
    assert "in-container" in log and "hello world" in log


@pytest.mark.podman
def test_docker_runner_missing_image(fake, tmp_path, docker_host):
    url, state = fake
    image = "localhost/labcloud-no-such-image:never"
    state.add_job("q61", job_spec(61, "true", runner="docker", image=image))
    worker = Worker(_settings(url, tmp_path, runners="docker", docker_host=docker_host))
    with running(worker):
        wait_for(lambda: state.final("q61"), timeout=120)
    status, details = state.final("q61")
    assert status == "error" and details.startswith(f"image {image} could not be obtained")
    assert transitions(state, "q61") == ["preprocessing", "error"]


def test_process_runner_sees_no_worker_secrets(fake, tmp_path, monkeypatch):
    url, state = fake
    monkeypatch.setenv("LABCLOUD_WORKER_PASSWORD", "secret-pw")
    state.add_job("q70", job_spec(70, "env; echo FILES_DIR=$FILES_DIR", env={"MY_VAR": "x y"}))
    worker = Worker(_settings(url, tmp_path))
    with running(worker):
        wait_for(lambda: state.final("q70"))
    log = state.uploads[("q70", "log", "log", "job.log")].decode()
    assert "MY_VAR=x y" in log and "FILES_DIR=" in log
    assert "secret-pw" not in log
    assert os.environ["LABCLOUD_WORKER_PASSWORD"] == "secret-pw"


class LosingRunner:
    """A cloud runner's view of a run the service has lost (purged, or never known)."""

    capabilities = frozenset({Capability.QUEUES})

    def start(self, spec):
        return "run-1"

    def poll(self, handle):
        raise RunLost("AWS Batch no longer knows job run-1")

    def started(self, handle):
        return False

    def logs(self, handle, tail_chars=1000):
        return ""

    def kill(self, handle):
        pass

    def cleanup(self, handle):
        pass


def test_a_run_the_service_lost_is_handed_back_as_a_failed_attempt(fake, tmp_path):
    url, state = fake
    state.add_job("q16", job_spec(16, "true"))
    worker = Worker(_settings(url, tmp_path), runners={"process": LosingRunner()})
    with running(worker):
        wait_for(lambda: state.released == ["q16"])
        wait_for(lambda: not worker.running_jobs)
    assert state.final("q16") is None
    [call] = [c for c in state.calls if c.path == "/jobs/q16/release"]
    assert call.params == {"failed": ["true"]}  # it counts against the job's retries
    assert transitions(state, "q16") == ["preprocessing"]
