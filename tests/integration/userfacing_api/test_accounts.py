from fastapi.testclient import TestClient

from tests.integration.userfacing_api.conftest import API_KEY, PASSWORD


def test_root_and_access_info_need_no_auth(client: TestClient) -> None:
    assert client.get("/").status_code == 200
    info = client.get("/access_info").json()
    assert set(info["cognito"]) == {"user_pool_id", "client_id", "region"}
    assert info["local"]["token_url"] == "/token"


def test_register_token_and_whoami(client: TestClient) -> None:
    created = client.post("/user", data={"username": "bob@example.org", "password": PASSWORD})
    assert created.status_code == 201
    assert created.json() == {"email": "bob@example.org", "groups": ["users"]}

    token = client.post("/token", data={"username": "bob@example.org", "password": PASSWORD})
    assert token.status_code == 201
    body = token.json()
    assert body["expires_in"] == 3600 and body["id_token"].count(".") == 2

    me = client.get("/user", headers={"Authorization": f"Bearer {body['id_token']}"})
    # labcloud adds the storage figures (the default quota: 100 GiB; nothing stored yet)
    assert me.json() == {
        "email": "bob@example.org",
        "groups": ["users"],
        "storage_used": 0,
        "storage_quota": 100 << 30,
    }
    # registration created the predefined folders
    listing = client.get("/files/", headers={"Authorization": f"Bearer {body['id_token']}"})
    assert [f["path"] for f in listing.json()] == [
        "artifact/",
        "config/",
        "data/",
        "log/",
        "output/",
    ]


def test_register_with_groups(client: TestClient) -> None:
    form = {"username": "w1", "password": PASSWORD}
    groups = [("groups", "workers"), ("groups", "cloud")]
    # a worker account can lease everyone's jobs: it needs the internal key
    assert client.post("/user", data=form, params=groups).status_code == 403
    wrong = client.post("/user", data=form, params=groups, headers={"x-api-key": "x" * 30})
    assert wrong.status_code == 403
    assert client.post("/token", data=form).status_code == 400  # nothing was created
    response = client.post("/user", data=form, params=groups, headers={"x-api-key": API_KEY})
    assert response.status_code == 201
    assert response.json()["groups"] == ["cloud", "workers"]
    bad = client.post(
        "/user", data={"username": "w2", "password": PASSWORD}, params={"groups": "admins"}
    )
    assert bad.status_code == 422


def test_duplicate_user_is_409(client: TestClient) -> None:
    form = {"username": "carol@example.org", "password": PASSWORD}
    assert client.post("/user", data=form).status_code == 201
    again = client.post("/user", data=form)
    assert again.status_code == 409 and "exists" in again.json()["detail"]


def test_weak_password_and_bad_username_are_400(client: TestClient) -> None:
    weak = client.post("/user", data={"username": "dave", "password": "short"})
    assert weak.status_code == 400 and "at least 8" in weak.json()["detail"]
    letters = client.post("/user", data={"username": "dave", "password": "onlyletters"})
    assert letters.status_code == 400
    for name in ("../evil", ".hidden", "a/b", "x" * 200):
        assert (
            client.post("/user", data={"username": name, "password": PASSWORD}).status_code == 400
        )
    assert client.post("/token", data={"username": "dave", "password": PASSWORD}).status_code == 400


def test_wrong_password_and_unknown_user_get_the_same_400(client: TestClient) -> None:
    """labcloud answers an unknown user as a wrong password (DECODE: 404), so that the
    answer does not tell which names exist."""
    client.post("/user", data={"username": "erin", "password": PASSWORD})
    wrong = client.post("/token", data={"username": "erin", "password": "nope-nope-1"})
    unknown = client.post("/token", data={"username": "nobody", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json() == unknown.json() == {"detail": "incorrect username or password"}


def test_login_sets_a_secure_cookie_that_authenticates(client: TestClient) -> None:
    client.post("/user", data={"username": "frank", "password": PASSWORD})
    response = client.post("/login", data={"username": "frank", "password": PASSWORD})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    for part in ("Authorization=", "HttpOnly", "Secure", "SameSite=none", "Max-Age=1800"):
        assert part in cookie
    token = client.cookies.get("Authorization") or cookie.split("Authorization=")[1].split(";")[0]
    client.cookies.clear()
    me = client.get("/user", cookies={"Authorization": token.strip('"')})
    assert me.status_code == 200


def test_missing_bad_or_foreign_tokens_are_401(client: TestClient) -> None:
    assert client.get("/user").status_code == 401
    assert client.get("/user", headers={"Authorization": "Bearer garbage"}).status_code == 401
    assert client.get("/jobs", headers={"Authorization": "Basic abc"}).status_code == 401
    response = client.get("/files/", headers={"Authorization": "Bearer a.b.c"})
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def test_files_and_jobs_need_the_users_group(client: TestClient, login) -> None:  # type: ignore[no-untyped-def]
    worker = login("worker-1", groups=("workers",))
    assert client.get("/user", headers=worker).status_code == 403
    assert client.get("/files/", headers=worker).status_code == 403
    assert client.get("/jobs", headers=worker).status_code == 403


def test_cors_preflight_from_the_frontend(client: TestClient) -> None:
    response = client.options(
        "/jobs",
        headers={
            "Origin": "http://frontend.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://frontend.test"
    assert response.headers["access-control-allow-credentials"] == "true"
    other = client.options(
        "/jobs", headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "GET"}
    )
    assert other.headers.get("access-control-allow-origin") != "http://evil.test"


def test_preferences_opt_out(client: TestClient, alice: dict[str, str]) -> None:
    assert client.get("/user/preferences", headers=alice).json() == {"notify_email": True}
    assert (
        client.put("/user/preferences", headers=alice, json={"notify_email": False}).status_code
        == 200
    )
    assert client.get("/user/preferences", headers=alice).json() == {"notify_email": False}


def test_docs_show_the_protocol(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in (
        "/files/{base_path}",
        "/files/{file_path}/download",
        "/jobs",
        "/jobs/{job_id}",
        "/jobs/applications",
        "/user",
        "/token",
        "/login",
        "/access_info",
        "/_job_status",
        "/files/{f_type}/{base_path}/upload",
    ):
        assert path in schema["paths"], path
    create = schema["components"]["schemas"]["JobCreate"]
    assert create.get("examples"), "JobCreate carries an example for /docs"
    assert client.get("/docs").status_code == 200
