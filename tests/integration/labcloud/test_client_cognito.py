"""The SDK logs in straight to Cognito (moto's) when the server publishes only a
Cognito pool, as DECODE's frontend does; a wrong password is an AuthError."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from labcloud.client import AuthError, Client
from labcloud.client.auth import token_expiry
from labcloud.client.config import CredentialStore
from tests.support.http_server import serve_in_thread

REGION = "eu-central-1"
PASSWORD = "Secret-pass-1"


def test_direct_cognito_login(
    moto_endpoint: str, aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idp = boto3.client("cognito-idp", region_name=REGION, endpoint_url=moto_endpoint)
    pool = idp.create_user_pool(PoolName="sdk")["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="frontend", ExplicitAuthFlows=["USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    idp.admin_create_user(
        UserPoolId=pool,
        Username="ada@lab.example",
        MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": "ada@lab.example"}],
    )
    idp.admin_set_user_password(
        UserPoolId=pool, Username="ada@lab.example", Password=PASSWORD, Permanent=True
    )
    seen: list[str | None] = []

    async def access_info(_request: Request) -> JSONResponse:
        return JSONResponse(
            {"cognito": {"user_pool_id": pool, "client_id": client_id, "region": REGION}}
        )

    async def user(request: Request) -> JSONResponse:
        seen.append(request.headers.get("authorization"))
        return JSONResponse({"email": "ada@lab.example", "groups": ["users"]})

    app = Starlette(routes=[Route("/access_info", access_info), Route("/user", user)])
    monkeypatch.setenv("LABCLOUD_COGNITO_ENDPOINT_URL", moto_endpoint)
    store = CredentialStore(tmp_path / "credentials.json")
    with serve_in_thread(app) as url:
        lc = Client(url, store=store)
        session = lc.login("ada@lab.example", PASSWORD, save=True)
        assert session.method == "cognito"
        assert token_expiry(session.token) is not None
        assert lc.whoami()["email"] == "ada@lab.example"
        assert seen == [f"Bearer {session.token}"]
        assert store.get(url) is not None  # a later Client (or the CLI) reuses it
        with pytest.raises(AuthError, match="Cognito refused the login"):
            Client(url, store=store).login("ada@lab.example", "wrong-pass-1")
