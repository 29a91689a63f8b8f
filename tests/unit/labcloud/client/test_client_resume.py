"""Uploads against an in-memory user API: parallel, resumed by size and checksum, and
what happens when the server cannot tell sizes or an upload is interrupted."""

from __future__ import annotations

from pathlib import Path

import pytest

from labcloud.client import Client, ConnectionFailed, RequestRejected, TransferEvent
from labcloud.client.config import CredentialStore
from tests.unit.labcloud.client.user_api_fake import BASE, FakeUserAPI


def make_tree(root: Path, n: int = 6) -> dict[str, bytes]:
    files = {f"exp1/part{i}/f{i}.dat": bytes([i]) * (100 + i) for i in range(n)}
    files["exp1/top.csv"] = b"1,2,3\n"
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    return files


@pytest.fixture
def fake() -> FakeUserAPI:
    return FakeUserAPI()


@pytest.fixture
def lc(fake: FakeUserAPI, tmp_path: Path) -> Client:
    store = CredentialStore(tmp_path / "creds.json")
    return Client(BASE, "tok", store=store, transport=fake.transport)


def test_a_folder_lands_as_a_folder(lc: Client, fake: FakeUserAPI, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "local")
    events: list[TransferEvent] = []
    report = lc.files.upload(tmp_path / "local" / "exp1", "data", progress=events.append)
    assert fake.files == {f"data/{rel}": content for rel, content in files.items()}
    assert sorted(report.uploaded) == sorted(f"data/{rel}" for rel in files)
    assert report.skipped == [] and report.bytes_sent == sum(map(len, files.values()))
    plan = [e for e in events if e.kind == "plan"]
    assert plan == [TransferEvent("plan", bytes=report.bytes_sent, files=len(files))]
    assert sum(e.bytes for e in events if e.kind == "progress") == report.bytes_sent
    assert fake.checksum_requests == []  # nothing was there: no checksum needed


def test_resume_sends_only_what_is_missing(lc: Client, fake: FakeUserAPI, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "local")
    fake.fail_after = 3
    with pytest.raises(ConnectionFailed):
        lc.files.upload(tmp_path / "local" / "exp1", "data", workers=1)
    there = set(fake.files)
    assert len(there) == 3
    fake.fail_after = None
    report = lc.files.upload(tmp_path / "local" / "exp1", "data", workers=3)
    assert sorted(report.skipped) == sorted(there)
    assert set(report.uploaded) == {f"data/{rel}" for rel in files} - there
    assert all(count == 1 for count in fake.uploads.values())  # nothing sent twice
    assert sorted(fake.checksum_requests) == sorted(there)
    assert fake.files == {f"data/{rel}": content for rel, content in files.items()}


def test_same_size_but_other_content_is_sent_again(
    lc: Client, fake: FakeUserAPI, tmp_path: Path
) -> None:
    make_tree(tmp_path / "local", n=2)
    lc.files.upload(tmp_path / "local" / "exp1", "data")
    (tmp_path / "local" / "exp1" / "top.csv").write_bytes(b"9,9,9\n")  # same length
    report = lc.files.upload(tmp_path / "local" / "exp1", "data")
    assert report.uploaded == ["data/exp1/top.csv"]
    assert fake.files["data/exp1/top.csv"] == b"9,9,9\n"


def test_a_single_file_is_resumed_too(lc: Client, fake: FakeUserAPI, tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_bytes(b"only me")
    first = lc.files.upload(tmp_path / "one.txt", "config/demo")
    again = lc.files.upload(tmp_path / "one.txt", "config/demo")
    assert first.uploaded == ["config/demo/one.txt"] and again.skipped == ["config/demo/one.txt"]
    assert fake.uploads["config/demo/one.txt"] == 1


def test_a_server_without_exact_sizes_gets_everything(tmp_path: Path) -> None:
    fake = FakeUserAPI(details=False)
    lc = Client(BASE, "tok", store=CredentialStore(tmp_path / "c.json"), transport=fake.transport)
    make_tree(tmp_path / "local", n=2)
    lc.files.upload(tmp_path / "local" / "exp1", "data")
    report = lc.files.upload(tmp_path / "local" / "exp1", "data")
    assert not report.resumable and report.skipped == [] and len(report.uploaded) == 3


def test_uploads_go_only_into_upload_folders(lc: Client, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(RequestRejected, match="config/, data/ or artifact/"):
        lc.files.upload(tmp_path / "f.txt", "output/mine")
