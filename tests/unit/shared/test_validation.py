"""The edge's value rules: ranges, finite seconds, ASCII digits, names in bytes."""

from __future__ import annotations

import math

import pytest
from pydantic import BaseModel, ValidationError

from shared.validation import (
    INT32_MAX,
    BigCount,
    Name,
    RowId,
    Seconds,
    StorableText,
    name_problem,
    parse_int,
    storable_text,
)


class Values(BaseModel):
    id: RowId = 0
    big: BigCount = 0
    seconds: Seconds = 0
    name: Name = "x"
    text: StorableText = ""


@pytest.mark.parametrize(
    "field,value",
    [
        ("id", INT32_MAX + 1),  # a 10-digit id: PostgreSQL's INTEGER ends at 2147483647
        ("id", -1),
        ("big", 2**63),
        ("seconds", math.inf),
        ("seconds", math.nan),
        ("seconds", 1e308),
        ("seconds", -1),
        ("name", "a\nb"),
        ("name", "nul\x00"),
        ("name", ""),
        ("name", "é" * 128),  # 128 characters, 256 bytes
    ],
)
def test_out_of_range_values_are_validation_errors(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Values.model_validate({field: value})


def test_values_at_the_limits_pass() -> None:
    values = Values(id=INT32_MAX, big=2**63 - 1, seconds=100 * 365 * 86400, name="é" * 127 + "x")
    assert values.id == INT32_MAX and values.name.encode().__len__() == 255


@pytest.mark.parametrize(
    "text,maximum,expected",
    [
        ("42", INT32_MAX, 42),
        ("0", INT32_MAX, 0),
        ("²", INT32_MAX, None),  # passes str.isdigit, int() refuses it
        ("١٢", INT32_MAX, None),  # Arabic-Indic digits: int() reads them, we do not
        ("2147483647", INT32_MAX, INT32_MAX),
        ("2147483648", INT32_MAX, None),
        ("9" * 40, INT32_MAX, None),
        ("-1", INT32_MAX, None),
        (" 1", INT32_MAX, None),
        ("", INT32_MAX, None),
        ("65", 64, None),
    ],
)
def test_parse_int_takes_ascii_digits_within_range(
    text: str, maximum: int, expected: int | None
) -> None:
    assert parse_int(text, maximum) == expected


def test_name_problems_say_what_is_wrong() -> None:
    assert name_problem("fine name (1)") is None
    assert "control characters" in (name_problem("two\nlines", "job_name") or "")
    assert (name_problem("é" * 128, "job_name") or "").startswith(
        "job_name is 256 bytes long in UTF-8; at most 255"
    )


def test_storable_text_replaces_what_no_database_takes() -> None:
    assert storable_text("a\x00b\udc80c\n") == "a\ufffdb\ufffdc\n"
    assert storable_text("plain\ttext") == "plain\ttext"
    assert Values(text="x\x00").text == "x\ufffd"
