"""Live logs over the real processes: a demo job's lines reach `GET /jobs/{id}/logs`
while it runs (worker → worker API → relay → user API), its Server-Sent Events stream
ends with `end`, its status history is complete, and the full log still lands in
`log/<job name>/`."""

from __future__ import annotations

import time

import httpx

from tests.e2e.conftest import Platform, submit, upload, wait_for
from tests.support.sse import Event, Follower


def test_a_running_job_s_lines_reach_the_user_and_its_stream_ends(
    sqlite_platform: Platform,
) -> None:
    p = sqlite_platform
    p.start_worker("worker-1")  # heartbeats every second
    http = p.user_client()
    upload(http, "data/exp1", "counts.csv", b"1,2\n3,4\n")
    job = submit(
        http,
        "live",
        files_down={"data_ids": ["exp1/"]},
        env_vars={"DEMO_GREETING": "live", "DEMO_SLEEP": "8"},  # "working… n/8", 1 s apart
    )
    job_id = job["id"]
    streaming = httpx.Client(base_url=p.user_url, headers=http.headers, timeout=60)
    p.stack.callback(streaming.close)
    stream = Follower(streaming, f"/jobs/{job_id}/logs/stream")
    assert stream.status_code == 200

    # While it runs: its first lines, through GET /jobs/{id}/logs.
    deadline = time.monotonic() + 60
    while True:
        body = http.get(f"/jobs/{job_id}/logs").json()
        if "working… 2/8" in body["log"]:
            break
        assert time.monotonic() < deadline, f"no live log: {body}"
        time.sleep(0.2)
    assert body["status"] == "running", body
    assert body["log"].startswith("live! demo analysis starting in ")
    assert "working… 8/8" not in body["log"] and not body["truncated"]

    # The stream: the lines as they come, the status changes, and the end.
    events = stream.until("end", timeout=90)
    assert events[-1] == Event("end", {"status": "finished"})
    text = "".join(e.data["text"] for e in events if e.event == "log")
    assert "working… 1/8" in text and "done: 1 file(s)" in text
    assert text.count("working… 5/8") == 1  # each line once
    assert Event("status", {"status": "running"}) in events
    assert stream.next() is None and stream.ended()

    final = wait_for(http, job_id, {"finished"})
    assert final["status"] == "finished"
    tail = http.get(f"/jobs/{job_id}/logs").json()
    assert tail["status"] == "finished" and "done: 1 file(s)" in tail["log"]
    statuses = [s["status"] for s in http.get(f"/jobs/{job_id}/statuses").json()]
    assert statuses == [
        "queued",
        "pulled",
        "preprocessing",
        "running",
        "postprocessing",
        "finished",
    ]
    # The whole log still lands with the results.
    job_log = http.get("/files/log/live/log/job.log/download")
    assert job_log.status_code == 200 and "working… 8/8" in job_log.text

    # Someone else sees none of it.
    other = p.user_client("eve@example.org")
    for path in ("logs", "statuses", "logs/stream"):
        assert other.get(f"/jobs/{job_id}/{path}").status_code == 404
