"""One upload into an S3 object, fed piece by piece: a single PUT when small, else a
multipart upload whose object appears only once it is completed."""

from __future__ import annotations

from typing import Any

from shared.storage.base import Buffer, abort_quietly

_PART_SIZE = 8 << 20  # as boto3's managed transfer: 10,000 parts hold 80 GB
_PARTS_PER_STEP = 1000  # then parts grow, so that a bigger file still fits
# Stated on every call of a multipart upload: with boto3 >= 1.36 the create call
# would otherwise pick CRC32 by itself, and S3 then refuses a completion whose parts
# lack their checksums. Named, the parts carry theirs (as s3transfer does).
_CHECKSUM = "CRC32"


class S3Writer:
    """An upload into one object: a single PUT when small, else a multipart upload.

    Bytes are gathered into parts of `_PART_SIZE` (S3 wants at least 5 MiB but for
    the last), so memory stays at about one part whatever the file's size. Parts
    grow by `_PART_SIZE` every `_PARTS_PER_STEP` parts, since S3 allows only
    10,000 parts. The object appears only when the upload is completed; an
    aborted or failed one is removed from the bucket's pending uploads.
    """

    def __init__(self, client: Any, bucket: str, obj: str, tagging: str | None = None) -> None:
        self._client, self._bucket, self._obj = client, bucket, obj
        self._tags = {"Tagging": tagging} if tagging else {}  # URL-encoded object tags
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._size = 0
        self._over = False

    def _part_size(self) -> int:
        return _PART_SIZE * (1 + len(self._parts) // _PARTS_PER_STEP)

    def write(self, *pieces: Buffer) -> None:
        if self._over:
            raise ValueError("the write is over")
        for piece in pieces:
            self._buffer += piece
            self._size += memoryview(piece).nbytes
        while len(self._buffer) >= (size := self._part_size()):
            self._upload_part(bytes(memoryview(self._buffer)[:size]))
            del self._buffer[:size]

    def _upload_part(self, body: bytes) -> None:
        if self._upload_id is None:
            reply = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._obj, ChecksumAlgorithm=_CHECKSUM, **self._tags
            )
            self._upload_id = reply["UploadId"]
        number = len(self._parts) + 1
        reply = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._obj,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm=_CHECKSUM,
        )
        part: dict[str, Any] = {"PartNumber": number, "ETag": reply["ETag"]}
        if checksum := reply.get("ChecksumCRC32"):
            part["ChecksumCRC32"] = checksum
        self._parts.append(part)

    def commit(self) -> int:
        if self._over:
            raise ValueError("the write is over")
        try:
            if self._upload_id is None:
                self._client.put_object(
                    Bucket=self._bucket, Key=self._obj, Body=bytes(self._buffer), **self._tags
                )
            else:
                if self._buffer:  # the last part may be small (or absent)
                    self._upload_part(bytes(self._buffer))
                self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._obj,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
                self._upload_id = None
        except BaseException:
            abort_quietly(self)  # an error of the abort must not hide this one
            raise
        self.abort()  # nothing left to abort: marks the write over, frees the buffer
        return self._size

    def __repr__(self) -> str:
        # names the pending upload, for whoever cleans up after a failed abort
        upload = f", upload {self._upload_id}" if self._upload_id is not None else ""
        return f"S3Writer(s3://{self._bucket}/{self._obj}{upload})"

    def abort(self) -> None:
        self._over = True
        self._buffer = bytearray()
        if self._upload_id is not None:
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._obj, UploadId=self._upload_id
            )
            self._upload_id = None  # only once gone: a failed abort can be tried again
