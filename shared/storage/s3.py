"""Storage in an S3 bucket, below an optional key prefix.

A storage key `k` is the object `<prefix>/<k>`. S3 has no directories, so, as
in DECODE OpenCloud, a directory is a zero-byte object `<k>/` (a marker), and a
directory also exists when any object has `<k>/` as a prefix (files uploaded
straight to S3 with a presigned POST create no markers).

Objects only become visible once an upload is complete (multipart included),
which gives `write` and `writer` their atomicity. Moving a directory is a copy of
every object followed by deletes, so it is not atomic: the source stays whole
until every copy has succeeded.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from shared.storage.base import Entry, OutsideScope, StorageError, write_all
from shared.storage.paths import UnsafePath, clean_relpath, is_within, join
from shared.storage.s3_writer import S3Writer

try:
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]
    from botocore.exceptions import ClientError  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - boto3 is a dependency of labcloud
    raise ImportError("S3 storage needs boto3: pip install boto3") from exc

URI_SCHEME = "s3://"
_DELETE_BATCH = 1000  # the most keys one DeleteObjects call accepts
_PAGE_SIZE = 1000  # the most keys one ListObjectsV2 call returns
_Batch = list[dict[str, str]]  # an alias: inside S3Storage, `list` is the method
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


class S3Storage:
    """Files in `bucket` below `prefix`, plus presigned URLs for direct transfers."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        presign_expiry_s: int = 600,
        tags: dict[str, str] | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("S3Storage needs a bucket name")
        # Object tags on everything written here (uploads and presigned POSTs).
        self._tagging = urlencode(tags) if tags else None
        self._tag_xml = _tag_xml(tags) if tags else None
        self.bucket = bucket
        self.prefix = clean_relpath(prefix)
        self.presign_expiry_s = presign_expiry_s
        self._client = client if client is not None else _make_client(region, endpoint_url)
        self._scope = ""

    # -- scope and key mapping -----------------------------------------------

    @property
    def scope(self) -> str:
        return self._scope

    def scoped(self, folder: str) -> S3Storage:
        """A view confined to `folder` (S3 has no links: the key names it all)."""
        view = copy.copy(self)
        view._scope = self._check(folder)
        return view

    def _check(self, key: str) -> str:
        if clean_relpath(key) != key:
            raise UnsafePath(f"not a clean key: {key!r}")
        if not is_within(key, self._scope):
            raise OutsideScope(f"'{key}' lies outside '{self._scope}'")
        return key

    def _obj(self, key: str) -> str:
        """The object name of `key` (the prefix itself for the root)."""
        return join(self.prefix, self._check(key))

    def _dir_prefix(self, key: str) -> str:
        """The object-name prefix of everything inside the directory `key`."""
        obj = self._obj(key)
        return obj + "/" if obj else ""

    # -- Storage -------------------------------------------------------------

    def stat(self, key: str) -> Entry | None:
        obj = self._obj(key)
        if not key:
            return Entry("", True)
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=obj)
            return Entry(key, False, int(head["ContentLength"]))
        except ClientError as exc:
            if not _is_not_found(exc):
                raise
        if self._has_objects_under(obj + "/"):
            return Entry(key, True)
        return None

    def _has_objects_under(self, dir_prefix: str) -> bool:
        reply = self._client.list_objects_v2(Bucket=self.bucket, Prefix=dir_prefix, MaxKeys=1)
        return bool(reply.get("KeyCount") or reply.get("Contents"))

    def list(self, key: str, recursive: bool = False) -> Iterator[Entry]:
        entry = self.stat(key)
        if entry is None or not entry.is_dir:
            raise NotADirectoryError(key)
        return self._list_recursive(key) if recursive else self._list_children(key)

    def _list_children(self, key: str) -> Iterator[Entry]:
        base = self._dir_prefix(key)
        for page in self._pages(base, delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                name = _clean_name(common["Prefix"][len(base) : -1])
                if name is not None:
                    yield Entry(join(key, name), True)
            for obj in page.get("Contents", []):
                # the directory's own marker comes back as `base` itself: skip it
                name = _clean_name(obj["Key"][len(base) :])
                if name is not None and not obj["Key"].endswith("/"):
                    yield Entry(join(key, name), False, int(obj["Size"]))

    def _list_recursive(self, key: str) -> Iterator[Entry]:
        base = self._dir_prefix(key)
        seen_dirs: set[str] = set()
        for page in self._pages(base):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(base) :]
                is_marker = rel.endswith("/")
                rel = _clean_name(rel.rstrip("/") if is_marker else rel)
                if rel is None:
                    continue
                # directories without a marker exist through the objects below them
                parts = rel.split("/")
                dirs = parts if is_marker else parts[:-1]
                for depth in range(1, len(dirs) + 1):
                    sub = "/".join(dirs[:depth])
                    if sub not in seen_dirs:
                        seen_dirs.add(sub)
                        yield Entry(join(key, sub), True)
                if not is_marker:
                    yield Entry(join(key, rel), False, int(obj["Size"]))

    def _pages(self, dir_prefix: str, delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": dir_prefix,
            "PaginationConfig": {"PageSize": _PAGE_SIZE},
        }
        if delimiter:
            params["Delimiter"] = delimiter
        yield from self._client.get_paginator("list_objects_v2").paginate(**params)

    def read(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        obj = self._obj(key)
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=obj)["Body"]
        except ClientError as exc:
            if not _is_not_found(exc):
                raise
            entry = self.stat(key)
            if entry is not None and entry.is_dir:
                raise IsADirectoryError(key) from None
            raise FileNotFoundError(key) from None
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def write(self, key: str, source: BinaryIO) -> int:
        return write_all(self.writer(key), source)

    def writer(self, key: str) -> S3Writer:
        obj = self._obj(key)
        if not key:
            raise IsADirectoryError("the storage root")
        entry = self.stat(key)
        if entry is not None and entry.is_dir:
            raise IsADirectoryError(key)
        return S3Writer(self._client, self.bucket, obj, tagging=self._tagging)

    def mkdir(self, key: str) -> None:
        self._check(key)
        if not key:
            return
        parts = key.split("/")
        levels = ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]
        for level in levels:
            if self._is_file(level):
                raise FileExistsError(key) if level == key else NotADirectoryError(key)
        for level in levels:  # markers for the parents too (within the scope), as DECODE does
            if is_within(level, self._scope):
                self._client.put_object(Bucket=self.bucket, Key=self._obj(level) + "/", Body=b"")

    def _is_file(self, key: str) -> bool:
        """Whether an object is at `key` (a clean key, maybe a parent of the scope)."""
        try:
            self._client.head_object(Bucket=self.bucket, Key=join(self.prefix, key))
            return True
        except ClientError as exc:
            if _is_not_found(exc):
                return False
            raise

    def move(self, src: str, dst: str) -> None:
        self._check(src)
        self._check(dst)
        if not src:
            raise StorageError("refusing to move the storage root")
        entry = self.stat(src)
        if entry is None:
            raise FileNotFoundError(src)
        if self.stat(dst) is not None:
            raise FileExistsError(dst)
        if not entry.is_dir:
            self._copy(self._obj(src), self._obj(dst))
            self._client.delete_object(Bucket=self.bucket, Key=self._obj(src))
        else:
            if is_within(dst, src):
                raise StorageError(f"cannot move '{src}' into itself")
            src_base, dst_base = self._dir_prefix(src), self._dir_prefix(dst)
            for page in self._pages(src_base):
                for obj in page.get("Contents", []):
                    self._copy(obj["Key"], dst_base + obj["Key"][len(src_base) :])
            # only once every copy exists: the source stays whole if one fails
            self._delete_under(src_base)
        self._keep_parent(src)

    def _copy(self, src_obj: str, dst_obj: str) -> None:
        # the managed copy uses UploadPartCopy for big objects (CopyObject stops at 5 GB)
        self._client.copy({"Bucket": self.bucket, "Key": src_obj}, self.bucket, dst_obj)

    def delete(self, key: str) -> None:
        self._check(key)
        if not key:
            raise StorageError("refusing to delete the storage root")
        entry = self.stat(key)
        if entry is None:
            return
        if entry.is_dir:
            self._delete_under(self._dir_prefix(key))
        else:
            self._client.delete_object(Bucket=self.bucket, Key=self._obj(key))
        self._keep_parent(key)

    def _delete_under(self, dir_prefix: str) -> None:
        """Delete every object whose name starts with `dir_prefix`, in batches."""
        batch: _Batch = []
        # deleting the keys of a page before fetching the next one is safe: the
        # continuation token points past the last key listed
        for page in self._pages(dir_prefix):
            for obj in page.get("Contents", []):
                batch.append({"Key": obj["Key"]})
                if len(batch) == _DELETE_BATCH:
                    self._delete_batch(batch)
                    batch = []
        if batch:
            self._delete_batch(batch)

    def _delete_batch(self, batch: _Batch) -> None:
        reply = self._client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
        )
        if errors := reply.get("Errors"):
            first = errors[0]
            raise StorageError(
                f"could not delete {len(errors)} object(s), e.g. "
                f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
            )

    def _keep_parent(self, key: str) -> None:
        """Keep the parent of a removed entry, as a file system would.

        Without a marker, a directory made only of what was just moved or
        deleted would vanish with it.
        """
        parent = key.rpartition("/")[0]
        if parent:  # may be the scope's parent: a marker of what exists anyway
            self._client.put_object(
                Bucket=self.bucket, Key=join(self.prefix, parent) + "/", Body=b""
            )

    def uri(self, key: str) -> str:
        return f"{URI_SCHEME}{self.bucket}/{self._obj(key)}"

    def key_for_uri(self, uri: str) -> str:
        base = f"{URI_SCHEME}{self.bucket}/" + (self.prefix + "/" if self.prefix else "")
        if not uri.startswith(base):
            raise ValueError(f"not a URI of {base!r}: {uri!r}")
        return self._check(clean_relpath(uri[len(base) :]))

    # -- direct transfers (S3 only, not part of Storage) --------------------

    def presigned_get(self, key: str) -> str:
        """A URL that downloads the file at `key` without credentials, for `presign_expiry_s`."""
        return str(
            self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._obj(key)},
                ExpiresIn=self.presign_expiry_s,
            )
        )

    def presigned_post(self, folder_key: str, max_bytes: int | None = None) -> dict[str, Any]:
        """`{"url", "fields"}` of a browser-style POST upload into the folder `folder_key`.

        The key field is `<prefix>/<folder>/${filename}`: S3 substitutes the name
        of the uploaded file. The signed policy holds the condition
        `["starts-with", "$key", "<prefix>/<folder>/"]` (botocore adds it for a
        key ending in `${filename}`), so S3 refuses keys outside the folder; and,
        with `max_bytes`, `["content-length-range", 0, max_bytes]`, so S3 refuses a
        bigger file.
        """
        key_prefix = self._dir_prefix(folder_key)
        conditions: list[Any] = []
        if max_bytes is not None:
            conditions.append(["content-length-range", 0, max_bytes])
        fields: dict[str, str] | None = None
        if self._tag_xml:  # job results carry their tag, for the output lifecycle rule
            fields = {"tagging": self._tag_xml}
            conditions.append({"tagging": self._tag_xml})
        post = self._client.generate_presigned_post(
            Bucket=self.bucket,
            Key=key_prefix + "${filename}",
            Fields=fields,
            Conditions=conditions or None,
            ExpiresIn=self.presign_expiry_s,
        )
        return {"url": post["url"], "fields": dict(post["fields"])}


def _make_client(region: str | None, endpoint_url: str | None) -> Any:
    # SigV4 is the only signature every region accepts, presigned URLs included
    config = Config(signature_version="s3v4", retries={"mode": "standard"})
    return boto3.client("s3", region_name=region, endpoint_url=endpoint_url, config=config)


def _tag_xml(tags: dict[str, str]) -> str:
    """The `tagging` field of a browser-style POST upload."""
    body = "".join(
        f"<Tag><Key>{escape(k)}</Key><Value>{escape(v)}</Value></Tag>" for k, v in tags.items()
    )
    return f"<Tagging><TagSet>{body}</TagSet></Tagging>"


def _is_not_found(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND


def _clean_name(rel: str) -> str | None:
    """`rel` if it is a clean key, else None: objects named `a//b` or `a/../b`
    (possible in S3, never made by labcloud) cannot be addressed, so are not listed."""
    try:
        return rel if rel and clean_relpath(rel) == rel else None
    except UnsafePath:
        return None
