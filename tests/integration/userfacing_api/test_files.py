import io
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient


def upload(client: TestClient, headers: dict, where: str, name: str, content: bytes) -> dict:
    response = client.post(
        f"/files/{where}/upload", headers=headers, files={"file": (name, io.BytesIO(content))}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_upload_list_download(client: TestClient, alice: dict) -> None:
    info = upload(client, alice, "data/exp1", "frames.tif", b"x" * 2048)
    assert info == {"path": "data/exp1/frames.tif", "type": "file", "size": "2.0 kB"}
    upload(client, alice, "config", "params.yaml", b"a: 1\n")

    root = client.get("/files//?show_dirs=True&recursive=False", headers=alice).json()
    assert [f["path"] for f in root] == ["artifact/", "config/", "data/", "log/", "output/"]
    recursive = client.get("/files/data/?show_dirs=false&recursive=true", headers=alice).json()
    assert recursive == [{"path": "data/exp1/frames.tif", "type": "file", "size": "2.0 kB"}]
    with_dirs = client.get("/files/data", params={"recursive": True}, headers=alice).json()
    assert [f["path"] for f in with_dirs] == ["data/exp1/", "data/exp1/frames.tif"]

    download = client.get("/files/data/exp1/frames.tif/download", headers=alice)
    assert download.status_code == 200 and download.content == b"x" * 2048
    assert "frames.tif" in download.headers["content-disposition"]


def test_upload_at_the_top_of_a_folder(client: TestClient, alice: dict) -> None:
    response = client.post(
        "/files/data/upload", headers=alice, files={"file": ("top.csv", io.BytesIO(b"1,2\n"))}
    )
    assert response.status_code == 201
    assert response.json()["path"] == "data/top.csv"


def test_directory_download_is_a_zip(client: TestClient, alice: dict) -> None:
    upload(client, alice, "data/set", "a.txt", b"alpha")
    upload(client, alice, "data/set/inner", "b.txt", b"beta")
    response = client.get("/files/data/set/download", headers=alice)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["a.txt", "inner/b.txt"]
    assert archive.read("inner/b.txt") == b"beta"


def test_listing_a_file_or_missing_dir_is_404(client: TestClient, alice: dict) -> None:
    upload(client, alice, "data", "f.txt", b"1")
    assert client.get("/files/data/f.txt", headers=alice).status_code == 404
    assert client.get("/files/data/none/", headers=alice).status_code == 404
    assert client.get("/files/data/none.txt/download", headers=alice).status_code == 404


def test_create_directory_like_the_frontend(client: TestClient, alice: dict) -> None:
    response = client.post("/files/data/new/", headers=alice)
    assert response.status_code == 201
    assert {"path": "data/new/", "type": "directory", "size": ""} in client.get(
        "/files/data/", headers=alice
    ).json()
    nested = client.post("/files/config/a/b/", headers=alice)
    assert nested.status_code == 201 and nested.json()["path"] == "config/a/b/"
    assert client.post("/files/output/x/", headers=alice).status_code == 422  # not an upload type


def test_url_endpoints_describe_the_request(client: TestClient, alice: dict) -> None:
    upload(client, alice, "data", "f.txt", b"payload")
    get = client.get("/files/data/f.txt/url", headers=alice)
    assert get.status_code == 200
    spec = get.json()
    assert spec["method"] == "GET" and spec["url"].endswith("/files/data/f.txt/download")
    assert spec["headers"] == {"Authorization": alice["Authorization"]}
    assert client.get(spec["url"], headers=spec["headers"]).content == b"payload"
    assert client.get("/files/data/missing/url", headers=alice).status_code == 404

    post = client.post("/files/data/sub/url", headers=alice)
    assert post.status_code == 201
    spec = post.json()
    assert spec["method"] == "POST" and spec["url"].endswith("/files/data/sub/upload")
    # the frontend posts the returned fields plus `key` and `file`, with the returned headers
    done = client.post(
        spec["url"],
        headers=spec["headers"],
        data={**spec["data"], "key": "data/sub/${filename}"},
        files={"file": ("g.txt", io.BytesIO(b"g"))},
    )
    assert done.status_code == 201 and done.json()["path"] == "data/sub/g.txt"


def test_rename(client: TestClient, alice: dict) -> None:
    upload(client, alice, "data", "old.txt", b"1")
    response = client.put("/files/data/old.txt", headers=alice, json={"path": "data//new.txt"})
    assert response.status_code == 200
    assert response.json() == {"path": "data/new.txt", "type": "file", "size": "1 Byte"}
    assert client.get("/files/data/old.txt/download", headers=alice).status_code == 404
    assert (
        client.put("/files/data/old.txt", headers=alice, json={"path": "data/x.txt"}).status_code
        == 404
    )


def test_rename_refusals(client: TestClient, alice: dict) -> None:
    upload(client, alice, "data/full", "a.txt", b"1")
    upload(client, alice, "data", "b.txt", b"1")
    client.post("/files/data/empty/", headers=alice)
    assert client.put("/files/data", headers=alice, json={"path": "stuff"}).status_code == 405
    assert (
        client.put("/files/data/full", headers=alice, json={"path": "data/f2"}).status_code == 405
    )
    assert (
        client.put("/files/data/empty", headers=alice, json={"path": "data/empty2"}).status_code
        == 200
    )
    assert (
        client.put("/files/data/b.txt", headers=alice, json={"path": "data/full/a.txt"}).status_code
        == 409
    )
    assert (
        client.put("/files/data/b.txt", headers=alice, json={"path": "config"}).status_code == 400
    )


def test_delete(client: TestClient, alice: dict, storage_root: Path) -> None:
    upload(client, alice, "data/d", "a.txt", b"1")
    upload(client, alice, "config", "c.yaml", b"1")
    assert client.delete("/files/data/d/a.txt", headers=alice).status_code == 204
    assert client.get("/files/data/d/", headers=alice).json() == []
    assert client.delete("/files/data/d", headers=alice).status_code == 204
    assert client.get("/files/data/", headers=alice).json() == []
    assert client.delete("/files/data/nothing", headers=alice).status_code == 204


@pytest.mark.parametrize(
    "path", ["", "/", "data", "data/", "config", "artifact", "output/", "log", "//log//"]
)
def test_the_root_and_predefined_folders_cannot_be_deleted(
    client: TestClient, alice: dict, path: str
) -> None:
    # labcloud departs from DECODE here: it would empty the folder (or the whole account)
    upload(client, alice, "data/d", "a.txt", b"1")
    upload(client, alice, "config", "c.yaml", b"1")
    response = client.delete(f"/files/{path}", headers=alice)
    assert response.status_code == 405, response.text
    assert "cannot be deleted" in response.json()["detail"]
    assert [f["path"] for f in client.get("/files/?recursive=true", headers=alice).json()] == [
        "artifact/",
        "config/",
        "config/c.yaml",
        "data/",
        "data/d/",
        "data/d/a.txt",
        "log/",
        "output/",
    ]


# Percent-encoded so that the HTTP client sends them as they are (it would resolve a
# literal "/../" itself); the server decodes them into "..", "%2e%2e" and NUL.
ESCAPES = ["%2e%2e", "data/%2e%2e/%2e%2e/x", "data/%252e%252e/x", "data/a%00b"]


@pytest.mark.parametrize("path", ESCAPES)
def test_path_escapes_are_400_and_touch_nothing(
    client: TestClient, alice: dict, storage_root: Path, path: str
) -> None:
    upload(client, alice, "data", "mine.txt", b"1")
    before = sorted(p.as_posix() for p in storage_root.rglob("*"))
    responses = [
        client.get(f"/files/{path}", headers=alice),
        client.get(f"/files/{path}/download", headers=alice),
        client.get(f"/files/{path}/url", headers=alice),
        client.post(
            f"/files/data/{path}/upload", headers=alice, files={"file": ("x.txt", io.BytesIO(b"x"))}
        ),
        client.post(f"/files/data/{path}/", headers=alice),
        client.put("/files/data/mine.txt", headers=alice, json={"path": unquote(path)}),
        client.delete(f"/files/{path}", headers=alice),
    ]
    for response in responses:
        assert response.status_code == 400, (response.request.url, response.text)
        assert "path" in response.json()["detail"]
    assert sorted(p.as_posix() for p in storage_root.rglob("*")) == before


def test_upload_filename_escapes_are_refused(
    client: TestClient, alice: dict, storage_root: Path
) -> None:
    for name in ("../../evil.txt", "a/../../b", ".."):
        response = client.post(
            "/files/data/upload", headers=alice, files={"file": (name, io.BytesIO(b"x"))}
        )
        assert response.status_code == 400, name
    assert not list(storage_root.parent.glob("evil*"))
    assert not (storage_root / "evil.txt").exists()


def test_another_users_files_are_invisible(client: TestClient, alice: dict, login) -> None:  # type: ignore[no-untyped-def]
    upload(client, alice, "data", "secret.txt", b"alice only")
    bob = login("bob@example.org")
    assert client.get("/files/data/secret.txt/download", headers=bob).status_code == 404
    assert client.get("/files/data/", headers=bob).json() == []
    assert client.delete("/files/data/secret.txt", headers=bob).status_code == 204
    assert client.get("/files/data/secret.txt/download", headers=alice).content == b"alice only"
