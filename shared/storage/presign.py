"""Direct transfers: a storage that can presign (S3) lets clients move bytes without
passing through the APIs. Others (local disk) answer None, and the APIs hand out
their own `/download` and `/upload` URLs instead."""

from __future__ import annotations

from typing import Any

from shared.storage.base import Storage


def presigned_get(storage: Storage, key: str) -> str | None:
    """A URL that downloads `key` without credentials, or None."""
    presign = getattr(storage, "presigned_get", None)
    return presign(key) if presign else None


def presigned_post(
    storage: Storage, folder_key: str, max_bytes: int | None = None
) -> dict[str, Any] | None:
    """`{"url", "fields"}` of a form POST that uploads any file name into the folder, of
    at most `max_bytes` (the storage refuses a bigger one), or None."""
    presign = getattr(storage, "presigned_post", None)
    return presign(folder_key, max_bytes) if presign else None
