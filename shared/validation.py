"""What a value from a client must be before any service sees it. Pure.

Both APIs validate at the edge, once, with these types and helpers: numbers within
the range of the column (or the code) they end up in, finite floats, numbers parsed
from ASCII digits only, names a file system and an email header can hold. A value
outside them is a 4xx at the edge, never a database or OS error (a 5xx) later.

The `Annotated` types work as pydantic fields and as FastAPI path and query
parameters alike (`job_id: RowId`).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

#: The largest value of an `Integer` column on PostgreSQL (ids, counts, sizes in MB).
INT32_MAX = 2**31 - 1
#: The largest value of a `BigInteger` column (and of an SQLite integer).
INT64_MAX = 2**63 - 1
#: Longest file or folder name, in bytes of UTF-8 (ext4, XFS, APFS, S3 keys' segments).
MAX_NAME_BYTES = 255
#: Longest path, in bytes of UTF-8 (Linux's PATH_MAX).
MAX_PATH_BYTES = 4096
#: Longest span of time a client may name, in seconds (100 years): any date that far
#: back or ahead is still a valid datetime.
MAX_SECONDS = 100 * 366 * 24 * 3600

#: A row id: in the range of an `Integer` primary key.
RowId = Annotated[int, Field(ge=0, le=INT32_MAX, examples=[1])]
#: A count or size stored in an `Integer` column (also page offsets and limits).
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
#: A count stored in a `BigInteger` column (e.g. characters of a log).
BigCount = Annotated[int, Field(ge=0, le=INT64_MAX)]
#: A duration in seconds: finite, not negative, at most `MAX_SECONDS`.
Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)]

# Characters a name must not hold: C0 and C1 controls (line breaks, NUL, escape...),
# DEL, the Unicode line and paragraph separators, and lone surrogates (not text at all:
# they cannot be written as UTF-8).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def has_control_characters(text: str) -> bool:
    """Whether `text` holds a control character, a line separator or a lone surrogate."""
    return not text.isprintable() and _CONTROL.search(text) is not None


def utf8_size(text: str) -> int:
    """Bytes of `text` in UTF-8 (lone surrogates count as the 3 bytes they would take)."""
    return len(text.encode("utf-8", "surrogatepass"))


def name_problem(name: str, what: str = "name") -> str | None:
    """What makes `name` unusable as a file or folder name (and in an email subject), or
    None: empty, over `MAX_NAME_BYTES` bytes of UTF-8, or holding control characters."""
    if not name:
        return f"{what} must not be empty"
    if has_control_characters(name):
        return f"{what} must not contain control characters (line breaks, tabs, NUL...)"
    if (size := utf8_size(name)) > MAX_NAME_BYTES:
        return f"{what} is {size} bytes long in UTF-8; at most {MAX_NAME_BYTES} are allowed"
    return None


def _check_name(name: str) -> str:
    if (problem := name_problem(name)) is not None:
        raise ValueError(problem)
    return name


#: A name that becomes a folder name and goes into emails: a job's name, say.
Name = Annotated[str, AfterValidator(_check_name)]


def parse_int(text: str, maximum: int = INT32_MAX) -> int | None:
    """The number `text` spells in ASCII digits, if it is one from 0 to `maximum`.

    `str.isdigit` alone admits '²' and other Unicode digits, which `int()` then refuses.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)):
        return None
    value = int(text)
    return value if value <= maximum else None


def storable_text(text: str) -> str:
    """`text` with what no database text column takes (NUL, lone surrogates) replaced by
    U+FFFD: for free text a worker reports (runtime details, logs), which is kept even
    when a program printed binary."""
    if text.isprintable() or not _UNSTORABLE.search(text):
        return text
    return _UNSTORABLE.sub("\ufffd", text)


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

#: Free text stored as is but for NUL and lone surrogates (see `storable_text`).
StorableText = Annotated[str, AfterValidator(storable_text)]
