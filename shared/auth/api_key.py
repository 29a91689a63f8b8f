"""The internal API key that the two APIs present to each other."""

from __future__ import annotations

import hmac

HEADER = "x-api-key"


def api_key_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so the key cannot be guessed byte by byte."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
