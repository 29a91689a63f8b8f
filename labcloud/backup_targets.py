"""Where backups go: a folder, or an S3 prefix (`s3://bucket/prefix`).

A target holds backups side by side, each under its own name (`labcloud-backup-<UTC
time>`). A backup counts only once its `manifest.json` is there: it is written last,
so a backup cut short is never restored from, and is cleaned up later. On a folder a
backup is written below a hidden `.incomplete-` name and renamed when complete.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

MANIFEST = "manifest.json"
PREFIX = "labcloud-backup-"
_INCOMPLETE = ".incomplete-"


class Target(Protocol):
    """A place that holds backups (see the module docstring)."""

    def backups(self) -> list[str]:
        """The names of the complete backups, oldest first."""

    def open_new(self, name: str) -> None:
        """Start writing backup `name`."""

    def put(self, name: str, rel: str, source: BinaryIO) -> None:
        """Store `source` as `rel` in backup `name` (the one being written)."""

    def reuse(self, name: str, rel: str, previous: str) -> bool:
        """Store `rel` of backup `previous` in `name` without sending it again (a
        hard link, a server-side copy); False when that cannot be done."""

    def finish(self, name: str, manifest: bytes) -> None:
        """Write the manifest: from now on `name` is a complete backup."""

    def get(self, name: str, rel: str) -> Iterator[bytes]:
        """The bytes of `rel` in backup `name`."""

    def delete(self, name: str) -> None:
        """Remove backup `name` (complete or not)."""

    def describe(self, name: str | None = None) -> str:
        """The target (or one of its backups) as the user wrote it."""


def parse_location(location: str) -> tuple[str, str] | Path:
    """(bucket, prefix) of an `s3://bucket/prefix` URL, or the folder's path; ValueError
    for anything else."""
    if location.startswith("s3://"):
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"{location!r}: name a bucket (s3://bucket/prefix)")
        return bucket, prefix.strip("/")
    if "://" in location or not location.strip():
        raise ValueError(f"{location!r}: a folder, or an s3://bucket/prefix URL")
    return Path(location)


def open_target(location: str) -> Target:
    """The target a folder path or an `s3://bucket/prefix` URL names."""
    parsed = parse_location(location)
    if isinstance(parsed, Path):
        return FolderTarget(parsed)
    return S3Target(*parsed)


class FolderTarget:
    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()

    def _dir(self, name: str, *, complete: bool) -> Path:
        return self.root / (name if complete else _INCOMPLETE + name)

    def backups(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.name.startswith(PREFIX) and (p / MANIFEST).is_file()
        )

    def open_new(self, name: str) -> None:
        self._dir(name, complete=False).mkdir(parents=True, exist_ok=False, mode=0o700)

    def put(self, name: str, rel: str, source: BinaryIO) -> None:
        path = self._dir(name, complete=False) / rel
        _private_parents(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # users' data
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)

    def reuse(self, name: str, rel: str, previous: str) -> bool:
        path = self._dir(name, complete=False) / rel
        _private_parents(path)
        try:
            os.link(self._dir(previous, complete=True) / rel, path)  # files never change
        except OSError:
            return False
        return True

    def finish(self, name: str, manifest: bytes) -> None:
        work = self._dir(name, complete=False)
        (work / MANIFEST).write_bytes(manifest)
        work.rename(self._dir(name, complete=True))

    def get(self, name: str, rel: str) -> Iterator[bytes]:
        with (self._dir(name, complete=True) / rel).open("rb") as source:
            while chunk := source.read(1 << 20):
                yield chunk

    def delete(self, name: str) -> None:
        for complete in (True, False):
            shutil.rmtree(self._dir(name, complete=complete), ignore_errors=True)

    def describe(self, name: str | None = None) -> str:
        return str(self.root / name) if name else str(self.root)


def _private_parents(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)


class S3Target:
    """Backups below `prefix` in `bucket`; credentials and endpoint from boto3's own
    variables (AWS_PROFILE, AWS_ENDPOINT_URL, …)."""

    def __init__(self, bucket: str, prefix: str, client: object | None = None) -> None:
        import boto3

        self.bucket, self.prefix = bucket, prefix
        self._s3 = client or boto3.client("s3")

    def _key(self, name: str, rel: str = "") -> str:
        return "/".join(p for p in (self.prefix, name, rel) if p)

    def backups(self) -> list[str]:
        base = self._key("") + "/" if self.prefix else ""
        names = []
        paginator = self._s3.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base + PREFIX, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"][len(base) :].rstrip("/")
                if self._exists(self._key(name, MANIFEST)):
                    names.append(name)
        return sorted(names)

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)  # type: ignore[attr-defined]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def open_new(self, name: str) -> None:
        pass  # S3 has no folders; the manifest, written last, completes a backup

    def put(self, name: str, rel: str, source: BinaryIO) -> None:
        self._s3.upload_fileobj(source, self.bucket, self._key(name, rel))  # type: ignore[attr-defined]

    def reuse(self, name: str, rel: str, previous: str) -> bool:
        self._s3.copy_object(  # type: ignore[attr-defined]
            Bucket=self.bucket,
            Key=self._key(name, rel),
            CopySource={"Bucket": self.bucket, "Key": self._key(previous, rel)},
        )
        return True

    def finish(self, name: str, manifest: bytes) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=self._key(name, MANIFEST), Body=manifest)  # type: ignore[attr-defined]

    def get(self, name: str, rel: str) -> Iterator[bytes]:
        body = self._s3.get_object(Bucket=self.bucket, Key=self._key(name, rel))["Body"]  # type: ignore[attr-defined]
        try:
            yield from body.iter_chunks(1 << 20)
        finally:
            body.close()

    def delete(self, name: str) -> None:
        paginator = self._s3.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(name) + "/"):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})  # type: ignore[attr-defined]

    def describe(self, name: str | None = None) -> str:
        return f"s3://{self.bucket}/{self._key(name or '')}".rstrip("/")
