"""`S3Writer` against a fake client: which calls a multipart upload makes (checksums
stated on every one), and that a failed abort never hides the failure it follows."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from shared.storage.s3_writer import _PART_SIZE, S3Writer

SECRET = "wJalrXUtnFEMI-not-a-real-secret"


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code}!"}}, operation)


class FakeS3:
    """The calls S3Writer makes, noted; replies as S3's, checksums as asked."""

    def __init__(self, fail: tuple[str, ...] = (), checksums: bool = True) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail
        self.checksums = checksums
        self.secret = SECRET  # as a real client holds credentials: never to be logged

    def _call(self, name: str, params: dict[str, Any]) -> None:
        self.calls.append((name, {k: v for k, v in params.items() if k != "Body"}))
        if name in self.fail:
            raise client_error("AccessDenied" if name == "abort" else "InternalError", name)

    def create_multipart_upload(self, **params: Any) -> dict[str, Any]:
        self._call("create", params)
        return {"UploadId": "upload-1"}

    def upload_part(self, **params: Any) -> dict[str, Any]:
        self._call("part", params)
        number = params["PartNumber"]
        reply = {"ETag": f'"etag-{number}"'}
        if self.checksums:
            reply["ChecksumCRC32"] = f"crc-{number}=="
        return reply

    def complete_multipart_upload(self, **params: Any) -> dict[str, Any]:
        self._call("complete", params)
        return {}

    def abort_multipart_upload(self, **params: Any) -> dict[str, Any]:
        self._call("abort", params)
        return {}

    def put_object(self, **params: Any) -> dict[str, Any]:
        self._call("put", params)
        return {}


def write_parts(writer: S3Writer, parts: float) -> None:
    writer.write(b"x" * int(parts * _PART_SIZE))


@pytest.mark.parametrize("checksums", [True, False])
def test_every_call_of_a_multipart_upload_states_crc32(checksums: bool) -> None:
    client = FakeS3(checksums=checksums)
    writer = S3Writer(client, "bucket", "ada/f.bin")
    write_parts(writer, 2.5)
    assert writer.commit() == int(2.5 * _PART_SIZE)
    names = [name for name, _ in client.calls]
    assert names == ["create", "part", "part", "part", "complete"]
    params = [p for _, p in client.calls]
    assert all(p["ChecksumAlgorithm"] == "CRC32" for p in params[:4])
    parts = params[4]["MultipartUpload"]["Parts"]
    expected = [{"PartNumber": n, "ETag": f'"etag-{n}"'} for n in (1, 2, 3)]
    if checksums:  # each part's checksum from its reply, as S3 wants them
        expected = [{**p, "ChecksumCRC32": f"crc-{p['PartNumber']}=="} for p in expected]
    assert parts == expected


@pytest.mark.parametrize("failing", ["complete", "part"])
def test_a_failed_abort_is_logged_and_the_commits_error_raised(
    failing: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = FakeS3()
    writer = S3Writer(client, "bucket", "ada/f.bin")
    write_parts(writer, 1.5)  # one part sent; the last one goes with the commit
    client.fail = (failing, "abort")
    with caplog.at_level(logging.WARNING), pytest.raises(ClientError) as raised:
        writer.commit()
    assert raised.value.operation_name == failing  # not the abort's error
    assert [name for name, _ in client.calls][-1] == "abort"
    (record,) = [r for r in caplog.records if "could not abort" in r.getMessage()]
    message = record.getMessage()
    assert record.levelno == logging.WARNING
    assert "s3://bucket/ada/f.bin, upload upload-1" in message and "AccessDenied" in message
    assert SECRET not in caplog.text


def test_a_failed_abort_can_be_tried_again() -> None:
    client = FakeS3(fail=("abort",))
    writer = S3Writer(client, "bucket", "ada/f.bin")
    write_parts(writer, 1)
    with pytest.raises(ClientError):
        writer.abort()
    client.fail = ()
    writer.abort()
    writer.abort()  # gone: no call
    assert [name for name, _ in client.calls] == ["create", "part", "abort", "abort"]
