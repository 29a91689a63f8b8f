"""Guard: every kind of bad input that once answered 500 (issue 13) answers 4xx with a
message that says what is wrong, and changes nothing.

Both APIs over real HTTP (uvicorn on loopback), seeded, on SQLite and PostgreSQL.
"Changes nothing": every row of both databases and every file of the storage are
the same after the request as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support.api_stack import Stack, running_stack

LONG_NAME = "é" * 128  # 128 characters, 256 bytes
BIG_ID = 9_999_999_999  # 10 digits: beyond PostgreSQL's INTEGER
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\xff\xfe\xc3\x28"
DEMO = {"application": "demo", "version": "v1", "entrypoint": "run"}


def job(name: Any = "bad-input", **extra: Any) -> dict[str, Any]:
    return {"job_name": name, "application": DEMO, **extra}


@dataclass(frozen=True)
class Case:
    """One bad request: whom it goes to, as whom, and the status it must get."""

    id: str
    api: str  # "user" | "worker"
    persona: str  # "user" | "tes" | "worker" | "key"
    method: str
    path: str
    status: int
    params: Any = None
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    files: Any = None


CASES = [
    # integers beyond the database's range, in paths and queries
    Case("job id of 10 digits", "user", "user", "GET", f"/jobs/{BIG_ID}", 422),
    Case("job id of 30 digits", "user", "user", "GET", "/jobs/" + "9" * 30, 422),
    Case("delete a 10-digit job id", "user", "user", "DELETE", f"/jobs/{BIG_ID}", 422),
    Case("cancel a 10-digit job id", "user", "user", "POST", f"/jobs/{BIG_ID}/cancel", 422),
    Case("log of a 10-digit job id", "user", "user", "GET", f"/jobs/{BIG_ID}/logs", 422),
    Case("statuses of a 10-digit id", "user", "user", "GET", f"/jobs/{BIG_ID}/statuses", 422),
    Case("stream of a 10-digit id", "user", "user", "GET", f"/jobs/{BIG_ID}/logs/stream", 422),
    Case("offset of 10 digits", "user", "user", "GET", "/jobs", 422, {"offset": BIG_ID}),
    Case("limit of 10 digits", "user", "user", "GET", "/jobs", 422, {"limit": BIG_ID}),
    Case("negative offset", "user", "user", "GET", "/jobs", 422, {"offset": -1}),
    Case(
        "hardware memory of 10 digits", "user", "user", "POST", "/jobs", 422,
        json=job(hardware={"memory": BIG_ID}),
    ),
    Case(
        "status report for a 10-digit id", "user", "key", "PUT", "/_job_status", 422,
        json={"job_id": BIG_ID, "status": "running"},
    ),
    Case(
        "log report with an end beyond 64 bits", "user", "key", "PUT", "/_job_log", 422,
        json={"job_id": 1, "attempt": 1, "log": "x", "end": 2**64},
    ),
    Case(
        "status batch with a 10-digit id", "user", "key", "PUT", "/_job_statuses", 422,
        json={"events": [{"job_id": BIG_ID, "status": "running"}]},
    ),
    Case("worker: memory of 10 digits", "worker", "worker", "GET", "/jobs", 422,
         {"memory": BIG_ID}),
    Case("worker: cpu_cores of 10 digits", "worker", "worker", "GET", "/jobs", 422,
         {"memory": 1000, "cpu_cores": BIG_ID}),
    Case("worker: gpus of 10 digits", "worker", "worker", "GET", "/jobs", 422,
         {"memory": 1000, "gpus": BIG_ID}),
    Case("worker: status of a 10-digit id", "worker", "worker", "GET",
         f"/jobs/{BIG_ID}/status", 422),
    Case("worker: report for a 10-digit id", "worker", "worker", "PUT",
         f"/jobs/{BIG_ID}/status", 422, {"status": "running"}),
    Case("worker: attempt header of 10 digits", "worker", "worker", "PUT", "/jobs/1/status",
         422, {"status": "running"}, headers={"X-Labcloud-Attempt": str(BIG_ID)}),
    Case("worker: log offset beyond 64 bits", "worker", "worker", "POST", "/jobs/1/log", 422,
         json={"offset": 2**64, "text": "x"}),
    Case("worker: release a 10-digit id", "worker", "worker", "POST",
         f"/jobs/{BIG_ID}/release", 422),
    Case("worker: upload URL for a 10-digit id", "worker", "worker", "POST",
         f"/jobs/{BIG_ID}/files/url", 422, {"type": "output"}),
    Case("internal: jobs offset of 10 digits", "worker", "key", "GET", "/_jobs", 422,
         {"offset": BIG_ID}),
    Case("internal: a 10-digit job", "worker", "key", "GET", f"/_jobs/{BIG_ID}", 422),
    Case("internal: cancel a 10-digit job", "worker", "key", "POST",
         f"/_jobs/{BIG_ID}/cancel", 422),
    Case("internal: requeue a 10-digit job", "worker", "key", "POST",
         f"/_jobs/{BIG_ID}/requeue", 422),
    Case("internal: submit a 10-digit job", "worker", "key", "POST", "/_jobs", 422,
         json={"job": {"meta": {"job_id": BIG_ID}}}),
    # floats that are not finite, or too big to be a time
    Case("older_than=1e308", "worker", "worker", "GET", "/jobs", 422,
         {"memory": 1000, "older_than": "1e308"}),
    Case("older_than=inf", "worker", "worker", "GET", "/jobs", 422,
         {"memory": 1000, "older_than": "inf"}),
    Case("older_than=nan", "worker", "worker", "GET", "/jobs", 422,
         {"memory": 1000, "older_than": "nan"}),
    Case("older_than=-inf", "worker", "worker", "GET", "/jobs", 422,
         {"memory": 1000, "older_than": "-inf"}),
    Case("wait=inf", "worker", "worker", "GET", "/jobs", 422, {"memory": 1000, "wait": "inf"}),
    Case("TES ram_gb=1e308", "user", "tes", "POST", "/ga4gh/tes/v1/tasks", 400,
         json={"executors": [{"image": "busybox", "command": ["true"]}],
               "resources": {"ram_gb": 1e308}}),
    Case("TES cpu_cores of 10 digits", "user", "tes", "POST", "/ga4gh/tes/v1/tasks", 400,
         json={"executors": [{"image": "busybox", "command": ["true"]}],
               "resources": {"cpu_cores": BIG_ID}}),
    Case("TES gpu_count=² (strict)", "user", "tes", "POST", "/ga4gh/tes/v1/tasks", 400,
         json={"executors": [{"image": "busybox", "command": ["true"]}],
               "resources": {"backend_parameters": {"gpu_count": "²"},
                             "backend_parameters_strict": True}}),
    # numbers parsed from strings: ASCII digits only
    Case("TES task id ²", "user", "tes", "GET", "/ga4gh/tes/v1/tasks/²", 404),
    Case("TES task id ³ cancelled", "user", "tes", "POST", "/ga4gh/tes/v1/tasks/³:cancel", 404),
    Case("TES task id of 10 digits", "user", "tes", "GET", f"/ga4gh/tes/v1/tasks/{BIG_ID}", 404),
    Case("TES task id in Arabic-Indic digits", "user", "tes", "GET",
         "/ga4gh/tes/v1/tasks/١٢", 404),
    Case("TES page_size=²", "user", "tes", "GET", "/ga4gh/tes/v1/tasks", 400,
         {"page_size": "²"}),
    Case("TES page_token=²", "user", "tes", "GET", "/ga4gh/tes/v1/tasks", 400,
         {"page_token": "²"}),
    Case("TES page_token of 10 digits", "user", "tes", "GET", "/ga4gh/tes/v1/tasks", 400,
         {"page_token": str(BIG_ID)}),
    # binary or undecodable bodies on JSON routes
    Case("binary body as JSON", "user", "user", "POST", "/jobs", 400, content=BINARY,
         headers={"content-type": "application/json"}),
    Case("binary body as text/plain", "user", "user", "POST", "/jobs", 422, content=BINARY,
         headers={"content-type": "text/plain"}),
    Case("binary body as octet-stream", "user", "user", "PUT", "/user/preferences", 422,
         content=BINARY, headers={"content-type": "application/octet-stream"}),
    Case("binary rename body", "user", "user", "PUT", "/files/data/demo/frames.tif", 422,
         content=BINARY, headers={"content-type": "application/x-binary"}),
    Case("binary status report", "user", "key", "PUT", "/_job_status", 422, content=BINARY,
         headers={"content-type": "image/png"}),
    Case("binary TES task", "user", "tes", "POST", "/ga4gh/tes/v1/tasks", 400, content=BINARY,
         headers={"content-type": "application/json"}),
    Case("binary spec", "worker", "key", "POST", "/_jobs", 400, content=BINARY,
         headers={"content-type": "application/json"}),
    Case("binary log chunk", "worker", "worker", "POST", "/jobs/1/log", 422, content=BINARY,
         headers={"content-type": "application/zip"}),
    Case("NaN in a JSON body", "user", "user", "POST", "/jobs", 400,
         content=b'{"job_name": NaN, "application": {}}',
         headers={"content-type": "application/json"}),
    Case("Infinity in a status report", "user", "key", "PUT", "/_job_status", 400,
         content=b'{"job_id": Infinity, "status": "running"}',
         headers={"content-type": "application/json"}),
    Case("a lone surrogate in a job name", "user", "user", "POST", "/jobs", 400,
         content=b'{"job_name": "x\\ud800", "application": {}}',
         headers={"content-type": "application/json"}),
    Case("a lone surrogate in a TES task", "user", "tes", "POST", "/ga4gh/tes/v1/tasks", 400,
         content=b'{"name": "\\udc00", "executors": [{"image": "busybox", "command": ["x"]}]}',
         headers={"content-type": "application/json"}),
    # names: no control characters, at most 255 bytes
    Case("job name with a line break", "user", "user", "POST", "/jobs", 422,
         json=job("two\nlines")),
    Case("job name with CRLF and a header", "user", "user", "POST", "/jobs", 422,
         json=job("x\r\nBcc: eve@evil.example")),
    Case("job name with NUL", "user", "user", "POST", "/jobs", 422, json=job("nul\x00")),
    Case("job name with a tab", "user", "user", "POST", "/jobs", 422, json=job("a\tb")),
    Case("job name with U+2028", "user", "user", "POST", "/jobs", 422, json=job("a\u2028b")),
    Case("job name of 255 non-ASCII characters", "user", "user", "POST", "/jobs", 422,
         json=job("é" * 255)),
    Case("job name of 256 bytes", "user", "user", "POST", "/jobs", 422, json=job(LONG_NAME)),
    # paths: no control characters, components ≤ 255 bytes, path ≤ 4096 bytes
    Case("path component over 255 bytes", "user", "user", "GET",
         f"/files/data/{LONG_NAME}/url", 400),
    Case("listing a folder with a long name", "user", "user", "GET", f"/files/{LONG_NAME}", 400),
    Case("path over 4096 bytes", "user", "user", "GET",
         "/files/" + "/".join(["a" * 200] * 21) + "/download", 400),
    Case("mkdir over 255 bytes", "user", "user", "POST", f"/files/data/{LONG_NAME}/", 400),
    Case("upload URL for a long folder", "user", "user", "POST",
         f"/files/data/{LONG_NAME}/url", 400),
    Case("upload into a long folder", "user", "user", "POST",
         f"/files/data/{LONG_NAME}/upload", 400, files={"file": ("a.txt", b"x")}),
    Case("upload with a 256-byte file name", "user", "user", "POST",
         "/files/data/demo/upload", 400, files={"file": (LONG_NAME, b"x")}),
    Case("upload with a tab in its name", "user", "user", "POST", "/files/data/demo/upload",
         400, content=b'--b\r\nContent-Disposition: form-data; name="file"; '
         b'filename="a\tb.txt"\r\n\r\nx\r\n--b--\r\n',
         headers={"content-type": "multipart/form-data; boundary=b"}),
    Case("upload with an escape in its name", "user", "user", "POST", "/files/data/demo/upload",
         400, files={"file": ("a\x1b[31m.txt", b"x")}),
    Case("rename to a long name", "user", "user", "PUT", "/files/data/demo/frames.tif", 400,
         json={"path": f"data/{LONG_NAME}"}),
    Case("rename to a name with a line break", "user", "user", "PUT",
         "/files/data/demo/frames.tif", 400, json={"path": "data/a\nb.tif"}),
    Case("delete a path with NUL", "user", "user", "DELETE", "/files/data/demo%00", 400),
    Case("mkdir with a line break", "user", "user", "POST", "/files/data/a%0Ab/", 404),
    Case("path of undecodable bytes", "user", "user", "GET", "/files/data/%FF%FE/url", 404),
    Case("job input over 255 bytes", "user", "user", "POST", "/jobs", 400,
         json=job(attributes={"files_down": {"data_ids": [LONG_NAME]}})),
    Case("worker: input URI over 255 bytes", "worker", "worker", "GET",
         f"/files/local:%2F%2Falice@example.org%2Fdata%2F{LONG_NAME}/url", 404),
    Case("worker: upload folder over 255 bytes", "worker", "worker", "POST",
         "/jobs/1/files/url", 400, {"type": "output", "base_path": LONG_NAME}),
    # the web page's files
    Case("/ui with NUL", "user", "user", "GET", "/ui/%00", 404),
    Case("/ui with NUL after a name", "user", "user", "GET", "/ui/index.html%00.js", 404),
    Case("/ui with a line break", "user", "user", "GET", "/ui/a%0Ab", 404),
]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with running_stack(request.param, tmp_path_factory.mktemp("bad-input")) as running:
        yield running


def _message(answer: httpx.Response) -> str:
    """The error's message: `detail` as a string, or the `msg`s of a 422's list."""
    detail = answer.json()["detail"]
    if isinstance(detail, list):
        return "; ".join(str(item["msg"]) for item in detail)
    return str(detail)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_a_4xx_with_a_message_and_changes_nothing(stack: Stack, case: Case) -> None:
    client = stack.user_client if case.api == "user" else stack.worker_client
    before = stack.state()
    with client(case.persona) as http:
        answer = http.request(
            case.method,
            case.path,
            params=case.params,
            json=case.json,
            content=case.content,
            headers=case.headers,
            files=case.files,
        )
    assert answer.status_code == case.status, answer.text
    assert len(_message(answer)) >= 8, answer.text
    assert stack.state() == before


def test_a_job_name_of_255_bytes_is_created_and_deleted(stack: Stack) -> None:
    """The name limit is in bytes so that the job's folders can exist: a 255-byte name
    (127 two-byte characters and one more) works all the way, delete included."""
    name = "é" * 127 + "x"
    with stack.user_client("user") as alice:
        created = alice.post("/jobs", json=job(name))
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        (stack.root / "alice@example.org" / "output" / name).mkdir(parents=True)  # a worker's
        assert alice.delete(f"/jobs/{job_id}").status_code == 204
        assert alice.get(f"/jobs/{job_id}").status_code == 404
        assert alice.get("/files/output/").json() == []
