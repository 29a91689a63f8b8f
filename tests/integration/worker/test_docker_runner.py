"""DockerRunner against Podman's Docker API, using the local busybox test image."""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from worker.runners.base import LOG_TAIL_CHARS, RunSpec, run_to_completion
from worker.runners.docker import JOB_LABEL, DockerRunner, container_name
from worker.staging import create_job_dir, share_with_container, stage_inputs


@pytest.fixture
def runner(docker_host: str) -> Iterator[DockerRunner]:
    r = DockerRunner(base_url=docker_host)
    yield r
    r.client.close()


@pytest.fixture
def make_spec(tmp_path: Path, test_image: str):
    def make(command: str, **kwargs) -> RunSpec:
        kwargs.setdefault("job_id", f"test-{uuid.uuid4().hex[:12]}")
        return RunSpec(command=command, files_dir=tmp_path, image=test_image, **kwargs)

    return make


def _job_containers(runner: DockerRunner, job_id: str) -> list:
    return runner.client.containers.list(all=True, filters={"label": f"{JOB_LABEL}={job_id}"})


@pytest.mark.podman
def test_exit_zero_and_output(runner, make_spec):
    outcome = run_to_completion(runner, make_spec("echo hello; echo oops >&2"), tick_s=0.2)
    assert outcome.exit_code == 0
    assert not outcome.timed_out and not outcome.killed
    assert "hello" in outcome.log and "oops" in outcome.log


@pytest.mark.podman
def test_nonzero_exit_code(runner, make_spec):
    outcome = run_to_completion(runner, make_spec("echo failing; exit 3"), tick_s=0.2)
    assert outcome.exit_code == 3
    assert "failing" in outcome.log_tail


@pytest.mark.podman
def test_output_files_appear_on_host(runner, make_spec, tmp_path):
    (tmp_path / "input.txt").write_text("from host\n")
    spec = make_spec("mkdir -p /files/output && cat /files/input.txt > /files/output/result.txt")
    outcome = run_to_completion(runner, spec, tick_s=0.2)
    assert outcome.exit_code == 0, outcome.log
    assert (tmp_path / "output" / "result.txt").read_text() == "from host\n"


@pytest.mark.podman
def test_env_reaches_container(runner, make_spec):
    spec = make_spec('echo "FOO=$FOO"', env={"FOO": "bar baz"})
    outcome = run_to_completion(runner, spec, tick_s=0.2)
    assert "FOO=bar baz" in outcome.log


@pytest.mark.podman
def test_memory_limit_applied(runner, make_spec):
    # cgroup v2 exposes memory.max, v1 memory/memory.limit_in_bytes; both hold bytes.
    cmd = (
        "cat /sys/fs/cgroup/memory.max 2>/dev/null"
        " || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
    )
    outcome = run_to_completion(runner, make_spec(cmd, memory_mb=64), tick_s=0.2)
    assert outcome.exit_code == 0, outcome.log
    assert outcome.log.strip() == str(64 * 1024 * 1024)


@pytest.mark.podman
def test_exceeding_memory_limit_is_killed_and_reported(runner, make_spec):
    # dd fills a 200 MB buffer from /dev/zero: far over the 64 MB limit.
    spec = make_spec("exec dd if=/dev/zero of=/dev/null bs=200M count=1", memory_mb=64)
    outcome = run_to_completion(runner, spec, tick_s=0.2)
    assert outcome.exit_code == 137
    assert "memory limit 64 MB" in outcome.log_tail


@pytest.mark.podman
def test_cpu_limit_applied(runner, make_spec):
    spec = make_spec(
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max",
        cpu_cores=1,
    )
    handle = runner.start(spec)
    try:
        assert handle.container.attrs["HostConfig"]["NanoCpus"] == 1_000_000_000
        deadline = time.monotonic() + 30
        while runner.poll(handle) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert runner.poll(handle) == 0
        handle.container.reload()
        assert handle.container.attrs["HostConfig"]["NanoCpus"] == 1_000_000_000
        # 1 core = a quota of one full CFS period (100000 us by default).
        assert runner.logs(handle).split()[0] == "100000"
    finally:
        runner.cleanup(handle)


@pytest.mark.podman
def test_timeout_kills_container(runner, make_spec):
    spec = make_spec("sleep 100", timeout_s=1)
    t0 = time.monotonic()
    outcome = run_to_completion(runner, spec, tick_s=0.2)
    assert time.monotonic() - t0 < 10
    assert outcome.timed_out and not outcome.killed
    assert outcome.exit_code is None
    assert _job_containers(runner, spec.job_id) == []


