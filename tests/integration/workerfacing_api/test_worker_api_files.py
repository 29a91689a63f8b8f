"""File transfer scoped to the jobs a worker holds: inputs to read, outputs to write."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from tests.integration.workerfacing_api.conftest import WorkerAPI

X_URI = "local://alice/data/exp 1/x.tif"
Y_URI = "local://alice/data/y.tif"


@pytest.fixture
def two_workers(api: WorkerAPI, storage_root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Worker a holds job 1 (input x.tif), worker b holds job 2 (input y.tif)."""
    (storage_root / "alice" / "data" / "exp 1").mkdir(parents=True)
    (storage_root / "alice" / "data" / "exp 1" / "x.tif").write_bytes(b"x-bytes")
    (storage_root / "alice" / "data" / "y.tif").write_bytes(b"y-bytes")
    (storage_root / "alice" / "data" / "secret.tif").write_bytes(b"secret")
    api.submit(1, priority=5, files_down={"data/x.tif": X_URI})
    api.submit(2, priority=1, files_down={"data/y.tif": Y_URI})
    a, b = api.headers("a"), api.headers("b")
    assert list(api.pull(a)) == [1]
    assert list(api.pull(b)) == [2]
    return a, b


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(X_URI, id="as-is"),  # DECODE's worker: the URI straight into the path
        pytest.param(quote(X_URI, safe=""), id="url-encoded"),
        pytest.param(X_URI.replace("://", ":/"), id="slashes-merged-by-a-proxy"),
    ],
)
def test_the_holder_downloads_its_input(
    api: WorkerAPI, two_workers: tuple[dict[str, str], ...], spelling: str
) -> None:
    a, _ = two_workers
    response = api.client.get(f"/files/{spelling}/url", headers=a)
    assert response.status_code == 200, response.text
    request = response.json()
    assert request["method"] == "GET"
    assert request["headers"]["Authorization"] == a["Authorization"]
    # Follow it the way DECODE's worker does: requests.request(**reply).
    followed = api.client.request(request["method"], request["url"], headers=request["headers"])
    assert followed.status_code == 200
    assert followed.content == b"x-bytes"
    direct = api.client.get(f"/files/{spelling}/download", headers=a)
    assert direct.content == b"x-bytes"


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param(Y_URI, id="another-jobs-input"),
        pytest.param("local://alice/data/secret.tif", id="not-an-input"),
        pytest.param("local://alice/data/exp 1/../secret.tif", id="dot-dot"),
        pytest.param("local://alice/data", id="a-folder"),
    ],
)
@pytest.mark.parametrize("action", ["url", "download"])
def test_a_worker_reads_nothing_but_its_jobs_inputs(
    api: WorkerAPI, two_workers: tuple[dict[str, str], ...], uri: str, action: str
) -> None:
    a, _ = two_workers
    response = api.client.get(f"/files/{quote(uri, safe='')}/{action}", headers=a)
    assert response.status_code == 404
    assert b"secret" not in response.content and b"y-bytes" not in response.content


def test_inputs_are_off_limits_once_the_job_ended(
    api: WorkerAPI, two_workers: tuple[dict[str, str], ...]
) -> None:
    a, _ = two_workers
    api.put_status(1, "finished", a)
    assert api.client.get(f"/files/{quote(X_URI, safe='')}/url", headers=a).status_code == 404


def test_the_holder_uploads_into_its_jobs_folder(
    api: WorkerAPI, storage_root: Path, two_workers: tuple[dict[str, str], ...]
) -> None:
    a, _ = two_workers
    reply = api.client.post(
        "/jobs/1/files/url", params={"type": "output", "base_path": "sub/dir"}, headers=a
    )
    assert reply.status_code == 201, reply.text
    request = reply.json()
    assert request["method"] == "POST"
    assert "/jobs/1/files/upload" in request["url"]
    assert request["headers"] == {"Authorization": a["Authorization"]}
    upload = api.client.request(
        request["method"],
        request["url"],
        headers=request["headers"],
        files={"file": ("result.txt", b"42")},
    )
    assert upload.status_code == 201, upload.text
    assert upload.json() == {"uri": "local://alice/output/job1/sub/dir/result.txt", "size": 2}
    assert (storage_root / "alice/output/job1/sub/dir/result.txt").read_bytes() == b"42"


