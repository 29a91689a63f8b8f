"""Worker scope: a worker reads the status, the files and the log only of the jobs it
currently holds; for any other job (another worker's, queued, ended, cancelled, never
seen) every worker endpoint answers 404 and changes nothing. The cloud poller (the
internal API key) is a worker like any other here.

The matrix: four workers (two accounts, a second process of one account, the cloud
poller) × seven jobs × every worker endpoint that touches a job, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.integration.workerfacing_api.conftest import job_payload
from tests.support.api_pair import KEY, WorkerSide, worker_side

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
BIG = {"memory": 1_000_000, "cpu_cores": 256, "limit": 1}


@dataclass(frozen=True)
class Job:
    job_id: int
    holder: str | None  # the worker that holds it now, if any
    status: str  # what it is in at the worker API
    grace: bool = False  # its holder reported `error` just now: it may still upload

    @property
    def input_uri(self) -> str:
        return f"local://alice/data/in{self.job_id}.txt"

    @property
    def content(self) -> bytes:
        return f"input of job {self.job_id}".encode()


@dataclass
class Platform:
    worker: WorkerSide
    root: Path
    headers: dict[str, dict[str, str]]  # worker name → credentials
    jobs: list[Job]


def _call(name: str) -> Callable[[httpx.Client, Job, dict[str, str]], httpx.Response]:
    """One worker endpoint that touches a job, as a call."""
    calls: dict[str, Callable[[httpx.Client, Job, dict[str, str]], httpx.Response]] = {
        "status": lambda c, j, h: c.get(f"/jobs/{j.job_id}/status", headers=h),
        "heartbeat": lambda c, j, h: c.put(
            f"/jobs/{j.job_id}/status", params={"status": j.status}, headers=h
        ),
        "input url": lambda c, j, h: c.get(f"/files/{quote(j.input_uri, safe='')}/url", headers=h),
        "input download": lambda c, j, h: c.get(f"/files/{j.input_uri}/download", headers=h),
        "upload url": lambda c, j, h: c.post(
            f"/jobs/{j.job_id}/files/url", params={"type": "output"}, headers=h
        ),
        "upload": lambda c, j, h: c.post(
            f"/jobs/{j.job_id}/files/upload",
            params={"type": "output", "base_path": "scope"},
            files={"file": ("result.txt", b"written by " + h.get("X-Worker-Id", "?").encode())},
            headers=h,
        ),
        "log": lambda c, j, h: c.post(
            f"/jobs/{j.job_id}/log", json={"offset": 0, "text": "a line\n"}, headers=h
        ),
    }
    return calls[name]


ENDPOINTS = ["status", "heartbeat", "input url", "input download", "upload url", "upload", "log"]
# What the holder of a job it reported `error` for may still do (DECODE's worker uploads
# its outputs and logs after the error, and reports `error` again with the log tail).
GRACE_ENDPOINTS = {"status", "heartbeat", "upload url", "upload", "log"}


def allowed(worker: str, job: Job, endpoint: str) -> bool:
    if job.holder != worker:
        return False
    return not job.grace or endpoint in GRACE_ENDPOINTS


@pytest.fixture(params=KINDS)
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    root = tmp_path / "files"
    (root / "alice" / "data").mkdir(parents=True)
    with worker_side(str(request.param), tmp_path, root) as worker:
        headers = {
            "a": worker.headers("worker-a", "a"),
            "a-second-process": worker.headers("worker-a", "a2"),
            "b": worker.headers("worker-b", "b"),
            "cloud poller": {**KEY, "X-Worker-Id": "poller"},
        }
        jobs: list[Job] = []
        client = worker.client

        def submit(job_id: int, environment: str = "local") -> Job:
            job = Job(job_id, None, "queued")
            (root / "alice" / "data" / f"in{job_id}.txt").write_bytes(job.content)
            payload = job_payload(
                job_id, environment=environment, files_down={"data/in.txt": job.input_uri}
            )
            assert client.post("/_jobs", json=payload, headers=KEY).status_code == 201
            return job

        def lease(job_id: int, who: str, status: str, environment: str = "local") -> Job:
            submit(job_id, environment)
            pulled = client.get("/jobs", params=BIG, headers=headers[who])
            assert list(pulled.json()) == [str(job_id)], pulled.text
            moved = client.put(
                f"/jobs/{job_id}/status", params={"status": status}, headers=headers[who]
            )
            assert moved.status_code == 204, moved.text
            return Job(job_id, who, status)

        jobs.append(lease(1, "a", "running"))
        jobs.append(lease(2, "b", "preprocessing"))
        jobs.append(lease(3, "cloud poller", "running", environment="cloud"))
        ended = lease(4, "a", "finished")
        jobs.append(Job(ended.job_id, None, "finished"))
        cancelled = lease(5, "a", "running")
        assert client.post("/_jobs/5/cancel", headers=KEY).status_code == 204
        jobs.append(Job(cancelled.job_id, None, "canceled"))
        failed = lease(6, "b", "error")
        jobs.append(Job(failed.job_id, "b", "error", grace=True))
        jobs.append(submit(7))  # queued: nobody holds it
        yield Platform(worker, root, headers, jobs)


def test_a_worker_reaches_only_the_jobs_it_holds(platform: Platform) -> None:
    client = platform.worker.client
    granted: list[tuple[str, int, str]] = []
    denied: list[tuple[str, int, str]] = []
    wrong: list[str] = []
    for endpoint in ENDPOINTS:
        for job in platform.jobs:
            for who, headers in platform.headers.items():
                response = _call(endpoint)(client, job, headers)
                case = (who, job.job_id, endpoint)
                if allowed(who, job, endpoint):
                    granted.append(case)
                    if response.status_code >= 300:
                        wrong.append(f"{case}: {response.status_code} {response.text[:100]}")
                    continue
                denied.append(case)
                if response.status_code != 404 or job.content in response.content:
                    wrong.append(f"{case}: {response.status_code} {response.text[:100]}")
    assert wrong == []
    print(f"worker scope matrix: {len(granted)} granted, {len(denied)} denied (all 404)")
    assert (len(granted), len(denied)) == (3 * 7 + 5, 7 * 7 * 4 - 26)
    # What the denied calls would have written is nowhere: only the holders' uploads exist,
    # and the jobs are where they were.
    uploads = sorted(p.relative_to(platform.root) for p in platform.root.rglob("result.txt"))
    assert [str(p) for p in uploads] == [
        f"alice/output/job{n}/scope/result.txt" for n in (1, 2, 3, 6)
    ]
    for job_id, holder in ((1, "a"), (2, "b"), (3, "poller")):
        written = platform.root / f"alice/output/job{job_id}/scope/result.txt"
        assert written.read_bytes() == f"written by {holder}".encode()
    for job in platform.jobs:
        state = client.get(f"/_jobs/{job.job_id}", headers=KEY).json()
        assert state["status"] == job.status, job


def test_decodes_worker_still_works_with_the_jobs_it_holds(platform: Platform) -> None:
    """DECODE's worker sends no X-Worker-Id: its identity is its account."""
    client = platform.worker.client
    decode = platform.worker.headers("decode-worker")
    [queued] = [job for job in platform.jobs if job.status == "queued"]
    assert list(client.get("/jobs", params=BIG, headers=decode).json()) == [str(queued.job_id)]
    status = f"/jobs/{queued.job_id}/status"
    # It logs in again mid-job: a new token of the same account is the same worker.
    again = platform.worker.headers("decode-worker")
    assert client.put(status, params={"status": "running"}, headers=again).status_code == 204
    assert client.get(status, headers=again).json() == "running"
    reply = client.get(f"/files/{queued.input_uri}/url", headers=again).json()
    followed = client.request(reply["method"], reply["url"], headers=reply["headers"])
    assert followed.content == queued.content
    assert client.get("/jobs/1/status", headers=again).status_code == 404  # not its job
