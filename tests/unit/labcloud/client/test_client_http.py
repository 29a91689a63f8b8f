"""The SDK's HTTP core: no request with an expired session, re-login on 401, retries."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from labcloud.client import AuthError, Client, ConnectionFailed, NotFoundError
from labcloud.client.config import CredentialStore, Session


def make(tmp_path: Path, handler, token: str | None = None) -> Client:  # type: ignore[no-untyped-def]
    store = CredentialStore(tmp_path / "c.json")
    return Client("http://api.test", token, store=store, transport=httpx.MockTransport(handler))


def test_an_expired_session_is_refused_before_sending(tmp_path: Path) -> None:
    sent: list[httpx.Request] = []
    store = CredentialStore(tmp_path / "c.json")
    store.save(Session("http://api.test", "old", username="ada", expires_at=time.time() - 5))
    lc = Client(
        "http://api.test",
        store=store,
        transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200, json=[])),
    )
    with pytest.raises(AuthError, match="expired .*labcloud login"):
        lc.jobs.list()
    assert sent == []


def test_not_logged_in(tmp_path: Path) -> None:
    lc = make(tmp_path, lambda r: httpx.Response(200, json=[]))
    with pytest.raises(AuthError, match="not logged in"):
        lc.files.list()


def test_login_then_relogin_on_401(tmp_path: Path) -> None:
    tokens = iter(["t1", "t2"])
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/access_info":
            return httpx.Response(200, json={"cognito": {}, "local": {"token_url": "/token"}})
        if request.url.path == "/token":
            return httpx.Response(201, json={"id_token": next(tokens), "expires_in": 3600})
        seen.append(request.headers.get("authorization"))
        if request.headers["authorization"] == "Bearer t1":
            return httpx.Response(401, json={"detail": "invalid token: expired"})
        return httpx.Response(200, json={"email": "ada@x.org", "groups": ["users"]})

    lc = make(tmp_path, handler)
    session = lc.login("ada@x.org", "pw")
    assert session.token == "t1" and session.expires_at and session.expires_at > time.time()
    assert lc.whoami()["email"] == "ada@x.org"
    assert seen == ["Bearer t1", "Bearer t2"]


def test_wrong_password_says_so(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/access_info":
            return httpx.Response(200, json={"cognito": {}, "local": {}})
        return httpx.Response(400, json={"detail": "incorrect username or password"})

    lc = make(tmp_path, handler)
    with pytest.raises(AuthError, match="incorrect username or password"):
        lc.login("ada@x.org", "wrong", method="local")


def test_gets_are_retried_on_503_and_broken_connections(tmp_path: Path) -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("refused", request=request)
        if calls["n"] == 2:
            return httpx.Response(503, text="busy")
        return httpx.Response(404, json={"detail": "job not found"})

    lc = make(tmp_path, handler, token="tok")
    with pytest.raises(NotFoundError, match="GET /jobs/7: 404 Not Found: job not found"):
        lc.jobs.get(7)
    assert calls["n"] == 3


def test_an_unreachable_server(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    lc = make(tmp_path, handler, token="tok")
    with pytest.raises(ConnectionFailed, match="cannot reach http://api.test"):
        lc.jobs.submit("demo", "v1", "run")
