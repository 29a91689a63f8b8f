"""Presigned POST uploads and presigned GET downloads, by a plain HTTP client (httpx)
against the moto server, the way DECODE's web frontend and the workers use them.

moto 5.2 substitutes `${filename}` but checks neither the signature, nor the
expiry, nor any policy condition of a POST upload (nor the expiry of a presigned
GET). Refusing a key outside the folder is real S3's job; here we check that
the signed policy carries the condition S3 will enforce.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from shared.storage.base import OutsideScope
from shared.storage.paths import UnsafePath
from shared.storage.s3 import S3Storage

FOLDER = "ada/data/run1"


@pytest.fixture
def storage(make_s3_storage: Callable[..., S3Storage]) -> S3Storage:
    storage = make_s3_storage()
    storage.mkdir(FOLDER)
    return storage


def post_file(
    post: dict[str, Any], filename: str, data: bytes, key: str | None = None
) -> httpx.Response:
    """A browser-style multipart POST: the returned fields, a key, then the file last."""
    fields = dict(post["fields"])
    if key is not None:
        fields["key"] = key
    return httpx.post(post["url"], data=fields, files={"file": (filename, data)}, timeout=30)


def policy_of(post: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(post["fields"]["policy"]))


def policy_violations(policy: dict[str, Any], form: dict[str, str]) -> list[Any]:
    """The conditions of a POST policy that `form` breaks, judged as S3 does."""
    broken = []
    for condition in policy["conditions"]:
        if isinstance(condition, dict):
            ((name, value),) = condition.items()
            if name != "bucket" and form.get(name) != value:
                broken.append(condition)
        elif condition[0] == "starts-with":
            if not form.get(condition[1].lstrip("$"), "").startswith(condition[2]):
                broken.append(condition)
        elif condition[0] == "eq" and form.get(condition[1].lstrip("$")) != condition[2]:
            broken.append(condition)
    return broken


def test_two_files_posted_into_one_folder_both_arrive(storage: S3Storage) -> None:
    post = storage.presigned_post(FOLDER)
    prefix = f"{storage.prefix}/{FOLDER}/"
    assert post["fields"]["key"] == prefix + "${filename}"
    for name, data in [("frames.tif", b"\x00tif" * 1000), ("param.yaml", b"a: 1\n")]:
        reply = post_file(post, name, data, key=prefix + name)
        assert reply.status_code == 204, reply.text
    assert {(e.key, e.size) for e in storage.list(FOLDER)} == {
        (f"{FOLDER}/frames.tif", 4000),
        (f"{FOLDER}/param.yaml", 5),
    }
    assert b"".join(storage.read(f"{FOLDER}/frames.tif")) == b"\x00tif" * 1000
    assert b"".join(storage.read(f"{FOLDER}/param.yaml")) == b"a: 1\n"


def test_the_filename_placeholder_is_filled_in_by_the_server(storage: S3Storage) -> None:
    reply = post_file(storage.presigned_post(FOLDER), "notes.txt", b"hi")
    assert reply.status_code == 204, reply.text
    assert b"".join(storage.read(f"{FOLDER}/notes.txt")) == b"hi"


def test_a_post_into_a_folder_without_marker_makes_it_listable(storage: S3Storage) -> None:
    reply = post_file(storage.presigned_post("ada/new/deep"), "x.bin", b"x")
    assert reply.status_code == 204, reply.text
    assert {e.key for e in storage.list("ada", recursive=True)} >= {
        "ada/new",
        "ada/new/deep",
        "ada/new/deep/x.bin",
    }


def test_the_policy_binds_the_folder_and_expires_after_600_s(storage: S3Storage) -> None:
    before = time.time()
    policy = policy_of(storage.presigned_post(FOLDER))
    assert ["starts-with", "$key", f"user_data/{FOLDER}/"] in policy["conditions"]
    assert {"bucket": storage.bucket} in policy["conditions"]
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")).timestamp()
    assert before + 598 <= expires <= time.time() + 602


def test_moto_accepts_a_key_outside_the_folder_that_s3_would_refuse(storage: S3Storage) -> None:
    post = storage.presigned_post(FOLDER)
    rogue_key = "user_data/bob/data/evil.txt"
    form = {**post["fields"], "key": rogue_key}
    # What real S3 judges: the key breaks the starts-with condition, so S3 answers 403.
    assert policy_violations(policy_of(post), form) == [
        ["starts-with", "$key", f"user_data/{FOLDER}/"]
    ]
    assert (
        policy_violations(policy_of(post), {**post["fields"], "key": f"user_data/{FOLDER}/ok"})
        == []
    )
    # What moto does: it checks no condition and stores the object.
    reply = post_file(post, "evil.txt", b"x", key=rogue_key)
    assert reply.status_code == 204
    assert storage.stat("bob/data/evil.txt") is not None


def test_a_presigned_get_downloads_the_file(storage: S3Storage) -> None:
    storage.write(f"{FOLDER}/result.h5", io.BytesIO(b"\x89HDF" * 2048))
    url = storage.presigned_get(f"{FOLDER}/result.h5")
    query = parse_qs(urlparse(url).query)
    assert query["X-Amz-Expires"] == ["600"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    reply = httpx.get(url, timeout=30)
    assert reply.status_code == 200
    assert reply.content == b"\x89HDF" * 2048


def test_the_expiry_is_configurable(make_s3_storage: Callable[..., S3Storage]) -> None:
    storage = make_s3_storage(presign_expiry_s=60)
    url = storage.presigned_get("ada/x")
    assert parse_qs(urlparse(url).query)["X-Amz-Expires"] == ["60"]
    expires = policy_of(storage.presigned_post("ada"))["expiration"]
    assert datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp() <= time.time() + 62


def test_presigning_refuses_unsafe_keys(storage: S3Storage) -> None:
    for key in ("../x", "ada/../../bob", "/ada"):
        with pytest.raises(UnsafePath):
            storage.presigned_get(key)
        with pytest.raises(UnsafePath):
            storage.presigned_post(key)


def test_a_scoped_view_presigns_nothing_outside_its_folder(storage: S3Storage) -> None:
    ada = storage.scoped("ada")
    for key in ("bob/data/x", "adam/x", ""):
        with pytest.raises(OutsideScope):
            ada.presigned_get(key)
        with pytest.raises(OutsideScope):
            ada.presigned_post(key)
    policy = policy_of(ada.presigned_post(FOLDER))
    assert ["starts-with", "$key", f"user_data/{FOLDER}/"] in policy["conditions"]
    assert f"/user_data/{FOLDER}/x.tif?" in ada.presigned_get(f"{FOLDER}/x.tif")
