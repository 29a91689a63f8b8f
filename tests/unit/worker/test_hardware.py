"""Hardware probing (parsers fed with real output samples) and the resource budget."""

from __future__ import annotations

import subprocess
import threading

import pytest

from shared.jobs.specs import JobSpecs
from tests.unit.worker.worker_protocol_fake import job_spec
from worker.hardware import (
    Capacity,
    Gpu,
    Machine,
    Needs,
    Resources,
    archi_from_compute_cap,
    cpu_count,
    job_needs,
    parse_nvidia_smi,
    probe,
    probe_gpus,
    total_memory_mb,
)

# `nvidia-smi --query-gpu=name,memory.total,compute_cap --format=csv,noheader,nounits`
TWO_GPUS = """NVIDIA GeForce RTX 3090, 24576, 8.6
NVIDIA A100-SXM4-80GB, 81920, 8.0
"""
MEMINFO = """MemTotal:       32791612 kB
MemFree:         1234567 kB
MemAvailable:   20000000 kB
"""


def test_parse_nvidia_smi():
    assert parse_nvidia_smi(TWO_GPUS) == [
        Gpu(0, "NVIDIA GeForce RTX 3090", 24576, "ampere"),
        Gpu(1, "NVIDIA A100-SXM4-80GB", 81920, "ampere"),
    ]


def test_parse_nvidia_smi_odd_values_and_old_drivers():
    # [N/A] memory (e.g. some MIG/vGPU setups); no compute_cap column (old drivers).
    assert parse_nvidia_smi("Tesla K80, [N/A], 3.7\n\nQuadro P4000, 8192\n") == [
        Gpu(0, "Tesla K80", 0, "kepler"),
        Gpu(1, "Quadro P4000", 8192, None),
    ]
    assert parse_nvidia_smi("") == []


@pytest.mark.parametrize(
    ("cap", "archi"),
    [
        ("7.0", "volta"),
        ("7.5", "turing"),
        ("8.9", "ada"),
        ("9.0", "hopper"),
        ("6.1", "pascal"),
        ("12.0", "blackwell"),
        ("1.0", None),
    ],
)
def test_architecture_from_compute_capability(cap, archi):
    assert archi_from_compute_cap(cap) == archi


def test_probe_gpus_falls_back_for_old_nvidia_smi(monkeypatch):
    monkeypatch.setattr("worker.hardware.shutil.which", lambda name: "/usr/bin/" + name)
    seen: list[str] = []

    def fake_run(argv, **kwargs):
        seen.append(argv[1])
        if "compute_cap" in argv[1]:
            return subprocess.CompletedProcess(argv, 6, "", 'Field "compute_cap" is not valid')
        return subprocess.CompletedProcess(argv, 0, "Tesla V100-PCIE-16GB, 16160\n", "")

    assert probe_gpus(fake_run) == [Gpu(0, "Tesla V100-PCIE-16GB", 16160, None)]
    assert seen == ["--query-gpu=name,memory.total,compute_cap", "--query-gpu=name,memory.total"]


def test_no_nvidia_smi_means_no_gpus(monkeypatch):
    monkeypatch.setattr("worker.hardware.shutil.which", lambda name: None)
    assert probe_gpus() == []


def test_memory_and_cgroup_limits(tmp_path):
    assert total_memory_mb(MEMINFO, cgroup_root=tmp_path) == 32023
    (tmp_path / "memory.max").write_text("max\n")
    assert total_memory_mb(MEMINFO, cgroup_root=tmp_path) == 32023
    (tmp_path / "memory.max").write_text(str(4 * 1024**3) + "\n")
    assert total_memory_mb(MEMINFO, cgroup_root=tmp_path) == 4096


def test_cpu_count_honours_a_cgroup_quota(tmp_path):
    assert cpu_count(tmp_path) >= 1
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # 1.5 CPUs
    assert cpu_count(tmp_path) == min(2, cpu_count(tmp_path / "none"))


def test_probe_overrides():
    gpus = parse_nvidia_smi(TWO_GPUS)
    machine = probe(cpu_cores=3, memory_mb=1000, gpus=gpus, gpu_count=1, gpu_mem_mb=20000)
    assert machine == Machine(3, 1000, (Gpu(0, "NVIDIA GeForce RTX 3090", 20000, "ampere"),))
    assert probe(cpu_cores=1, memory_mb=1, gpu_count=0).gpus == ()
    added = probe(
        cpu_cores=1,
        memory_mb=1,
        gpus=[],
        gpu_count=2,
        gpu_model="T4",
        gpu_archi="turing",
        gpu_mem_mb=15360,
    )
    assert added.gpus == (Gpu(0, "T4", 15360, "turing"), Gpu(1, "T4", 15360, "turing"))


