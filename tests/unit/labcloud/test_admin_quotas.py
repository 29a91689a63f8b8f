"""`labcloud admin quotas`: the sizes an operator may type."""

from __future__ import annotations

import pytest
import typer

from labcloud.admin_quotas import parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1048576),
        ("500MB", 500 * 10**6),
        ("500 mb", 500 * 10**6),
        ("50GiB", 50 * 2**30),
        ("2T", 2 * 10**12),
        ("1.5KiB", 1536),
        ("0", 0),
    ],
)
def test_sizes_in_bytes_or_with_a_unit(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "-5", "5 PB", "iB", "12 apples", "1e9"])
def test_other_text_is_refused(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_size(text)
