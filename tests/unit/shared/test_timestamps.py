"""Timestamps go out as RFC 3339 in UTC and come in with or without an offset."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import BaseModel, ValidationError

from shared.timestamps import UtcDateTime, rfc3339


class Stamped(BaseModel):
    at: UtcDateTime
    maybe: UtcDateTime | None = None


def test_naive_utc_goes_out_with_z_and_parses_back() -> None:
    stamped = Stamped(at=dt.datetime(2024, 11, 25, 15, 26, 3, 123456))
    sent = stamped.model_dump(mode="json")
    assert sent == {"at": "2024-11-25T15:26:03.123456Z", "maybe": None}
    parsed = dt.datetime.fromisoformat(sent["at"])  # what a Python client does
    assert parsed.tzinfo is not None and parsed.utcoffset() == dt.timedelta(0)
    assert Stamped.model_validate(sent).at == stamped.at


@pytest.mark.parametrize(
    "given",
    ["2024-11-25T16:26:03+01:00", "2024-11-25T15:26:03Z", "2024-11-25T15:26:03"],
)
def test_incoming_times_with_or_without_offset_are_read_as_utc(given: str) -> None:
    assert Stamped(at=given).at == dt.datetime(2024, 11, 25, 15, 26, 3)  # type: ignore[arg-type]


def test_a_time_that_leaves_the_calendar_in_utc_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="out of range"):
        Stamped(at="9999-12-31T23:00:00-05:00")  # type: ignore[arg-type]


def test_the_schema_says_date_time() -> None:
    schema = Stamped.model_json_schema(mode="serialization")
    assert schema["properties"]["at"] == {"format": "date-time", "title": "At", "type": "string"}


def test_rfc3339_of_an_aware_time_is_in_utc() -> None:
    local = dt.datetime(2024, 1, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert rfc3339(local) == "2023-12-31T23:00:00Z" and rfc3339(None) is None
