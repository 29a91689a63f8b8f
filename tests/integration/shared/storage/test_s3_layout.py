"""How S3Storage lays objects out in the bucket, and what it makes of objects it
did not write itself (DECODE-style markers, presigned uploads, odd names)."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from typing import Any

import pytest

from shared.storage import s3 as s3_module
from shared.storage.base import Entry, StorageError
from shared.storage.paths import UnsafePath
from shared.storage.s3 import S3Storage

MB = 1 << 20


@pytest.fixture
def storage(make_s3_storage: Callable[..., S3Storage]) -> S3Storage:
    return make_s3_storage()


def test_mkdir_writes_a_marker_for_each_level_below_the_prefix(
    storage: S3Storage, object_names: Callable[[], set[str]]
) -> None:
    storage.mkdir("ada/config/sub")
    assert object_names() == {
        "user_data/ada/",
        "user_data/ada/config/",
        "user_data/ada/config/sub/",
    }
    storage.write("ada/config/sub/p.yaml", io.BytesIO(b"x"))
    storage.move("ada/config/sub", "ada/config/moved")
    storage.delete("ada/config/moved/p.yaml")
    assert all(name.startswith("user_data/") for name in object_names())
    assert storage.uri("ada/config/x") == f"s3://{storage.bucket}/user_data/ada/config/x"


def test_directories_without_markers_exist_through_their_objects(
    storage: S3Storage, s3_client: Any, bucket: str
) -> None:
    s3_client.put_object(Bucket=bucket, Key="user_data/ada/data/a/b/c.txt", Body=b"abc")
    assert storage.stat("ada/data/a") == Entry("ada/data/a", True)
    assert set(storage.list("ada/data")) == {Entry("ada/data/a", True)}
    assert set(storage.list("ada", recursive=True)) == {
        Entry("ada/data", True),
        Entry("ada/data/a", True),
        Entry("ada/data/a/b", True),
        Entry("ada/data/a/b/c.txt", False, 3),
    }


def test_objects_with_unaddressable_names_are_not_listed(
    storage: S3Storage, s3_client: Any, bucket: str
) -> None:
    for key in ("user_data/ada/ok", "user_data/ada//double", "user_data/ada/../escape"):
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert set(storage.list("ada")) == {Entry("ada/ok", False, 1)}
    assert set(storage.list("ada", recursive=True)) == {Entry("ada/ok", False, 1)}


def test_two_prefixes_in_one_bucket_do_not_see_each_other(
    make_s3_storage: Callable[..., S3Storage],
) -> None:
    first, second = make_s3_storage("tenant_a"), make_s3_storage("tenant_b/")
    assert second.prefix == "tenant_b"
    first.write("ada/x", io.BytesIO(b"1"))
    assert second.stat("ada/x") is None
    assert list(second.list("")) == []
    with pytest.raises(ValueError):
        second.key_for_uri(first.uri("ada/x"))


def test_no_prefix_maps_keys_to_object_names(
    make_s3_storage: Callable[..., S3Storage], object_names: Callable[[], set[str]]
) -> None:
    storage = make_s3_storage("")
    storage.write("ada/x", io.BytesIO(b"1"))
    storage.mkdir("ada/d")
    assert object_names() == {"ada/x", "ada/", "ada/d/"}
    assert storage.uri("ada/x") == f"s3://{storage.bucket}/ada/x"
    assert storage.key_for_uri(f"s3://{storage.bucket}/ada/x") == "ada/x"
    assert storage.presigned_post("ada")["fields"]["key"] == "ada/${filename}"


def test_listing_moving_and_deleting_go_page_by_page_and_batch_by_batch(
    storage: S3Storage,
    s3_client: Any,
    object_names: Callable[[], set[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(s3_module, "_PAGE_SIZE", 2)
    monkeypatch.setattr(s3_module, "_DELETE_BATCH", 3)
    calls: dict[str, int] = {}

    def count(event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[1]
        calls[operation] = calls.get(operation, 0) + 1

    storage._client.meta.events.register("before-call.s3", count)
    for i in range(7):
        storage.write(f"ada/run/f{i}", io.BytesIO(b"x" * i))
    storage.mkdir("ada/run/sub")
    assert len(set(storage.list("ada/run"))) == 8
    assert len(set(storage.list("ada", recursive=True))) == 9

    storage.move("ada/run", "ada/done")
    assert {e.key for e in storage.list("ada")} == {"ada/done"}
    assert len(set(storage.list("ada/done"))) == 8

    calls.clear()
    storage.delete("ada/done")
    assert calls["DeleteObjects"] == 3  # 8 objects in batches of 3
    assert calls["ListObjectsV2"] >= 5  # 8 objects, 2 per page (after the stat)
    assert object_names() == {"user_data/ada/"}


def test_a_big_file_is_moved_with_a_multipart_copy(storage: S3Storage) -> None:
    data = os.urandom(10 * MB)  # above boto3's 8 MB multipart threshold
    operations: list[str] = []
    storage._client.meta.events.register(
        "before-call.s3", lambda event_name, **_: operations.append(event_name.rsplit(".")[-1])
    )
    storage.write("ada/big", io.BytesIO(data))
    assert "CreateMultipartUpload" in operations
    operations.clear()
    storage.move("ada/big", "ada/data/big")
    assert "UploadPartCopy" in operations
    digest = hashlib.sha256(b"".join(storage.read("ada/data/big"))).hexdigest()
    assert digest == hashlib.sha256(data).hexdigest()
    assert storage.stat("ada/big") is None


class _Trickle(io.RawIOBase):
    """`size` bytes at most 256 KB per read, like a socket; then an error if `fail`."""

    def __init__(self, size: int, fail: bool = False) -> None:
        self.left, self.fail = size, fail

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if not self.left and self.fail:
            raise OSError("client went away")
        n = min(self.left, 256 * 1024, size if size >= 0 else self.left)
        self.left -= n
        return b"y" * n


def test_a_source_giving_short_reads_is_stored_whole(storage: S3Storage) -> None:
    # s3transfer takes a short read for the end of the stream
    assert storage.write("ada/small", _Trickle(MB)) == MB  # type: ignore[arg-type]
    assert storage.write("ada/big", _Trickle(17 * MB)) == 17 * MB  # type: ignore[arg-type]
    assert storage.stat("ada/small") == Entry("ada/small", False, MB)
    assert storage.stat("ada/big") == Entry("ada/big", False, 17 * MB)
    assert sum(len(c) for c in storage.read("ada/big")) == 17 * MB


def test_a_failed_upload_leaves_nothing_behind(
    storage: S3Storage, object_names: Callable[[], set[str]]
) -> None:
    storage.write("ada/old", io.BytesIO(b"previous"))
    for size in (MB, 9 * MB):  # one PUT, then a multipart upload that must be aborted
        with pytest.raises(OSError, match="client went away"):
            storage.write("ada/old", _Trickle(size, fail=True))  # type: ignore[arg-type]
    assert object_names() == {"user_data/ada/old"}
    assert b"".join(storage.read("ada/old")) == b"previous"
    assert storage._client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", []) == []


def test_a_writer_streams_parts_and_aborts_its_multipart_upload(
    storage: S3Storage, object_names: Callable[[], set[str]]
) -> None:
    operations: list[str] = []
    storage._client.meta.events.register(
        "before-call.s3", lambda event_name, **_: operations.append(event_name.rsplit(".")[-1])
    )
    data = os.urandom(16 * MB)  # exactly two parts: no empty last part is sent
    writer = storage.writer("ada/two-parts")
    for start in range(0, len(data), MB):
        writer.write(data[start : start + MB])
    assert operations.count("UploadPart") == 2  # sent while writing, not all at the end
    assert writer.commit() == 16 * MB
    assert operations.count("UploadPart") == 2 and "CompleteMultipartUpload" in operations
    assert hashlib.sha256(b"".join(storage.read("ada/two-parts"))).digest() == (
        hashlib.sha256(data).digest()
    )

    writer = storage.writer("ada/gone")
    writer.write(os.urandom(9 * MB))
    writer.abort()
    assert object_names() == {"user_data/ada/two-parts"}
    assert storage._client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", []) == []


def test_a_writers_multipart_upload_carries_crc32_checksums_end_to_end(
    storage: S3Storage,
) -> None:
    # boto3 >= 1.36 asks for CRC32 by itself: S3 then refuses a completion whose
    # parts lack their checksums, so every call states it and the parts carry theirs
    sent: dict[str, list[dict[str, Any]]] = {}

    def note(event_name: str, params: dict[str, Any], **_: Any) -> None:
        sent.setdefault(event_name.rsplit(".")[-1], []).append(dict(params))

    storage._client.meta.events.register("provide-client-params.s3", note)
    data = os.urandom(17 * MB)  # three parts, the last one small
    writer = storage.writer("ada/checked")
    writer.write(data)
    assert writer.commit() == len(data)
    assert [p["ChecksumAlgorithm"] for p in sent["CreateMultipartUpload"]] == ["CRC32"]
    assert [p["ChecksumAlgorithm"] for p in sent["UploadPart"]] == ["CRC32"] * 3
    (complete,) = sent["CompleteMultipartUpload"]
    parts = complete["MultipartUpload"]["Parts"]
    assert [p["PartNumber"] for p in parts] == [1, 2, 3]
    assert all(p.get("ChecksumCRC32") for p in parts)
    assert hashlib.sha256(b"".join(storage.read("ada/checked"))).digest() == (
        hashlib.sha256(data).digest()
    )


def test_a_directory_cannot_be_moved_into_itself(storage: S3Storage) -> None:
    storage.mkdir("ada/a")
    with pytest.raises(StorageError):
        storage.move("ada/a", "ada/a/b")
    with pytest.raises(StorageError):
        storage.move("", "ada/x")
    assert storage.stat("ada/a") == Entry("ada/a", True)


def test_uri_refuses_unsafe_keys(storage: S3Storage) -> None:
    for key in ("../x", "ada/../../bob", "ada//x"):
        with pytest.raises(UnsafePath):
            storage.uri(key)


def test_a_bucket_name_is_required() -> None:
    with pytest.raises(ValueError):
        S3Storage("", client=object())


def test_a_scoped_view_writes_markers_only_within_its_folder(
    storage: S3Storage, object_names: Callable[[], set[str]]
) -> None:
    job = storage.scoped("ada/output/job1")
    job.mkdir("ada/output/job1/sub")
    assert object_names() == {"user_data/ada/output/job1/", "user_data/ada/output/job1/sub/"}
    storage.write("ada/output/f", io.BytesIO(b"a file where a folder of the view would go"))
    with pytest.raises(NotADirectoryError):  # parents above the scope are still checked
        storage.scoped("ada/output/f/x").mkdir("ada/output/f/x")
