"""Pure rules: file URIs as they arrive in URL paths, and the relay's backoff."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from workerfacing_api.pollers.relay import BACKOFF_MAX_S, backoff_seconds
from workerfacing_api.services.files import normalize_uri


@pytest.mark.parametrize(
    ("raw", "uri"),
    [
        ("local://alice/data/x.tif", "local://alice/data/x.tif"),
        ("local:/alice/data/x.tif", "local://alice/data/x.tif"),  # merged by a proxy
        ("local:///alice/data/x.tif", "local://alice/data/x.tif"),
        (quote("local://alice/data/x y.tif", safe=""), "local://alice/data/x y.tif"),
        ("s3://bucket/alice/data/x.tif", "s3://bucket/alice/data/x.tif"),
        ("alice/data/x.tif", "alice/data/x.tif"),  # not a URI: left for the caller to refuse
    ],
)
def test_normalize_uri(raw: str, uri: str) -> None:
    assert normalize_uri(raw) == uri


def test_an_encoded_uri_is_decoded_once_only() -> None:
    # %252e is a literal "%2e" in the name, not a dot: never decode it into "..".
    assert normalize_uri("local%3A%2F%2Falice%2F%252e%252e") == "local://alice/%2e%2e"


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [backoff_seconds(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff_seconds(100) == BACKOFF_MAX_S
