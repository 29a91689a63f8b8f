import time

import jwt
import pytest

from shared.auth.api_key import api_key_matches
from shared.auth.local import LocalTokens
from shared.auth.tokens import InvalidToken

SECRET = "s" * 40


def test_issued_token_verifies_with_claims() -> None:
    tokens = LocalTokens(SECRET, "labcloud", "labcloud")
    principal = tokens.verify(tokens.issue("alice", "alice@example.org", ["users", "workers"]))
    assert principal.username == "alice"
    assert principal.email == "alice@example.org"
    assert principal.groups == ("users", "workers")
    assert principal.token_id


@pytest.mark.parametrize(
    "other",
    [
        LocalTokens("x" * 40, "labcloud", "labcloud"),  # other key
        LocalTokens(SECRET, "someone-else", "labcloud"),  # other issuer
        LocalTokens(SECRET, "labcloud", "other-app"),  # other audience
    ],
)
def test_tokens_from_elsewhere_are_refused(other: LocalTokens) -> None:
    ours = LocalTokens(SECRET, "labcloud", "labcloud")
    with pytest.raises(InvalidToken):
        ours.verify(other.issue("alice", None, ["users"]))


def test_expired_token_is_refused() -> None:
    tokens = LocalTokens(SECRET, "labcloud", "labcloud")
    now = int(time.time())
    expired = jwt.encode(
        {"sub": "a", "iss": "labcloud", "aud": "labcloud", "iat": now - 100, "exp": now - 60},
        SECRET,
        algorithm="HS256",
    )
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(expired)


def test_unsigned_token_is_refused() -> None:
    tokens = LocalTokens(SECRET, "labcloud", "labcloud")
    forged = jwt.encode(
        {
            "sub": "a",
            "iss": "labcloud",
            "aud": "labcloud",
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
            "groups": ["users"],
        },
        key=None,
        algorithm="none",
    )
    with pytest.raises(InvalidToken):
        tokens.verify(forged)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        LocalTokens("short", "i", "a")


def test_api_key_comparison() -> None:
    assert api_key_matches("k" * 20, "k" * 20)
    assert not api_key_matches("k" * 19 + "x", "k" * 20)
    assert not api_key_matches(None, "k" * 20)
    assert not api_key_matches("", "")
