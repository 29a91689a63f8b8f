"""What the runners ask of the engine or the OS for a RunSpec (no engine, no GPU needed)."""

from __future__ import annotations

from pathlib import Path

from worker.runners.base import RunSpec
from worker.runners.docker import container_options
from worker.runners.process import ProcessRunner

HOST_ENV = {"PATH": "/usr/bin", "CUDA_VISIBLE_DEVICES": "0,1,2,3", "SECRET": "s"}


def _spec(tmp_path: Path, **kwargs) -> RunSpec:
    return RunSpec(job_id="j", command="true", files_dir=tmp_path, **kwargs)


def test_a_gpu_count_becomes_a_device_request(tmp_path):
    (req,) = container_options(_spec(tmp_path, gpus=2))["device_requests"]
    assert req["Count"] == 2 and req["Capabilities"] == [["gpu"]]
    assert not req["DeviceIDs"]


def test_reserved_gpus_are_requested_by_id(tmp_path):
    (req,) = container_options(_spec(tmp_path, gpus=2, gpu_ids=("1", "3")))["device_requests"]
    assert req["DeviceIDs"] == ["1", "3"] and req["Capabilities"] == [["gpu"]]
    assert req["Count"] == 0  # the engine refuses a count together with ids


def test_no_gpu_no_device_request(tmp_path):
    options = container_options(_spec(tmp_path))
    assert "device_requests" not in options and "mem_limit" not in options


def test_a_process_sees_only_its_gpus(tmp_path):
    env = ProcessRunner().build_env(_spec(tmp_path, gpus=2, gpu_ids=("1", "3")), HOST_ENV)
    assert env["CUDA_VISIBLE_DEVICES"] == "1,3"
    assert "SECRET" not in env


def test_a_process_that_asked_for_no_gpu_sees_none(tmp_path):
    env = ProcessRunner().build_env(_spec(tmp_path), HOST_ENV)
    assert env["CUDA_VISIBLE_DEVICES"] == ""


def test_the_jobs_env_cannot_widen_its_gpus(tmp_path):
    spec = _spec(tmp_path, gpus=1, gpu_ids=("2",), env={"CUDA_VISIBLE_DEVICES": "0,1,2,3"})
    assert ProcessRunner().build_env(spec, HOST_ENV)["CUDA_VISIBLE_DEVICES"] == "2"
    spec = _spec(tmp_path, env={"CUDA_VISIBLE_DEVICES": "0"})
    assert ProcessRunner().build_env(spec, HOST_ENV)["CUDA_VISIBLE_DEVICES"] == ""


def test_a_gpu_count_without_ids_keeps_the_hosts_devices(tmp_path):
    # A runner used without the worker's reservation (no ids): nothing to narrow to.
    env = ProcessRunner().build_env(_spec(tmp_path, gpus=1), HOST_ENV)
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"
