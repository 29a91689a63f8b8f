"""Validation of user-supplied paths. Pure.

Every path a client sends is turned into a canonical relative POSIX key before
it reaches storage. Anything that could leave the caller's root is refused:
`..`, absolute Windows paths, backslashes, NUL and other control characters, and
percent-encoded dots or slashes that a later decoding step could turn into one of
those; and names or paths longer than file systems hold (in bytes of UTF-8).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from shared.validation import MAX_NAME_BYTES, MAX_PATH_BYTES, has_control_characters, utf8_size


class UnsafePath(ValueError):
    """The path would leave the caller's root or is not a valid name."""


_DRIVE = re.compile(r"^[A-Za-z]:")


def clean_relpath(raw: str) -> str:
    """Return the canonical key for `raw`: no leading, trailing or double slashes.

    `""`, `"/"` and `"//"` all mean the root and give `""`. Raises UnsafePath.
    """
    if "\x00" in raw:
        raise UnsafePath("path contains a NUL byte")
    if has_control_characters(raw):
        raise UnsafePath("path contains a control character (line break, tab...)")
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
        if (size := utf8_size(part)) > MAX_NAME_BYTES:
            raise UnsafePath(
                f"path component '{part[:32]}…' is {size} bytes long in UTF-8; "
                f"at most {MAX_NAME_BYTES} are allowed"
            )
        parts.append(part)
    key = "/".join(parts)
    if (size := utf8_size(key)) > MAX_PATH_BYTES:
        raise UnsafePath(f"path is {size} bytes long in UTF-8; at most {MAX_PATH_BYTES} allowed")
    return key


def join(*keys: str) -> str:
    """Join already-clean keys, skipping empty ones."""
    return "/".join(k for k in keys if k)


def is_within(key: str, folder: str) -> bool:
    """Whether `key` is `folder` itself or lies below it (both clean keys)."""
    return folder == "" or key == folder or key.startswith(folder + "/")
