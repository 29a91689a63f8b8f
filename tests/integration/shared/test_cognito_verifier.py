"""Cognito-style RS256 ID tokens checked against a JWKS served over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from shared.auth.cognito import CognitoVerifier, cognito_issuer
from shared.auth.tokens import InvalidToken
from tests.support.http_server import serve_in_thread

REGION, POOL, CLIENT = "eu-central-1", "eu-central-1_Test", "client-123"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    app = FastAPI()
    app.get("/jwks.json")(lambda: {"keys": [jwk]})
    with serve_in_thread(app) as url:
        yield url + "/jwks.json"


def id_token(key=KEY, **changes) -> str:  # type: ignore[no-untyped-def]
    now = int(time.time())
    claims = {
        "sub": "uuid-1",
        "cognito:username": "ada",
        "email": "ada@lab.example",
        "cognito:groups": ["users"],
        "iss": cognito_issuer(REGION, POOL),
        "aud": CLIENT,
        "token_use": "id",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def test_valid_id_token(jwks_url: str) -> None:
    principal = CognitoVerifier(REGION, POOL, CLIENT, jwks_url).verify(id_token())
    assert principal.username == "ada" and principal.groups == ("users",)
    assert principal.email == "ada@lab.example"


@pytest.mark.parametrize(
    "token_changes",
    [
        {"aud": "other-client"},
        {"iss": cognito_issuer(REGION, "eu-central-1_Other")},
        {"exp": int(time.time()) - 60},
        {"token_use": "access"},
    ],
)
def test_wrong_claims_are_refused(jwks_url: str, token_changes: dict) -> None:
    with pytest.raises(InvalidToken):
        CognitoVerifier(REGION, POOL, CLIENT, jwks_url).verify(id_token(**token_changes))


def test_token_signed_by_another_key_is_refused(jwks_url: str) -> None:
    with pytest.raises(InvalidToken):
        CognitoVerifier(REGION, POOL, CLIENT, jwks_url).verify(id_token(key=OTHER_KEY))


def test_user_api_in_cognito_mode(jwks_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from tests.integration.userfacing_api.conftest import make_settings
    from userfacing_api.db.session import upgrade
    from userfacing_api.main import create_app

    db_url = f"sqlite:///{tmp_path / 'u.db'}"
    upgrade(db_url)
    settings = make_settings(
        db_url,
        tmp_path,
        auth=False,
        auth_token_secret=None,
        cognito_region=REGION,
        cognito_user_pool_id=POOL,
        cognito_client_id=CLIENT,
        cognito_jwks_url=jwks_url,
    )
    with TestClient(create_app(settings, run_background=False)) as client:
        info = client.get("/access_info").json()
        assert info == {"cognito": {"user_pool_id": POOL, "client_id": CLIENT, "region": REGION}}
        assert client.post("/token", data={"username": "a", "password": "b"}).status_code in (
            404,
            405,
        )  # no local accounts in Cognito mode
        headers = {"Authorization": f"Bearer {id_token()}"}
        me = client.get("/user", headers=headers).json()
        assert me == {
            "email": "ada@lab.example",
            "groups": ["users"],
            "storage_used": 0,
            "storage_quota": me["storage_quota"],
        }
        assert me["storage_quota"] > 0
        assert client.get("/files/", headers=headers).status_code == 200
