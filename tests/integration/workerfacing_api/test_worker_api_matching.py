"""`GET /jobs`: which jobs a worker gets, and in which order (claim SQL on a real DB)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from shared.transport.base import TransportMessage
from tests.integration.workerfacing_api.conftest import MakeAPI, WorkerAPI, job_payload

HARDWARE_CASES = [
    # (job requirement, worker offer that is too small, worker offer that fits)
    pytest.param({"cpu_cores": 4}, {"cpu_cores": 3}, {"cpu_cores": 4}, id="cpu_cores"),
    pytest.param({"memory": 8000}, {"memory": 7999}, {"memory": 8000}, id="memory"),
    pytest.param({"gpu_mem": 1000}, {"gpu_mem": 999}, {"gpu_mem": 1000}, id="gpu_mem"),
    pytest.param(
        {"gpu_mem": 1000}, {"gpu_memory": 999}, {"gpu_memory": 1000}, id="gpu_memory-alias"
    ),
    pytest.param(
        {"gpu_model": "A100"}, {"gpu_model": "V100"}, {"gpu_model": "A100"}, id="gpu_model"
    ),
    pytest.param({"gpu_model": "A100"}, {}, {"gpu_model": "A100"}, id="gpu_model-none"),
    pytest.param(
        {"gpu_archi": "ampere"}, {"gpu_archi": "turing"}, {"gpu_archi": "ampere"}, id="gpu_archi"
    ),
]


@pytest.mark.parametrize(("needs", "too_small", "fits"), HARDWARE_CASES)
def test_hardware_requirement_is_matched_per_field(
    api: WorkerAPI, needs: dict[str, Any], too_small: dict[str, Any], fits: dict[str, Any]
) -> None:
    api.submit(1, hardware=needs)
    worker = api.headers()
    assert api.pull(worker, **too_small) == {}
    assert api.row(1).status == "queued"
    jobs = api.pull(worker, **fits)
    assert list(jobs) == [1]
    assert jobs[1]["meta"]["job_id"] == 1
    assert jobs[1]["hardware"] | needs == jobs[1]["hardware"]


def test_job_without_requirements_goes_to_the_smallest_worker(api: WorkerAPI) -> None:
    api.submit(1)
    assert list(api.pull(api.headers(), memory=0, cpu_cores=0, gpu_mem=0)) == [1]


def test_memory_is_required(api: WorkerAPI) -> None:
    response = api.client.get("/jobs", headers=api.headers())
    assert response.status_code == 422


def test_response_is_the_job_spec_keyed_by_user_side_id(api: WorkerAPI) -> None:
    api.submit(42, hardware={"memory": 10})
    jobs = api.pull(api.headers())
    spec = jobs[42]
    assert set(spec) == {"app", "handler", "meta", "hardware"}
    assert spec["app"]["cmd"] == ["sh", "-c", "echo hi"]
    assert spec["handler"]["files_up"] == {"output": "output", "log": "log"}


def test_higher_priority_first(api: WorkerAPI) -> None:
    for job_id, priority in ((1, 1), (2, 5), (3, 3)):
        api.submit(job_id, priority=priority)
    worker = api.headers()
    assert [next(iter(api.pull(worker))) for _ in range(3)] == [2, 3, 1]


def test_oldest_first_among_equal_priority(api: WorkerAPI) -> None:
    for job_id in (1, 2, 3):
        api.submit(job_id)
    api.age(3, 300)  # submitted last, but the oldest
    api.age(1, 100)
    worker = api.headers()
    assert [next(iter(api.pull(worker))) for _ in range(3)] == [3, 1, 2]


def test_group_job_goes_only_to_workers_of_that_group(api: WorkerAPI) -> None:
    api.submit(1, group="lab-a")
    assert api.pull(api.headers()) == {}
    assert api.pull(api.headers(), groups=["lab-b"]) == {}
    assert list(api.pull(api.headers(), groups=["lab-b", "lab-a"])) == [1]


def test_own_group_jobs_come_first(api: WorkerAPI) -> None:
    api.submit(1, priority=5)  # for everyone, higher priority
    api.submit(2, group="lab-a", priority=0)
    worker = api.headers()
    assert list(api.pull(worker, groups=["lab-a"])) == [2]
    assert list(api.pull(worker, groups=["lab-a"])) == [1]


@pytest.mark.parametrize(
    ("job_env", "local_gets", "cloud_gets"),
    [
        ("local", True, False),
        ("cloud", False, True),
        ("any", True, True),
    ],
)
def test_environment_of_the_worker(
    api: WorkerAPI, job_env: str, local_gets: bool, cloud_gets: bool
) -> None:
    api.submit(1, environment=job_env)
    api.submit(2, environment=job_env)
    local = api.headers("local-worker", ("workers",))
    cloud = api.headers("cloud-worker", ("workers", "cloud"))  # "cloud" group: cloud worker
    assert len(api.pull(local)) == int(local_gets)
    assert len(api.pull(cloud)) == int(cloud_gets)


def test_any_jobs_wait_out_the_head_start(api: WorkerAPI) -> None:
    api.submit(1, environment="any")
    api.submit(2, environment="cloud")
    cloud = api.headers("cloud-worker", ("workers", "cloud"))
    # The cloud worker gives local workers 60 s on "any" jobs; its own come at once.
    assert list(api.pull(cloud, older_than=60, limit=5)) == [2]
    assert api.pull(cloud, older_than=60) == {}
    api.age(1, 61)
    assert list(api.pull(cloud, older_than=60)) == [1]


def test_limit(api: WorkerAPI) -> None:
    for job_id in range(1, 6):
        api.submit(job_id)
    worker = api.headers()
    assert sorted(api.pull(worker, limit=3)) == [1, 2, 3]
    assert sorted(api.pull(worker, limit=10)) == [4, 5]
    assert api.pull(worker, limit=10) == {}


def test_a_claimed_job_is_not_given_again(api: WorkerAPI) -> None:
    api.submit(1)
    assert list(api.pull(api.headers("a"))) == [1]
    assert api.pull(api.headers("b")) == {}
    row = api.row(1)
    assert (row.status, row.attempt, row.worker_id, row.tried_workers) == ("pulled", 1, "a", ["a"])
    assert row.lease_expires_at is not None
    [attempt] = api.attempts(1)
    assert (attempt.number, attempt.worker_id, attempt.ended_at) == (1, "a", None)


def test_worker_identity_includes_the_worker_id_header(api: WorkerAPI) -> None:
    api.submit(1)
    api.pull(api.headers("alice", worker_id="proc-1"))
    assert api.row(1).worker_id == "alice/proc-1"


def test_long_poll_waits_then_answers_empty(make_api: MakeAPI) -> None:
    api = make_api(long_poll_seconds=1)
    start = time.monotonic()
    assert api.pull(api.headers(), wait=10) == {}  # capped at LONG_POLL_SECONDS
    assert 0.9 <= time.monotonic() - start < 5


def test_long_poll_returns_a_job_submitted_meanwhile(api: WorkerAPI) -> None:
    def submit_later() -> None:
        time.sleep(0.3)
        api.ctx.handle_message(TransportMessage("submit", 7, job_payload(7)))

    threading.Thread(target=submit_later).start()
    start = time.monotonic()
    assert list(api.pull(api.headers(), wait=10)) == [7]
    assert time.monotonic() - start < 5


def test_without_wait_the_answer_is_immediate(api: WorkerAPI) -> None:
    start = time.monotonic()
    assert api.pull(api.headers()) == {}
    assert time.monotonic() - start < 0.9


def test_gpu_count_is_matched_when_the_worker_states_it(api: WorkerAPI) -> None:
    api.submit(1, gpus=1)
    worker = api.headers()
    assert api.pull(worker, gpus=0) == {}  # labcloud worker without a free GPU
    assert list(api.pull(worker, gpus=1)) == [1]
    api.submit(2, gpus=2)
    assert list(api.pull(worker)) == [2]  # DECODE's worker does not say: not filtered


def test_jobs_for_other_runners_go_only_to_workers_that_list_them(api: WorkerAPI) -> None:
    api.submit(1, runner="process")
    worker = api.headers()
    assert api.pull(worker) == {}  # DECODE's worker lists no runners: docker images only
    assert api.pull(worker, runners=["docker"]) == {}
    assert list(api.pull(worker, runners=["process", "docker"])) == [1]
