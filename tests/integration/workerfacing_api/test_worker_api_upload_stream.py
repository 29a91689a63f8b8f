"""A worker's output upload is streamed into storage like a user's (one shared helper):
big files arrive intact, broken bodies leave nothing, a missing part is a clear 422."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from tests.integration.workerfacing_api.conftest import WorkerAPI

BOUNDARY = "labcloud-worker-stream"


def holder(api: WorkerAPI) -> dict[str, str]:
    api.submit(1)
    headers = api.headers("a")
    assert list(api.pull(headers)) == [1]
    return headers


def files_below(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_a_20_mib_output_arrives_intact(api: WorkerAPI, storage_root: Path) -> None:
    headers = holder(api)
    data = os.urandom(20 << 20)
    response = api.client.post(
        "/jobs/1/files/upload",
        params={"type": "output"},
        headers=headers,
        files={"file": ("result.h5", data)},
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"uri": "local://alice/output/job1/result.h5", "size": len(data)}
    stored = (storage_root / "alice/output/job1/result.h5").read_bytes()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    assert files_below(storage_root) == ["alice/output/job1/result.h5"]


def test_a_broken_or_incomplete_body_leaves_nothing(api: WorkerAPI, storage_root: Path) -> None:
    headers = {**holder(api), "content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="r.bin"\r\n\r\n'
    cut_short = api.client.post(
        "/jobs/1/files/upload",
        params={"type": "output"},
        headers=headers,
        content=head.encode() + os.urandom(9 << 20),  # no closing boundary
    )
    assert cut_short.status_code == 400 and "incomplete" in cut_short.json()["detail"]
    no_file = api.client.post(
        "/jobs/1/files/upload",
        params={"type": "output"},
        headers=headers,
        content=f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n'
        f"--{BOUNDARY}--\r\n".encode(),
    )
    assert no_file.status_code == 422
    assert no_file.json()["detail"][0]["loc"] == ["body", "file"]
    assert files_below(storage_root) == []


def post_slowly(
    api: WorkerAPI, path: str, query: str, headers: dict[str, str], chunks: list[bytes]
) -> tuple[int, list[int]]:
    """POST a body chunk by chunk straight to the ASGI app (the TestClient hands the app
    the whole body at once), noting the pool's checked-out connections each time the
    app asks for the next chunk. Returns (status, those counts)."""
    pool = api.ctx.engine.pool
    pending = list(chunks)
    checked_out: list[int] = []
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        checked_out.append(pool.checkedout())
        if not pending:
            return {"type": "http.disconnect"}
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
        "state": dict(api.client.app_state),
    }
    assert api.client.portal is not None
    api.client.portal.call(api.client.app, scope, receive, send)
    return statuses[0], checked_out


def test_an_upload_holds_no_database_connection_while_its_body_arrives(
    api: WorkerAPI, storage_root: Path
) -> None:
    # a connection held for a whole upload: slow uploads would drain the pool
    headers = {**holder(api), "content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="r.bin"\r\n\r\n'
    chunks = [head.encode() + b"a" * 1000, b"b" * 1000, f"\r\n--{BOUNDARY}--\r\n".encode()]
    status, checked_out = post_slowly(api, "/jobs/1/files/upload", "type=output", headers, chunks)
    assert status == 201
    # from the second chunk on, the upload's target had been checked (the part's headers)
    assert checked_out[1:] and set(checked_out[1:]) == {0}
    stored = (storage_root / "alice/output/job1/r.bin").read_bytes()
    assert stored == b"a" * 1000 + b"b" * 1000


def test_an_upload_below_a_file_is_409_before_the_body_is_read(
    api: WorkerAPI, storage_root: Path
) -> None:
    headers = holder(api)
    blocker = storage_root / "alice/output/job1/sub"
    blocker.parent.mkdir(parents=True)
    blocker.write_bytes(b"a file, not a folder")
    (storage_root / "alice/output/job1/folder").mkdir()
    for base_path, filename in [("sub/deeper", "r.bin"), ("sub", "r.bin"), ("", "sub/r.bin")]:
        response = api.client.post(
            "/jobs/1/files/upload",
            params={"type": "output", "base_path": base_path},
            headers=headers,
            files={"file": (filename, b"1")},
        )
        assert response.status_code == 409, (base_path, filename, response.text)
        assert "alice/output/job1/sub" in response.json()["detail"]
        assert "is a file" in response.json()["detail"]
    onto_folder = api.client.post(
        "/jobs/1/files/upload",
        params={"type": "output"},
        headers=headers,
        files={"file": ("folder", b"1")},
    )
    assert onto_folder.status_code == 409 and "folder" in onto_folder.json()["detail"]
    url = api.client.post(
        "/jobs/1/files/url", params={"type": "output", "base_path": "sub/x"}, headers=headers
    )
    assert url.status_code == 409, url.text
    assert files_below(storage_root) == ["alice/output/job1/sub"]
