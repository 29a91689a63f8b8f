"""Uploads streamed into storage: big files arrive intact, refused or broken bodies
leave neither a file nor a temp file, and the answers say what was wrong."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from fastapi.testclient import TestClient

from shared.api.uploads import PIECE

BOUNDARY = "labcloud-stream-test"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def part(name: str, data: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"


END = f"--{BOUNDARY}--\r\n".encode()


def post_raw(client: TestClient, headers: dict, body: bytes, where: str = "data") -> object:
    return client.post(
        f"/files/{where}/upload", headers={**headers, "content-type": MULTIPART}, content=body
    )


def files_below(root: Path) -> list[str]:
    """Every file in storage (temp files included), relative to the root."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_a_20_mib_upload_arrives_intact(
    client: TestClient, alice: dict, storage_root: Path
) -> None:
    data = os.urandom(20 << 20)
    response = client.post(
        "/files/data/big/upload", headers=alice, files={"file": ("big.bin", io.BytesIO(data))}
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"path": "data/big/big.bin", "type": "file", "size": "21.0 MB"}
    listed = client.get("/files/data/big/big.bin", params={"checksums": True}, headers=alice).json()
    assert listed[0]["bytes"] == len(data)
    assert listed[0]["sha256"] == hashlib.sha256(data).hexdigest()
    assert files_below(storage_root) == ["alice@example.org/data/big/big.bin"]


def test_a_body_cut_short_leaves_no_file_and_no_temp_file(
    client: TestClient, alice: dict, storage_root: Path
) -> None:
    # more than one piece: some of it reached the temp file before the end was missed
    body = part("file", os.urandom(2 * PIECE + 1), "cut.bin")  # no closing boundary
    response = post_raw(client, alice, body)
    assert response.status_code == 400
    assert "incomplete" in response.json()["detail"]
    assert files_below(storage_root) == []
    assert client.get("/files/data/", headers=alice).json() == []


def test_a_second_file_part_is_refused_and_nothing_is_stored(
    client: TestClient, alice: dict, storage_root: Path
) -> None:
    body = part("file", os.urandom(PIECE + 1), "a.bin") + part("file", b"2", "b.bin") + END
    response = post_raw(client, alice, body)
    assert response.status_code == 400
    assert "one file per upload" in response.json()["detail"]
    assert files_below(storage_root) == []


def test_a_body_without_the_file_part_is_422_with_a_message(
    client: TestClient, alice: dict, storage_root: Path
) -> None:
    replies = [
        post_raw(client, alice, part("upload", b"x", "x.txt") + END),  # wrong field name
        client.post("/files/data/upload", headers=alice, json={"file": "x"}),  # not multipart
        client.post("/files/data/upload", headers=alice),  # no body at all
        post_raw(client, alice, part("file", b"plain text, no filename") + END),
    ]
    for reply in replies:
        assert reply.status_code == 422, reply.text
        (error,) = reply.json()["detail"]
        assert error["loc"] == ["body", "file"]
        assert "file" in error["msg"]
    assert files_below(storage_root) == []


def test_malformed_bodies_and_empty_names_are_400(
    client: TestClient, alice: dict, storage_root: Path
) -> None:
    no_boundary = client.post(
        "/files/data/upload",
        headers={**alice, "content-type": "multipart/form-data"},
        content=b"whatever",
    )
    assert no_boundary.status_code == 400 and "boundary" in no_boundary.json()["detail"]
    garbage = post_raw(client, alice, b"this is not multipart at all")
    assert garbage.status_code == 400
    empty_name = post_raw(client, alice, part("file", b"abc", "") + END)
    assert empty_name.status_code == 400 and "no name" in empty_name.json()["detail"]
    assert files_below(storage_root) == []


def test_other_form_fields_are_ignored_wherever_they_are(
    client: TestClient, alice: dict, storage_root: Path
) -> None:
    # what DECODE's frontend sends: a presigned POST's fields and `key`, then `file`
    body = (
        part("key", b"data/${filename}")
        + part("policy", b"e30=")
        + part("file", b"payload", "f.txt")
        + part("trailing", b"ignored too")
        + END
    )
    response = post_raw(client, alice, body)
    assert response.status_code == 201, response.text
    assert response.json() == {"path": "data/f.txt", "type": "file", "size": "7 Bytes"}
    assert (storage_root / "alice@example.org/data/f.txt").read_bytes() == b"payload"


def test_an_upload_onto_a_folder_or_below_a_file_is_409(
    client: TestClient, alice: dict, storage_root: Path
) -> None:
    assert client.post("/files/data/sub/", headers=alice).status_code == 201
    onto_folder = post_raw(client, alice, part("file", b"1", "sub") + END)
    assert onto_folder.status_code == 409
    assert post_raw(client, alice, part("file", b"1", "f.txt") + END).status_code == 201
    below_file = post_raw(client, alice, part("file", b"1", "g.txt") + END, where="data/f.txt")
    assert below_file.status_code == 409
    assert files_below(storage_root) == ["alice@example.org/data/f.txt"]


def test_an_upload_two_levels_below_a_file_is_409_and_leaves_nothing(
    client: TestClient, alice: dict, storage_root: Path
) -> None:
    assert post_raw(client, alice, part("file", b"1", "f.txt") + END).status_code == 201
    for where in ("data/f.txt/sub", "data/f.txt/sub/deeper"):
        # more than one piece: refused when the part's headers arrive, not at the end
        body = part("file", os.urandom(PIECE + 1), "g.txt") + END
        response = post_raw(client, alice, body, where=where)
        assert response.status_code == 409, response.text
        assert response.json()["detail"] == "'data/f.txt' is a file: nothing can be stored below it"
    assert files_below(storage_root) == ["alice@example.org/data/f.txt"]
