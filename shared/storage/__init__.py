"""Where files live. `make_storage` picks the backend named by the settings."""

from __future__ import annotations

from shared.storage.base import Entry, Storage, StorageError

__all__ = ["Entry", "Storage", "StorageError", "make_storage"]


def make_storage(filesystem: str, root: str) -> Storage:
    """The storage backend for `FILESYSTEM`; ValueError names the known ones."""
    if filesystem == "local":
        from shared.storage.local import LocalStorage

        return LocalStorage(root)
    raise ValueError(f"unknown or unavailable FILESYSTEM '{filesystem}'; available: local")
