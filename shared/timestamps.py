"""Timestamps on the wire: RFC 3339 with an offset, always. Pure.

The databases keep naive UTC (`shared.db.utcnow`), and so do the models inside the
APIs; `UtcDateTime` is the one place that turns them into `2024-11-25T15:26:03.123Z`
on the way out and accepts any ISO 8601 / RFC 3339 time on the way in (with an offset,
converted to UTC; without one, taken as UTC, as DECODE sends them).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer, WithJsonSchema


def as_naive_utc(when: dt.datetime) -> dt.datetime:
    """`when` in UTC without tzinfo, as the databases store times."""
    if when.tzinfo is None:
        return when
    try:
        return when.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is in the year 10000 in UTC
        raise ValueError("the time is out of range once in UTC") from None


def rfc3339(when: dt.datetime | None) -> str | None:
    """`when` (naive means UTC) as RFC 3339 in UTC: `2024-11-25T15:26:03.123456Z`."""
    if when is None:
        return None
    return as_naive_utc(when).isoformat() + "Z"


#: A datetime field or parameter: naive UTC inside, RFC 3339 with `Z` outside.
UtcDateTime = Annotated[
    dt.datetime,
    AfterValidator(as_naive_utc),
    PlainSerializer(rfc3339, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
