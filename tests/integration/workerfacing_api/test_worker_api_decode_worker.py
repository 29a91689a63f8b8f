"""One job run the way DECODE's JobFetcher drives the worker API, call for call: the key
of `GET /jobs` is reused unread in every later URL, files go through the `/url`
replies, status pings carry no details until the end, and a 404 means "stop"."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.integration.workerfacing_api.conftest import WorkerAPI


def test_a_decode_worker_runs_a_job_end_to_end(api: WorkerAPI, storage_root: Path) -> None:
    (storage_root / "alice/config/decode").mkdir(parents=True)
    (storage_root / "alice/config/decode/param.yaml").write_bytes(b"lr: 1")
    api.submit(
        9,
        files_down={"config/param.yaml": "local://alice/config/decode/param.yaml"},
        hardware={"memory": 4000},
    )
    headers = api.headers("decode-worker")  # no X-Worker-Id: DECODE's worker sends none

    # fetch_jobs(limit=1, cpu_cores=.., memory=.., gpu_model=None, gpu_memory=None)
    reply = api.client.get(
        "/jobs", headers=headers, params={"limit": 1, "cpu_cores": 8, "memory": 16000}
    )
    jobs: dict[str, Any] = reply.json()
    assert list(jobs) == ["9"]
    job_id, job = jobs.popitem()

    def ping(status: str, body: str | None = None) -> int:
        params = {"status": status}
        if body is not None:
            params["runtime_details"] = body
        return api.client.put(f"/jobs/{job_id}/status", params=params, headers=headers).status_code

    assert ping("preprocessing") == 204
    for container_path, file_id in job["handler"]["files_down"].items():
        url_reply = api.client.get(f"/files/{file_id}/url", headers=headers).json()
        content = api.client.request(**url_reply).content  # requests.request(**reply)
        assert (container_path, content) == ("config/param.yaml", b"lr: 1")
    assert ping("preprocessing") == 204  # the parallel pinger repeats itself
    assert ping("running") == 204
    assert ping("running") == 204
    assert ping("postprocessing") == 204

    # put_file: base_path = dirname(path relative to the job dir), name = basename
    path_api = "output/model/weights.pt"
    upload_reply = api.client.post(
        f"/jobs/{job_id}/files/url",
        headers=headers,
        params={"base_path": os.path.dirname(path_api), "type": "output"},
    ).json()
    upload_reply.pop("data")  # requests.request(**reply, files=...) with an empty form
    response = api.client.request(
        **upload_reply, files={"file": (os.path.basename(path_api), b"W")}
    )
    assert response.status_code == 201
    assert (storage_root / "alice/output/job9/output/model/weights.pt").read_bytes() == b"W"

    assert ping("finished", "") == 204
    assert ping("postprocessing") == 404  # over: the worker stops and cleans up
    assert [s for _, s, _ in api.outbox(9)] == [
        "queued",
        "pulled",
        "preprocessing",
        "running",
        "postprocessing",
        "finished",
    ]
