"""Accounts kept in a Cognito pool (moto's cognito-idp), over real HTTP: closing and
disabling reach the pool (AUTH=1), and a token of a closed, disabled or re-created
account is refused, whether labcloud manages the pool (AUTH=1) or not (AUTH=0)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tests.integration.userfacing_api.conftest import API_KEY, make_settings
from tests.support.http_server import serve_in_thread
from userfacing_api.db.session import upgrade
from userfacing_api.main import create_app

REGION = "eu-central-1"
PASSWORD = "Secret-pass-1"
FOLDERS = ["artifact/", "config/", "data/", "log/", "output/"]


@dataclass
class Pool:
    idp: Any
    id: str
    client_id: str
    endpoint: str

    def settings(self, tmp: Path, auth: bool) -> dict[str, object]:
        db_url = f"sqlite:///{tmp / 'u.db'}"
        upgrade(db_url)
        return dict(
            db_url=db_url,
            tmp_path=tmp,
            auth=auth,
            auth_token_secret=None,
            cognito_region=REGION,
            cognito_user_pool_id=self.id,
            cognito_client_id=self.client_id,
            cognito_endpoint_url=self.endpoint,
            cognito_jwks_url=f"{self.endpoint}/{self.id}/.well-known/jwks.json",
        )

    def create_user(self, name: str) -> None:
        """A pool user made outside labcloud (as an AUTH=0 deployment's are)."""
        self.idp.admin_create_user(
            UserPoolId=self.id,
            Username=name,
            MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "email", "Value": name}],
        )
        self.idp.admin_set_user_password(
            UserPoolId=self.id, Username=name, Password=PASSWORD, Permanent=True
        )
        self.idp.admin_add_user_to_group(UserPoolId=self.id, Username=name, GroupName="users")

    def id_token(self, name: str) -> dict[str, str]:
        auth = self.idp.initiate_auth(
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD},
        )
        return {"Authorization": f"Bearer {auth['AuthenticationResult']['IdToken']}"}

    def user(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.idp.admin_get_user(UserPoolId=self.id, Username=name))
        except self.idp.exceptions.UserNotFoundException:
            return None


@pytest.fixture
def pool(moto_endpoint: str, aws_env: None, request: pytest.FixtureRequest) -> Pool:
    idp = boto3.client("cognito-idp", region_name=REGION, endpoint_url=moto_endpoint)
    pool_id = idp.create_user_pool(PoolName=f"labcloud-{request.node.name[:40]}")["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="api", ExplicitAuthFlows=["USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    for group in ("users", "workers"):
        idp.create_group(GroupName=group, UserPoolId=pool_id)
    return Pool(idp, pool_id, client_id, moto_endpoint)


@contextlib.contextmanager
def user_api(pool: Pool, tmp: Path, *, auth: bool) -> Iterator[str]:
    values = pool.settings(tmp, auth)
    settings = make_settings(values.pop("db_url"), values.pop("tmp_path"), **values)
    app = create_app(settings, run_background=False)
    try:
        with serve_in_thread(app) as base:
            yield base
    finally:
        app.state.ctx.engine.dispose()


def whoami(base: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{base}/user", headers=headers)


def test_closing_and_disabling_reach_the_pool_that_labcloud_manages(
    pool: Pool, tmp_path: Path
) -> None:
    form = {"username": "grace@lab.example", "password": PASSWORD}
    with user_api(pool, tmp_path, auth=True) as base:
        assert httpx.post(f"{base}/user", data=form).status_code == 201
        old = pool.id_token(form["username"])
        upload = httpx.post(
            f"{base}/files/data/upload", headers=old, files={"file": ("a.txt", io.BytesIO(b"1"))}
        )
        assert upload.status_code == 201
        assert httpx.delete(f"{base}/user", headers=old).status_code == 204
        assert pool.user(form["username"]) is None  # deleted in the pool too
        assert whoami(base, old).status_code == 401
        assert not (tmp_path / "files" / form["username"]).exists()

        # registered again: a new pool user (a new `sub`), which inherits nothing
        assert httpx.post(f"{base}/user", data=form).status_code == 201
        token = httpx.post(f"{base}/token", data=form)
        assert token.status_code == 201
        new = {"Authorization": f"Bearer {token.json()['id_token']}"}
        assert whoami(base, new).status_code == 200
        listing = httpx.get(f"{base}/files/", params={"recursive": True}, headers=new)
        assert [f["path"] for f in listing.json()] == FOLDERS
        assert whoami(base, old).status_code == 401

        # disabled by an administrator: in the pool too, and the tokens are refused
        key = {"x-api-key": API_KEY}
        disabled = httpx.post(f"{base}/admin/users/{form['username']}/disable", headers=key)
        assert disabled.status_code == 200
        assert pool.user(form["username"])["Enabled"] is False  # type: ignore[index]
        assert whoami(base, new).status_code == 401
        assert httpx.post(f"{base}/token", data=form).status_code == 400
        enabled = httpx.post(f"{base}/admin/users/{form['username']}/enable", headers=key)
        assert enabled.status_code == 200
        assert pool.user(form["username"])["Enabled"] is True  # type: ignore[index]
        again = httpx.post(f"{base}/token", data=form)
        assert again.status_code == 201, again.text
        assert (
            whoami(base, {"Authorization": f"Bearer {again.json()['id_token']}"}).status_code == 200
        )


def test_tokens_of_a_pool_that_labcloud_does_not_manage(pool: Pool, tmp_path: Path) -> None:
    """AUTH=0: the pool's users sign in with Cognito; labcloud learns each account's `sub`
    on its first call."""
    name = "hedy@lab.example"
    pool.create_user(name)
    with user_api(pool, tmp_path, auth=False) as base:
        first = pool.id_token(name)
        assert whoami(base, first).status_code == 200
        # closed in labcloud: the pool user's tokens are refused, fresh ones too
        assert httpx.delete(f"{base}/user", headers=first).status_code == 204
        assert whoami(base, first).status_code == 401
        refused = whoami(base, pool.id_token(name))
        assert refused.status_code == 401 and "closed" in refused.json()["detail"]

        # the pool's administrator makes the user again (a new `sub`): a new account
        pool.idp.admin_delete_user(UserPoolId=pool.id, Username=name)
        pool.create_user(name)
        newcomer = pool.id_token(name)
        assert whoami(base, newcomer).status_code == 200
        listing = httpx.get(f"{base}/files/", params={"recursive": True}, headers=newcomer)
        assert [f["path"] for f in listing.json()] == FOLDERS

        # made again while labcloud's account still stands: not that account
        pool.idp.admin_delete_user(UserPoolId=pool.id, Username=name)
        pool.create_user(name)
        stranger = whoami(base, pool.id_token(name))
        assert stranger.status_code == 401 and "earlier account" in stranger.json()["detail"]
        assert whoami(base, newcomer).status_code == 200
