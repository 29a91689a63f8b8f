"""labcloud's listing options for clients that resume uploads: exact sizes and SHA-256,
only when asked for (DECODE's listing keeps its three keys)."""

from __future__ import annotations

import hashlib
import io

from fastapi.testclient import TestClient


def upload(client: TestClient, headers: dict, where: str, name: str, content: bytes) -> None:
    response = client.post(
        f"/files/{where}/upload", headers=headers, files={"file": (name, io.BytesIO(content))}
    )
    assert response.status_code == 201, response.text


def test_listing_is_unchanged_unless_asked(client: TestClient, alice: dict) -> None:
    upload(client, alice, "data/set", "a.bin", b"a" * 1500)
    plain = client.get("/files/data/set/", headers=alice).json()
    assert plain == [{"path": "data/set/a.bin", "type": "file", "size": "1.5 kB"}]


def test_exact_sizes_and_checksums(client: TestClient, alice: dict) -> None:
    upload(client, alice, "data/set", "a.bin", b"a" * 1500)
    upload(client, alice, "data/set/inner", "b.txt", b"beta")
    sizes = client.get(
        "/files/data/set/", params={"recursive": True, "exact_sizes": True}, headers=alice
    ).json()
    assert sizes == [
        {"path": "data/set/a.bin", "type": "file", "size": "1.5 kB", "bytes": 1500},
        {"path": "data/set/inner/", "type": "directory", "size": ""},
        {"path": "data/set/inner/b.txt", "type": "file", "size": "4 Bytes", "bytes": 4},
    ]
    one = client.get("/files/data/set/a.bin", params={"checksums": True}, headers=alice).json()
    assert [(e["path"], e["bytes"], e["sha256"]) for e in one] == [
        ("data/set/a.bin", 1500, hashlib.sha256(b"a" * 1500).hexdigest()),
    ]
    # hashing a whole tree in one request is refused: one file at a time
    tree = client.get(
        "/files/data/set/", params={"recursive": True, "checksums": True}, headers=alice
    )
    assert tree.status_code == 400 and "one file at a time" in tree.json()["detail"]


def test_a_file_path_lists_that_file_only_with_details(client: TestClient, alice: dict) -> None:
    upload(client, alice, "data", "one.txt", b"payload")
    assert client.get("/files/data/one.txt/", headers=alice).status_code == 404  # as DECODE
    one = client.get("/files/data/one.txt/", params={"checksums": True}, headers=alice)
    assert one.status_code == 200
    assert one.json() == [
        {
            "path": "data/one.txt",
            "type": "file",
            "size": "7 Bytes",
            "bytes": 7,
            "sha256": hashlib.sha256(b"payload").hexdigest(),
        }
    ]
    missing = client.get("/files/data/none.txt", params={"checksums": True}, headers=alice)
    assert missing.status_code == 404


def test_the_openapi_schema_documents_the_additions(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["FileInfo"]
    assert {"path", "type", "size", "bytes", "sha256"} <= set(schema["properties"])
    assert set(schema["required"]) == {"path", "type", "size"}
