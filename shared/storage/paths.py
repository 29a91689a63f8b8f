"""Validation of user-supplied paths. Pure.

Every path a client sends is turned into a canonical relative POSIX key before
it reaches storage. Anything that could leave the caller's root is refused:
`..`, absolute Windows paths, backslashes, NUL, and percent-encoded dots or
slashes that a later decoding step could turn into one of those.
"""

from __future__ import annotations

import re
from urllib.parse import unquote


class UnsafePath(ValueError):
    """The path would leave the caller's root or is not a valid name."""


_DRIVE = re.compile(r"^[A-Za-z]:")


def clean_relpath(raw: str) -> str:
    """Return the canonical key for `raw`: no leading, trailing or double slashes.

    `""`, `"/"` and `"//"` all mean the root and give `""`. Raises UnsafePath.
    """
    if "\x00" in raw:
        raise UnsafePath("path contains a NUL byte")
    if "\\" in raw:
        raise UnsafePath("path contains a backslash")
    if _DRIVE.match(raw):
        raise UnsafePath("path must be relative")
    parts = []
    for part in raw.split("/"):
        if part in ("", "."):
            continue
        decoded = unquote(part)
        if part == ".." or decoded in ("..", ".") or "/" in decoded or "\x00" in decoded:
            raise UnsafePath(f"path component '{part}' is not allowed")
        if "\\" in decoded:
            raise UnsafePath(f"path component '{part}' is not allowed")
        parts.append(part)
    return "/".join(parts)


def join(*keys: str) -> str:
    """Join already-clean keys, skipping empty ones."""
    return "/".join(k for k in keys if k)


def is_within(key: str, folder: str) -> bool:
    """Whether `key` is `folder` itself or lies below it (both clean keys)."""
    return folder == "" or key == folder or key.startswith(folder + "/")
