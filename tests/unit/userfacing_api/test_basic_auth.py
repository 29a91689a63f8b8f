"""HTTP Basic logins for the TES API: checked like /token, remembered briefly."""

from __future__ import annotations

import pytest

from shared.api.errors import BadRequest, NotFound
from shared.auth.tokens import InvalidToken, Principal
from userfacing_api.services.basic_auth import BasicLoginFailed, BasicLogins


class Accounts:
    def __init__(self) -> None:
        self.calls = 0

    def register(self, username: str, password: str, groups: object) -> tuple[str, list[str]]:
        raise NotImplementedError

    def token(self, username: str, password: str) -> tuple[str, int]:
        self.calls += 1
        if username != "ada":
            raise NotFound("user not found")
        if password != "right-1":
            raise BadRequest("incorrect username or password")
        return f"token-of-{username}", 3600


class Verifier:
    def verify(self, token: str) -> Principal:
        if not token.startswith("token-of-"):
            raise InvalidToken("bad")
        return Principal(username=token.removeprefix("token-of-"), groups=("tes",))


def test_a_login_is_checked_once_then_remembered_for_a_while() -> None:
    now = [0.0]
    accounts = Accounts()
    logins = BasicLogins(accounts, Verifier(), ttl=60, clock=lambda: now[0])
    assert logins.login("ada", "right-1").groups == ("tes",)
    assert logins.login("ada", "right-1").username == "ada"
    assert accounts.calls == 1
    now[0] = 61
    logins.login("ada", "right-1")
    assert accounts.calls == 2


@pytest.mark.parametrize(("user", "password"), [("ada", "wrong"), ("bob", "right-1")])
def test_wrong_credentials_are_refused_and_not_remembered(user: str, password: str) -> None:
    accounts = Accounts()
    logins = BasicLogins(accounts, Verifier())
    for _ in range(2):
        with pytest.raises(BasicLoginFailed, match="incorrect username or password"):
            logins.login(user, password)
    assert accounts.calls == 2


def test_without_password_logins_basic_is_refused() -> None:
    with pytest.raises(BasicLoginFailed, match="AUTH=0"):
        BasicLogins(None, Verifier()).login("ada", "right-1")
