"""The whole worker loop against a real HTTP server speaking the worker protocol:
polling, matching what it offers, jobs side by side, cancel, stop and drain, login.

Jobs run for real (process runner: `sh -c` on this host). What the DECODE job kind
itself does is tested in kinds/test_decode_job.py, with the same helpers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.unit.worker.worker_protocol_fake import FakeState, job_spec, serve
from worker import hardware
from worker.loop import Worker
from worker.settings import WorkerSettings

INPUT_URI = "local://alice/data/run 1/in.txt"


@pytest.fixture
def fake():
    with serve() as (url, state):
        state.files[INPUT_URI] = b"hello world\n"
        yield url, state


def _settings(url: str, tmp_path: Path, **overrides) -> WorkerSettings:
    values = dict(
        api_url=url,
        auth_url=url,
        username="worker",
        password="secret-pw",
        scratch_dir=tmp_path / "scratch",
        runners="process",
        poll_min=0.05,
        poll_max=0.2,
        long_poll=0,
        heartbeat_interval=0.2,
        drain_timeout=30,
        cpu_cores=4,
        memory_mb=4000,
        gpu_count=0,
    )
    values.update(overrides)
    return WorkerSettings(**values)


@contextmanager
def running(worker: Worker) -> Iterator[threading.Thread]:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        worker.stop(drain=False)
        thread.join(30)
        assert not thread.is_alive(), "the worker did not stop"


def wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def transitions(state: FakeState, job_id: str) -> list[str]:
    """The status sequence without the keep-alive repeats."""
    out: list[str] = []
    for name in state.status_names(job_id):
        if not out or out[-1] != name:
            out.append(name)
    return out


def job_dirs(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "scratch").glob("worker-*/job-*"))


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_cancel_kills_the_run_and_drops_the_job(fake, tmp_path):
    url, state = fake
    pid_file = tmp_path / "pid"
    state.add_job("q11", job_spec(11, f"echo $$ > {pid_file}; exec sleep 60"))
    state.gone_when["q11"] = "running"  # the server forgets the job once it runs
    worker = Worker(_settings(url, tmp_path))
    with running(worker):
        wait_for(lambda: pid_file.exists() and pid_file.read_text().strip())
        pid = int(pid_file.read_text())
        gone_at = time.monotonic()
        wait_for(lambda: not worker.running_jobs, timeout=10)
        killed_after = time.monotonic() - gone_at
        assert not _alive(pid)
        assert job_dirs(tmp_path) == []
        status_calls = [c for c in state.calls if c.path == "/jobs/q11/status"]
        time.sleep(0.5)  # nothing more is said about the job
        assert [c for c in state.calls if c.path == "/jobs/q11/status"] == status_calls
    assert killed_after < 3, "killed within a heartbeat or so"
    assert state.final("q11") is None
    assert transitions(state, "q11") == ["preprocessing", "running"]
    assert not any(c.path.startswith("/jobs/q11/files") for c in state.calls)
    assert state.released == []


def test_cancel_during_staging(fake, tmp_path):
    url, state = fake
    state.add_job("q12", job_spec(12, "true", files_down={"data/in.txt": INPUT_URI}))
    state.gone.add("q12")  # gone before it even started: the first status call 404s
    worker = Worker(_settings(url, tmp_path))
    with running(worker):
        wait_for(lambda: any(c.path == "/jobs/q12/status" for c in state.calls))
        wait_for(lambda: not worker.running_jobs)
    assert state.statuses.get("q12", []) == []
    assert not any(c.path.endswith("/download") for c in state.calls)


def test_a_job_for_a_runner_this_worker_does_not_list_is_not_leased(fake, tmp_path):
    url, state = fake
    state.add_job("q13", job_spec(13, "true", runner="docker", image="busybox"))
    worker = Worker(_settings(url, tmp_path, runners="process"))
    with running(worker):
        wait_for(lambda: sum(c.path == "/jobs" for c in state.calls) >= 3)
    assert [c.params["runners"] for c in state.calls if c.path == "/jobs"][0] == ["process"]
    assert len(state.queue) == 1 and "q13" not in state.statuses


def test_a_runner_this_worker_does_not_allow_from_an_older_server(fake, tmp_path):
    url, state = fake
    state.match_runners = False
    state.add_job("q13", job_spec(13, "true", runner="docker", image="busybox"))
    worker = Worker(_settings(url, tmp_path, runners="process"))
    with running(worker):
        wait_for(lambda: state.final("q13"))
    assert state.statuses["q13"] == [
        ("error", "runner 'docker' is not enabled on this worker (enabled: process)")
    ]


def test_jobs_run_side_by_side(fake, tmp_path):
    url, state = fake
    # Each job waits for the other to have started: only concurrent runs can finish.
    for me, other in (("a", "b"), ("b", "a")):
        cmd = f"touch {tmp_path}/{me}; while [ ! -e {tmp_path}/{other} ]; do sleep 0.05; done"
        state.add_job(f"q-{me}", job_spec(20, cmd, timeout=10))
    worker = Worker(_settings(url, tmp_path, max_concurrent_jobs=2))
    with running(worker):
        wait_for(lambda: state.final("q-a") and state.final("q-b"))
    assert state.final("q-a") == state.final("q-b") == ("finished", None)


def test_a_job_bigger_than_the_free_budget_is_not_pulled(fake, tmp_path):
    url, state = fake
    state.add_job("q-big", job_spec(21, "true", hardware={"cpu_cores": 8}))
    worker = Worker(_settings(url, tmp_path, cpu_cores=4))
    with running(worker):
        wait_for(lambda: sum(c.path == "/jobs" for c in state.calls) >= 3)
    assert state.final("q-big") is None and len(state.queue) == 1
    assert all(c.params["cpu_cores"] == ["4"] for c in state.calls if c.path == "/jobs")


def test_drain_lets_running_jobs_finish(fake, tmp_path):
    url, state = fake
    state.add_job("q30", job_spec(30, "sleep 1; echo done > output/d.txt"))
    worker = Worker(_settings(url, tmp_path))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    wait_for(lambda: "running" in state.status_names("q30"))
    state.add_job("q31", job_spec(31, "true"))  # must not be taken any more
    worker.stop(drain=True)
    thread.join(20)
    assert not thread.is_alive()
    assert state.final("q30") == ("finished", None)
    assert state.uploads[("q30", "output", "output", "d.txt")] == b"done\n"
    assert [job for job, _ in state.queue] == ["q31"]
    assert not (tmp_path / "scratch").exists() or not any((tmp_path / "scratch").iterdir())


@pytest.mark.parametrize("supports_release", [True, False])
def test_drain_timeout_kills_and_releases(fake, tmp_path, supports_release):
    url, state = fake
    state.supports_release = supports_release
    pid_file = tmp_path / "pid"
    state.add_job("q40", job_spec(40, f"echo $$ > {pid_file}; exec sleep 60"))
    worker = Worker(_settings(url, tmp_path, drain_timeout=0.5))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip())
    worker.stop(drain=True)
    thread.join(20)
    assert not thread.is_alive()
    assert not _alive(int(pid_file.read_text()))
    assert state.final("q40") is None  # handed back, not failed
    assert state.released == (["q40"] if supports_release else [])
    assert job_dirs(tmp_path) == []


def test_a_rejected_login_stops_the_worker(fake, tmp_path):
    url, _ = fake
    worker = Worker(_settings(url, tmp_path, password="wrong"))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive()
    assert worker.fatal_error and "login as 'worker' failed" in worker.fatal_error


def test_server_errors_while_polling_are_survived(fake, tmp_path):
    url, state = fake
    state.fail_next("GET", "/jobs", *[503] * 8)
    state.add_job("q50", job_spec(50, "true"))
    worker = Worker(_settings(url, tmp_path))
    worker.client._backoff_s = 0.01  # keep the client's retry pauses short
    with running(worker):
        wait_for(lambda: state.final("q50"))
    assert state.final("q50") == ("finished", None)


def test_long_poll_is_requested_and_a_server_ignoring_it_is_not_hammered(fake, tmp_path):
    url, state = fake
    worker = Worker(_settings(url, tmp_path, long_poll=2, poll_min=0.2, poll_max=0.4))
    with running(worker):
        time.sleep(1.5)
    polls = [c for c in state.calls if c.path == "/jobs"]
    assert polls and all(c.params["wait"] == ["2"] for c in polls)
    assert len(polls) <= 6  # the fake answers at once: the worker still backs off


def test_polls_list_the_runners_and_job_calls_carry_the_attempt(fake, tmp_path):
    url, state = fake
    state.attempts["q80"] = 4  # leased three times before: this lease is attempt 5
    cmd = 'cp "data/in.txt" output/copy.txt'
    state.add_job("q80", job_spec(80, cmd, files_down={"data/in.txt": INPUT_URI}))
    worker = Worker(_settings(url, tmp_path, runners="process,docker"))
    with running(worker):
        wait_for(lambda: state.final("q80"))
    assert state.final("q80") == ("finished", None)
    assert state.uploads[("q80", "output", "output", "copy.txt")] == b"hello world\n"
    polls = [c for c in state.calls if c.path == "/jobs"]
    assert polls and all(c.params["runners"] == ["process", "docker"] for c in polls)
    job_calls = [c for c in state.calls if c.path not in ("/jobs", "/token", "/readyz")]
    kinds = {c.path.rsplit("/", 1)[1] for c in job_calls}
    assert kinds == {"status", "url", "download", "upload"}
    assert {c.attempt for c in job_calls} == {"5"}


def test_a_superseded_attempt_is_killed_and_dropped(fake, tmp_path):
    url, state = fake
    pid_file = tmp_path / "pid"
    state.add_job("q81", job_spec(81, f"echo $$ > {pid_file}; exec sleep 60"))
    worker = Worker(_settings(url, tmp_path))
    with running(worker):
        wait_for(lambda: pid_file.exists() and pid_file.read_text().strip())
        pid = int(pid_file.read_text())
        state.supersede("q81")  # e.g. our lease ran out and another worker holds it now
        wait_for(lambda: not worker.running_jobs, timeout=10)
        assert not _alive(pid)
        assert job_dirs(tmp_path) == []
    assert state.final("q81") is None
    assert not any(c.path.startswith("/jobs/q81/files") for c in state.calls)
    assert state.released == []


def test_each_gpu_job_sees_only_its_own_gpu(fake, tmp_path):
    url, state = fake
    gpus = [hardware.Gpu(index=i, model="Test GPU", memory_mb=16000) for i in (0, 1)]
    machine = hardware.probe(cpu_cores=4, memory_mb=4000, gpus=gpus)
    # The two GPU jobs wait for each other: they hold their GPUs at the same time.
    for me, other in (("a", "b"), ("b", "a")):
        cmd = (
            f'echo "GPUS=$CUDA_VISIBLE_DEVICES"; touch {tmp_path}/{me}; '
            f"while [ ! -e {tmp_path}/{other} ]; do sleep 0.05; done"
        )
        spec = job_spec(82, cmd, timeout=10)
        spec["handler"]["gpus"] = 1
        state.add_job(f"q-gpu-{me}", spec)
    state.add_job("q-cpu", job_spec(83, 'echo "GPUS=$CUDA_VISIBLE_DEVICES"'))
    worker = Worker(_settings(url, tmp_path, max_concurrent_jobs=3), machine=machine)
    with running(worker):
        wait_for(lambda: all(state.final(j) for j in ("q-gpu-a", "q-gpu-b", "q-cpu")))

    def seen(job_id: str) -> str:
        log = state.uploads[(job_id, "log", "log", "job.log")].decode()
        return next(line for line in log.splitlines() if line.startswith("GPUS="))

    assert sorted([seen("q-gpu-a"), seen("q-gpu-b")]) == ["GPUS=0", "GPUS=1"]
    assert seen("q-cpu") == "GPUS="


def test_a_poll_in_flight_at_a_stop_hands_its_job_back_unstarted(fake, tmp_path):
    url, state = fake
    state.long_poll = True  # the fake holds an empty poll, as the worker API does
    worker = Worker(_settings(url, tmp_path, long_poll=30))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    wait_for(lambda: state.polls_in_flight == 1)
    worker.stop(drain=True)  # the first Ctrl-C: no new work
    state.add_job("q34", job_spec(34, f"touch {tmp_path}/started"))  # the held poll gets it
    thread.join(20)
    assert not thread.is_alive()
    assert state.released == ["q34"]
    assert state.statuses.get("q34", []) == []  # not even `preprocessing`
    assert not (tmp_path / "started").exists()
    assert sum(c.path == "/jobs" for c in state.calls) == 1  # and no poll after the stop


def test_a_hard_stop_does_not_start_again_the_job_it_handed_back(fake, tmp_path):
    url, state = fake
    state.long_poll = state.requeue_released = True
    pid_file = tmp_path / "pid"
    state.add_job("q35", job_spec(35, f"echo $$ > {pid_file}; exec sleep 60"))
    # A free slot beside the job: the worker long-polls while it runs.
    worker = Worker(_settings(url, tmp_path, long_poll=30, max_concurrent_jobs=2))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip())
    wait_for(lambda: state.polls_in_flight == 1)
    worker.stop(drain=False)  # `labcloud up`'s Ctrl-C
    thread.join(20)
    assert not thread.is_alive()
    assert not _alive(int(pid_file.read_text()))
    # Handed back, leased again by the poll in flight, and handed back at once.
    assert state.released == ["q35", "q35"]
    releases = [c.attempt for c in state.calls if c.path == "/jobs/q35/release"]
    assert releases == ["1", "2"]
    assert transitions(state, "q35") == ["preprocessing", "running"]  # it ran once only
    assert [job for job, _ in state.queue] == ["q35"]  # queued for the next worker
    assert job_dirs(tmp_path) == []