@pytest.mark.podman
def test_on_tick_false_kills_quickly(runner, make_spec):
    ticks = []

    def on_tick() -> bool:
        ticks.append(time.monotonic())
        return len(ticks) < 2  # cancel on the second heartbeat

    spec = make_spec("echo started; sleep 100")
    t0 = time.monotonic()
    outcome = run_to_completion(runner, spec, on_tick=on_tick, tick_s=0.3)
    assert time.monotonic() - t0 < 10
    assert outcome.killed and not outcome.timed_out
    assert outcome.exit_code is None
    assert len(ticks) == 2
    assert "started" in outcome.log


@pytest.mark.podman
def test_container_removed_after_run(runner, make_spec):
    spec = make_spec("sleep 1")
    seen = []

    def on_tick() -> bool:
        seen.extend(_job_containers(runner, spec.job_id))
        return True

    outcome = run_to_completion(runner, spec, on_tick=on_tick, tick_s=0.2)
    assert outcome.exit_code == 0
    assert seen, "the container should exist while the job runs"
    assert _job_containers(runner, spec.job_id) == []


@pytest.mark.podman
def test_log_tail_holds_last_1000_chars(runner, make_spec):
    cmd = 'i=0; while [ $i -lt 500 ]; do echo "line $i"; i=$((i+1)); done'
    outcome = run_to_completion(runner, make_spec(cmd), tick_s=0.2)
    assert outcome.log.startswith("line 0\n")
    assert outcome.log.endswith("line 499\n")
    assert len(outcome.log_tail) == LOG_TAIL_CHARS
    assert outcome.log_tail == outcome.log[-LOG_TAIL_CHARS:]


@pytest.mark.podman
def test_missing_image_raises_and_leaves_nothing(runner, tmp_path):
    job_id = f"test-{uuid.uuid4().hex[:12]}"
    spec = RunSpec(job_id=job_id, command="true", files_dir=tmp_path,
                   image="localhost/labcloud-does-not-exist:nope")  # fmt: skip
    with pytest.raises(docker.errors.DockerException):
        runner.start(spec)
    assert _job_containers(runner, job_id) == []


@pytest.mark.parametrize("job_id", ["abc", "job/1 with spaces"])
def test_container_name_is_valid_and_unique(job_id):
    # Pure function: no engine needed (runs even where Podman is absent).
    a, b = container_name(job_id), container_name(job_id)
    assert a != b
    assert a.startswith("labcloud-job-")
    assert all(c.isalnum() or c in "_.-" for c in a)


@pytest.fixture
def non_root_image(runner, test_image) -> Iterator[str]:
    """The test image with `USER 1000:1000`, as many published images run."""
    tag = f"localhost/labcloud-busybox:non-root-{uuid.uuid4().hex[:6]}"
    recipe = f"FROM {test_image}\nUSER 1000:1000\n".encode()
    runner.client.images.build(fileobj=io.BytesIO(recipe), tag=tag, pull=False, rm=True)
    yield tag
    runner.client.images.remove(tag, force=True)


@pytest.mark.podman
@pytest.mark.parametrize("shared", [True, False], ids=["shared", "left-private"])
def test_a_non_root_container_user_reads_what_was_staged_under_umask_077(
    runner, non_root_image, tmp_path, shared
):
    old = os.umask(0o077)  # as under `labcloud up`
    try:
        jobdir = create_job_dir(tmp_path / "scratch", "non-root")
        stage_inputs(jobdir, {"data/in.txt": "u"}, lambda _uri, dest: dest.write_text("input"))
        if shared:  # what the worker does before every run
            share_with_container(jobdir)
    finally:
        os.umask(old)
    spec = RunSpec(
        command="id -u; cat /files/data/in.txt",
        files_dir=jobdir,
        image=non_root_image,
        job_id=f"t-{uuid.uuid4().hex[:8]}",
    )
    outcome = run_to_completion(runner, spec, tick_s=0.2)
    if shared:
        assert outcome.exit_code == 0, outcome.log
        assert outcome.log.split() == ["1000", "input"]
    else:  # the control: private modes would lock such a container out
        assert outcome.exit_code != 0 and "Permission denied" in outcome.log