def test_job_needs_defaults_to_one_core_and_no_memory():
    spec = JobSpecs.model_validate(job_spec(1, "true"))
    assert job_needs(spec) == Needs(cpu_cores=1, memory_mb=0, gpus=0)
    spec = JobSpecs.model_validate(
        job_spec(
            1, "true", hardware={"cpu_cores": 4, "memory": 2000, "gpu_model": "T4", "gpu_mem": 8000}
        )
    )
    assert job_needs(spec) == Needs(4, 2000, gpus=1, gpu_model="T4", gpu_mem_mb=8000)


def _machine() -> Machine:
    return Machine(
        cpu_cores=4,
        memory_mb=8000,
        gpus=(Gpu(0, "T4", 15000, "turing"), Gpu(1, "A100", 80000, "ampere")),
    )


def test_budget_reserves_and_frees():
    res = Resources(_machine(), max_jobs=10)
    assert res.capacity() == Capacity(4, 8000, "A100", "ampere", 80000, gpus=2)
    a = res.try_reserve(Needs(cpu_cores=2, memory_mb=5000))
    assert a is not None and res.capacity() == Capacity(2, 3000, "A100", "ampere", 80000, gpus=2)
    assert res.try_reserve(Needs(cpu_cores=1, memory_mb=4000)) is None  # memory short
    b = res.try_reserve(Needs(cpu_cores=2, memory_mb=3000))
    assert b is not None and res.capacity() is None  # no core left
    res.release(a)
    assert res.capacity() == Capacity(2, 5000, "A100", "ampere", 80000, gpus=2)
    res.release(b)
    assert res.capacity() == Capacity(4, 8000, "A100", "ampere", 80000, gpus=2)
    assert res.running == 0


def test_budget_hands_out_matching_gpus_smallest_first():
    res = Resources(_machine(), max_jobs=10)
    small = res.try_reserve(Needs(gpus=1))
    assert small is not None and small.gpu_indices == (0,)  # the T4; keep the A100 free
    assert res.try_reserve(Needs(gpus=1, gpu_model="T4")) is None
    big = res.try_reserve(Needs(gpus=1, gpu_mem_mb=40000))
    assert big is not None and big.gpu_indices == (1,)
    assert res.capacity() == Capacity(2, 8000, None, None, 0, gpus=0)  # no GPU left to advertise
    res.release(small)
    assert res.capacity() == Capacity(3, 8000, "T4", "turing", 15000, gpus=1)


def test_budget_job_slots():
    res = Resources(_machine(), max_jobs=1)
    grant = res.try_reserve(Needs())
    assert grant is not None and res.capacity() is None
    assert res.try_reserve(Needs()) is None
    res.release(grant)
    assert res.capacity() is not None


def test_never_fits_explains_why():
    res = Resources(_machine(), max_jobs=2)
    assert res.never_fits(Needs(cpu_cores=4, memory_mb=8000, gpus=2)) is None
    assert "needs 5 CPU cores; this worker has 4" in res.never_fits(Needs(cpu_cores=5))
    assert "9000 MB" in res.never_fits(Needs(memory_mb=9000))
    assert res.never_fits(Needs(gpus=2, gpu_archi="ampere")) == (
        "needs 2 GPU(s) (architecture ampere); this worker has 1 such GPU(s)"
    )


def test_reserve_waits_until_resources_free_up():
    res = Resources(Machine(cpu_cores=2, memory_mb=0), max_jobs=5)
    first = res.try_reserve(Needs(cpu_cores=2))
    assert first is not None
    got: list[object] = []
    waiter = threading.Thread(
        target=lambda: got.append(res.reserve(Needs(cpu_cores=1), give_up=lambda: False))
    )
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # still waiting
    res.release(first)
    waiter.join(5)
    assert got and got[0] is not None


def test_reserve_gives_up():
    res = Resources(Machine(cpu_cores=1, memory_mb=0), max_jobs=5)
    assert res.try_reserve(Needs()) is not None
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    assert res.reserve(Needs(), give_up=stop.is_set, poll_s=0.02) is None
