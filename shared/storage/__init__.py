"""Where files live. `make_storage` picks the backend named by the settings."""

from __future__ import annotations

from shared.storage.base import Entry, Storage, StorageError

__all__ = [
    "JOB_OUTPUT_TAGS",
    "Entry",
    "Storage",
    "StorageError",
    "make_storage",
    "storage_from_settings",
]

#: The tag the worker API puts on what jobs write (output/, log/, artifact/) on S3: a
#: lifecycle rule may expire job results by it (deploy/aws: outputExpiryDays).
JOB_OUTPUT_TAGS = {"labcloud-kind": "job-output"}


def storage_from_settings(settings: object, *, s3_tags: dict[str, str] | None = None) -> Storage:
    """`make_storage` for an API's settings (FILESYSTEM, USER_DATA_ROOT_PATH, S3_*);
    `s3_tags` are put on every object written (S3 only)."""
    return make_storage(
        settings.filesystem,  # type: ignore[attr-defined]
        settings.user_data_root_path,  # type: ignore[attr-defined]
        s3_bucket=settings.s3_bucket,  # type: ignore[attr-defined]
        s3_region=settings.s3_region,  # type: ignore[attr-defined]
        s3_endpoint_url=settings.s3_endpoint_url,  # type: ignore[attr-defined]
        presign_expiry_s=settings.presigned_url_expiry,  # type: ignore[attr-defined]
        s3_tags=s3_tags,
    )


def make_storage(
    filesystem: str,
    root: str,
    *,
    s3_bucket: str | None = None,
    s3_region: str | None = None,
    s3_endpoint_url: str | None = None,
    presign_expiry_s: int = 600,
    s3_tags: dict[str, str] | None = None,
) -> Storage:
    """The storage backend for `FILESYSTEM`; ValueError names the known ones.

    `root` is a directory for "local" and the key prefix inside `s3_bucket` for "s3".
    """
    if filesystem == "local":
        from shared.storage.local import LocalStorage

        return LocalStorage(root)
    if filesystem == "s3":
        if not s3_bucket:
            raise ValueError("FILESYSTEM 's3' needs S3_BUCKET")
        from shared.storage.s3 import S3Storage

        return S3Storage(
            s3_bucket,
            root,
            region=s3_region,
            endpoint_url=s3_endpoint_url,
            presign_expiry_s=presign_expiry_s,
            tags=s3_tags,
        )
    raise ValueError(f"unknown FILESYSTEM '{filesystem}'; available: local, s3")
