"""Cognito mode against moto's Cognito: the user API accepts the ID tokens of a real
USER_PASSWORD_AUTH login (what DECODE's frontend sends), with groups from the pool."""

from __future__ import annotations

from pathlib import Path

import boto3
from fastapi.testclient import TestClient

from tests.integration.userfacing_api.conftest import make_settings
from userfacing_api.db.session import upgrade
from userfacing_api.main import create_app

REGION = "eu-central-1"


def test_user_api_accepts_cognito_id_tokens(
    moto_endpoint: str, aws_env: None, tmp_path: Path
) -> None:
    idp = boto3.client("cognito-idp", region_name=REGION, endpoint_url=moto_endpoint)
    pool = idp.create_user_pool(PoolName="labcloud")["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="frontend", ExplicitAuthFlows=["USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    for group in ("users", "workers"):
        idp.create_group(GroupName=group, UserPoolId=pool)

    def account(name: str, group: str) -> str:
        idp.admin_create_user(
            UserPoolId=pool,
            Username=name,
            MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "email", "Value": name}],
        )
        idp.admin_set_user_password(
            UserPoolId=pool, Username=name, Password="Secret-pass-1", Permanent=True
        )
        idp.admin_add_user_to_group(UserPoolId=pool, Username=name, GroupName=group)
        auth = idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": name, "PASSWORD": "Secret-pass-1"},
        )
        return auth["AuthenticationResult"]["IdToken"]

    scientist = account("ada@lab.example", "users")
    worker = account("ws-1", "workers")
    db_url = f"sqlite:///{tmp_path / 'u.db'}"
    upgrade(db_url)
    settings = make_settings(
        db_url,
        tmp_path,
        auth=False,
        auth_token_secret=None,
        cognito_region=REGION,
        cognito_user_pool_id=pool,
        cognito_client_id=client_id,
        cognito_jwks_url=f"{moto_endpoint}/{pool}/.well-known/jwks.json",
    )
    with TestClient(create_app(settings, run_background=False)) as http:
        assert http.get("/access_info").json()["cognito"] == {
            "user_pool_id": pool,
            "client_id": client_id,
            "region": REGION,
        }
        me = http.get("/user", headers={"Authorization": f"Bearer {scientist}"})
        assert me.status_code == 200, me.text
        assert me.json() == {
            "email": "ada@lab.example",
            "groups": ["users"],
            "storage_used": 0,
            "storage_quota": me.json()["storage_quota"],
        }
        files = http.get("/files/", headers={"Authorization": f"Bearer {scientist}"})
        assert files.status_code == 200
        # a worker account is not a scientist; a tampered token is nobody
        assert http.get("/files/", headers={"Authorization": f"Bearer {worker}"}).status_code == 403
        forged = scientist[:-4] + ("AAAA" if not scientist.endswith("AAAA") else "BBBB")
        assert http.get("/user", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_accounts_kept_in_cognito_with_auth_on(
    moto_endpoint: str, aws_env: None, tmp_path: Path
) -> None:
    """AUTH=1 with a pool configured: /user and /token go to Cognito, as in DECODE."""
    idp = boto3.client("cognito-idp", region_name=REGION, endpoint_url=moto_endpoint)
    pool = idp.create_user_pool(PoolName="labcloud-auth")["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool,
        ClientName="api",
        ExplicitAuthFlows=["USER_PASSWORD_AUTH"],
        GenerateSecret=True,
    )["UserPoolClient"]
    for group in ("users", "workers", "cloud"):
        idp.create_group(GroupName=group, UserPoolId=pool)
    db_url = f"sqlite:///{tmp_path / 'u.db'}"
    upgrade(db_url)
    settings = make_settings(
        db_url,
        tmp_path,
        auth=True,
        auth_token_secret=None,
        cognito_region=REGION,
        cognito_user_pool_id=pool,
        cognito_client_id=client["ClientId"],
        cognito_secret=client["ClientSecret"],
        cognito_endpoint_url=moto_endpoint,
        cognito_jwks_url=f"{moto_endpoint}/{pool}/.well-known/jwks.json",
    )
    form = {"username": "grace@lab.example", "password": "Secret-pass-1"}
    with TestClient(create_app(settings, run_background=False)) as http:
        weak = http.post("/user", data={**form, "password": "password"})
        assert weak.status_code == 400 and "password" in weak.json()["detail"]
        # the refused attempt left nothing behind: the same name registers cleanly
        created = http.post("/user", data=form)
        assert created.status_code == 201, created.text
        assert created.json() == {"email": "grace@lab.example", "groups": ["users"]}
        assert http.post("/user", data=form).status_code == 409
        token = http.post("/token", data=form)
        assert token.status_code == 201, token.text
        headers = {"Authorization": f"Bearer {token.json()['id_token']}"}
        assert http.get("/user", headers=headers).json()["groups"] == ["users"]
        assert http.get("/files/", headers=headers).status_code == 200  # folders were made
        wrong = http.post("/token", data={**form, "password": "Wrong-pass-1"})
        assert wrong.status_code == 400
        nobody = http.post("/token", data={"username": "nobody", "password": "Secret-pass-1"})
        assert nobody.status_code == 400 and nobody.json() == wrong.json()  # as a wrong one
    members = idp.list_users_in_group(UserPoolId=pool, GroupName="users")["Users"]
    assert [u["Username"] for u in members] == ["grace@lab.example"]