def test_the_upload_url_carries_the_worker_id(api: WorkerAPI, storage_root: Path) -> None:
    api.submit(3)
    worker = api.headers("a", worker_id="proc-1")
    assert list(api.pull(worker)) == [3]
    request = api.client.post(
        "/jobs/3/files/url", params={"type": "artifact"}, headers=worker
    ).json()
    assert request["headers"]["X-Worker-Id"] == "proc-1"
    # Without its process id, the same account is another worker: not the holder.
    refused = api.client.post(
        request["url"],
        headers={"Authorization": worker["Authorization"]},
        files={"file": ("m.bin", b"1")},
    )
    assert refused.status_code == 404
    upload = api.client.post(
        request["url"], headers=request["headers"], files={"file": ("m.bin", b"1")}
    )
    assert upload.status_code == 201, upload.text
    assert (storage_root / "alice/artifact/job3/m.bin").read_bytes() == b"1"


def test_upload_without_base_path_lands_in_the_folder_itself(
    api: WorkerAPI, storage_root: Path, two_workers: tuple[dict[str, str], ...]
) -> None:
    a, _ = two_workers
    response = api.client.post(
        "/jobs/1/files/upload",
        params={"type": "log"},
        headers=a,
        files={"file": ("run.log", b"log")},
    )
    assert response.status_code == 201, response.text
    assert (storage_root / "alice/log/job1/run.log").read_bytes() == b"log"


def test_upload_for_a_job_held_by_someone_else_is_404(
    api: WorkerAPI, storage_root: Path, two_workers: tuple[dict[str, str], ...]
) -> None:
    a, _ = two_workers
    assert (
        api.client.post("/jobs/2/files/url", params={"type": "output"}, headers=a).status_code
        == 404
    )
    response = api.client.post(
        "/jobs/2/files/upload",
        params={"type": "output"},
        headers=a,
        files={"file": ("evil.txt", b"x")},
    )
    assert response.status_code == 404
    assert not (storage_root / "alice/output/job2").exists()


@pytest.mark.parametrize(
    ("base_path", "filename"),
    [
        ("..", "x.txt"),
        ("../../bob", "x.txt"),
        ("sub/../../..", "x.txt"),
        ("%2e%2e", "x.txt"),
        ("sub\\..\\..", "x.txt"),
        ("", "../escape.txt"),
        ("", ".."),
    ],
)
def test_upload_outside_the_jobs_folder_is_400(
    api: WorkerAPI,
    storage_root: Path,
    two_workers: tuple[dict[str, str], ...],
    base_path: str,
    filename: str,
) -> None:
    a, _ = two_workers

    def tree() -> list[Path]:
        return sorted(p for p in storage_root.rglob("*") if ".labcloud-tmp" not in p.parts)

    before = tree()
    response = api.client.post(
        "/jobs/1/files/upload",
        params={"type": "output", "base_path": base_path},
        headers=a,
        files={"file": (filename, b"x")},
    )
    assert response.status_code == 400, response.text
    assert tree() == before
    if filename == "x.txt":
        url = api.client.post(
            "/jobs/1/files/url", params={"type": "output", "base_path": base_path}, headers=a
        )
        assert url.status_code == 400


def test_upload_type_must_be_an_output_kind(
    api: WorkerAPI, two_workers: tuple[dict[str, str], ...]
) -> None:
    a, _ = two_workers
    response = api.client.post("/jobs/1/files/url", params={"type": "data"}, headers=a)
    assert response.status_code == 422
