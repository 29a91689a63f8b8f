"""The keys sign-in failures are counted under, and the origins cookie writes may come from."""

from __future__ import annotations

import pytest

from userfacing_api.cookie_origins import origin_of
from userfacing_api.services.signin_throttle import account_key, address_key


def test_an_account_counts_whatever_its_case_and_is_never_stored_as_typed() -> None:
    assert account_key("Ada@Lab.example ") == account_key("ada@lab.example")
    assert account_key("ada") != account_key("bob")
    assert "ada" not in account_key("ada") and len(account_key("x" * 10_000)) == 64


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("192.0.2.1", "192.0.2.2", False),
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", True),  # one /64
        ("2001:db8:1:2::1", "2001:db8:1:3::1", False),
        ("::ffff:192.0.2.1", "192.0.2.1", True),  # IPv4 seen through IPv6
        ("testclient", "testclient", True),
    ],
)
def test_addresses_count_by_client(one: str, other: str, same: bool) -> None:
    assert (address_key(one) == address_key(other)) is same
    assert address_key(one) != account_key(one)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Frontend.Example/app/page?x=1", "https://frontend.example"),
        ("https://frontend.example:443", "https://frontend.example"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("http://[::1]:8000/ui", "http://[::1]:8000"),
        ("null", None),
        ("file:///etc/passwd", None),
        ("http://host:99999", None),
        ("", None),
    ],
)
def test_origin_of(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin
