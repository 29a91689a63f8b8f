"""HTTP Basic logins for the TES API: checked like /token, remembered briefly."""

from __future__ import annotations

import asyncio

import pytest

from shared.api.errors import BadRequest
from shared.auth.tokens import InvalidToken, Principal
from userfacing_api.services.basic_auth import BasicLoginFailed, BasicLogins


class SignIns:
    def __init__(self) -> None:
        self.calls = 0

    async def token(self, username: str, password: str, address: str) -> tuple[str, int]:
        self.calls += 1
        assert address == "192.0.2.7"
        if username != "ada" or password != "right-1":
            raise BadRequest("incorrect username or password")
        return f"token-of-{username}", 3600


class Verifier:
    does_io = False

    def verify(self, token: str) -> Principal:
        if not token.startswith("token-of-"):
            raise InvalidToken("bad")
        return Principal(username=token.removeprefix("token-of-"), groups=("tes",))


def login(logins: BasicLogins, user: str, password: str) -> Principal:
    return asyncio.run(logins.login(user, password, "192.0.2.7"))


def test_a_login_is_checked_once_then_remembered_for_a_while() -> None:
    now = [0.0]
    accounts = SignIns()
    logins = BasicLogins(accounts, Verifier(), ttl=60, clock=lambda: now[0])
    assert login(logins, "ada", "right-1").groups == ("tes",)
    assert login(logins, "ada", "right-1").username == "ada"
    assert accounts.calls == 1
    now[0] = 61
    login(logins, "ada", "right-1")
    assert accounts.calls == 2


@pytest.mark.parametrize(("user", "password"), [("ada", "wrong"), ("bob", "right-1")])
def test_wrong_credentials_are_refused_and_not_remembered(user: str, password: str) -> None:
    accounts = SignIns()
    logins = BasicLogins(accounts, Verifier())
    for _ in range(2):
        with pytest.raises(BasicLoginFailed, match="incorrect username or password"):
            login(logins, user, password)
    assert accounts.calls == 2


def test_without_password_logins_basic_is_refused() -> None:
    with pytest.raises(BasicLoginFailed, match="AUTH=0"):
        login(BasicLogins(None, Verifier()), "ada", "right-1")
