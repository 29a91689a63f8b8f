"""Accounts and sign-in, over real HTTP against both APIs on SQLite and PostgreSQL: closing
one's account (files, jobs and tokens go at once; the name registered again inherits
nothing), administrators' disable / enable / delete (the API and `labcloud admin users`),
tokens of closed, disabled or re-created accounts refused by both APIs, the same answer
for unknown users and wrong passwords, and writes by the login cookie only from allowed
origins. Sign-in throttling (test_signin_throttling.py) and Cognito pools
(test_accounts_cognito.py) have modules of their own."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from labcloud.cli import app as labcloud_cli
from tests.integration.userfacing_api.conftest import API_KEY, PASSWORD
from tests.support.live_apis import TwoAPIs, eventually, two_apis

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
FOLDERS = ["artifact/", "config/", "data/", "log/", "output/"]


@pytest.fixture(scope="module", params=KINDS)
def apis(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TwoAPIs]:
    # Every test here signs in from 127.0.0.1: throttling has its own module.
    with two_apis(request.param, tmp_path_factory.mktemp("apis"), signin_max_failures=10_000) as a:
        yield a


def upload(apis: TwoAPIs, headers: dict[str, str], folder: str, name: str) -> None:
    answer = apis.user_api(
        "POST", f"/files/{folder}/upload", headers=headers, files={"file": (name, io.BytesIO(b"1"))}
    )
    assert answer.status_code == 201, answer.text


def demo_job(name: str) -> dict[str, Any]:
    return {
        "job_name": name,
        "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
        "attributes": {
            "files_down": {"config_id": "demo/params.yaml", "data_ids": ["exp1/"]},
            "env_vars": {},
        },
    }


def poll_jobs(apis: TwoAPIs, headers: dict[str, str]) -> httpx.Response:
    """A worker's lease request (the process runner's jobs, as the demo needs)."""
    return apis.worker_api(
        "GET", "/jobs", params={"memory": 10**6, "runners": "process"}, headers=headers
    )


def whoami(apis: TwoAPIs, headers: dict[str, str]) -> int:
    return apis.user_api("GET", "/user", headers=headers).status_code


def test_closing_ones_account_takes_its_files_jobs_and_tokens_at_once(apis: TwoAPIs) -> None:
    name = "ada@lab.example"
    assert apis.register(name).status_code == 201
    ada = apis.bearer(name)
    upload(apis, ada, "config/demo", "params.yaml")
    upload(apis, ada, "data/exp1", "a.csv")
    submitted = apis.user_api("POST", "/jobs", headers=ada, json=demo_job("run-1"))
    assert submitted.status_code == 201, submitted.text
    job_id = submitted.json()["id"]
    # a worker leases the job and runs it
    assert apis.register("ws-runs", groups=("workers",)).status_code == 201
    worker = apis.bearer("ws-runs")
    leased: dict[str, Any] = {}
    eventually(lambda: bool(leased.update(poll_jobs(apis, worker).json()) or leased), "a lease")
    assert [spec["meta"]["job_id"] for spec in leased.values()] == [job_id]

    def heartbeat() -> int:
        path = f"/jobs/{job_id}/status"
        return apis.worker_api(
            "PUT", path, params={"status": "running"}, headers=worker
        ).status_code

    assert heartbeat() == 204

    assert apis.user_api("DELETE", "/user", headers=ada).status_code == 204
    refused = apis.user_api("GET", "/user", headers=ada)
    assert refused.status_code == 401 and "closed" in refused.json()["detail"]
    assert not (apis.files / name).exists()
    # the running job was cancelled at the worker API: its worker is told to stop
    eventually(lambda: heartbeat() == 404, "the worker API cancels the closed account's job")

    # the name registered again is a new account, which inherits nothing
    assert apis.register(name).status_code == 201
    again = apis.bearer(name)
    assert apis.user_api("GET", "/jobs", headers=again).json() == []
    assert apis.user_api("GET", f"/jobs/{job_id}", headers=again).status_code == 404
    listing = apis.user_api("GET", "/files/", params={"recursive": True}, headers=again)
    assert [f["path"] for f in listing.json()] == FOLDERS
    assert whoami(apis, again) == 200
    assert whoami(apis, ada) == 401  # the closed account's token stays dead


def test_the_worker_api_refuses_tokens_of_closed_and_recreated_accounts(apis: TwoAPIs) -> None:
    assert apis.register("ws-closes", groups=("workers",)).status_code == 201
    old = apis.bearer("ws-closes")
    assert poll_jobs(apis, old).status_code == 200
    assert apis.user_api("DELETE", "/user", headers=old).status_code == 204
    eventually(lambda: poll_jobs(apis, old).status_code == 401, "the worker API hears of it")
    assert "closed" in poll_jobs(apis, old).json()["detail"]
    # a new account of the name works in both APIs; the old one's token never again
    assert apis.register("ws-closes", groups=("workers",)).status_code == 201
    new = apis.bearer("ws-closes")
    assert poll_jobs(apis, new).status_code == 200
    assert poll_jobs(apis, old).status_code == 401
    eventually(
        lambda: "earlier account" in poll_jobs(apis, old).json()["detail"],
        "the worker API hears of the new account",
    )
    assert poll_jobs(apis, new).status_code == 200


def test_administrators_disable_enable_and_delete_accounts(apis: TwoAPIs) -> None:
    assert apis.register("root-admin", groups=("users", "admin")).status_code == 201
    admin = apis.bearer("root-admin")
    assert apis.register("bob").status_code == 201
    bob = apis.bearer("bob")
    assert apis.register("ws-admin", groups=("workers",)).status_code == 201
    worker = apis.bearer("ws-admin")

    def admin_api(method: str, path: str, **kwargs: Any) -> httpx.Response:
        return apis.user_api(method, f"/admin/users{path}", headers=admin, **kwargs)

    assert apis.user_api("GET", "/admin/users", headers=bob).status_code == 403
    listed = {a["username"]: a for a in admin_api("GET", "").json()}
    assert listed["bob"]["standing"] == "active" and listed["bob"]["groups"] == ["users"]
    assert listed["ws-admin"]["groups"] == ["workers"]

    # disabled: no sign-in, and its tokens are refused at once
    for name in ("bob", "ws-admin"):
        answer = admin_api("POST", f"/{name}/disable")
        assert answer.status_code == 200 and answer.json()["standing"] == "disabled"
    refused = apis.user_api("GET", "/user", headers=bob)
    assert refused.status_code == 401 and "disabled" in refused.json()["detail"]
    assert apis.sign_in("bob").status_code == 403
    eventually(lambda: poll_jobs(apis, worker).status_code == 401, "the worker API hears of it")

    # enabled again: it signs in; the tokens from before stay refused
    assert admin_api("POST", "/bob/enable").json()["standing"] == "active"
    fresh = apis.bearer("bob")
    assert whoami(apis, fresh) == 200 and whoami(apis, bob) == 401
    upload(apis, fresh, "data", "notes.txt")

    # deleted: files, jobs and tokens go; it is listed as closed
    assert admin_api("DELETE", "/bob").status_code == 204
    assert whoami(apis, fresh) == 401
    assert not (apis.files / "bob").exists()
    assert admin_api("GET", "/bob").json()["standing"] == "closed"
    assert "bob" not in [a["username"] for a in admin_api("GET", "").json()]
    closed = admin_api("GET", "", params={"standing": "closed"}).json()
    assert "bob" in [a["username"] for a in closed]
    assert apis.sign_in("bob").status_code == 400
    assert admin_api("DELETE", "/bob").status_code == 204  # idempotent

    for method, path in (("POST", "/nobody/disable"), ("DELETE", "/nobody"), ("GET", "/nobody")):
        missing = admin_api(method, path)
        assert missing.status_code == 404 and "nobody" in missing.json()["detail"]
    # the operator's internal key, as `labcloud admin users` sends it
    key = apis.user_api("GET", "/admin/users", headers={"x-api-key": API_KEY})
    assert key.status_code == 200
    wrong = apis.user_api("GET", "/admin/users", headers={"x-api-key": "w" * 30})
    assert wrong.status_code == 401


def test_labcloud_admin_users_commands(apis: TwoAPIs) -> None:
    runner = CliRunner()

    def admin(*args: str, key: str = API_KEY) -> tuple[int, str]:
        result = runner.invoke(
            labcloud_cli,
            ["admin", "users", *args, "--url", apis.user_url, "--api-key", key],
            env={"INTERNAL_API_KEY_SECRET": ""},
        )
        return result.exit_code, result.output

    assert apis.register("carl").status_code == 201
    carl = apis.bearer("carl")
    code, out = admin("list", "--json")
    assert code == 0
    assert {"username": "carl", "standing": "active"}.items() <= next(
        a for a in json.loads(out) if a["username"] == "carl"
    ).items()

    code, out = admin("disable", "carl")
    assert (code, out.strip()) == (0, "carl: disabled")
    assert whoami(apis, carl) == 401
    code, out = admin("enable", "carl", "--json")
    assert code == 0 and json.loads(out)[0] == {
        "username": "carl",
        "http_status": 200,
        "done": True,
    }
    carl = apis.bearer("carl")
    assert whoami(apis, carl) == 200

    code, out = admin("disable", "carl", "nobody-here")
    assert code == 1 and "carl: disabled" in out and "nobody-here: not disabled" in out
    code, out = admin("delete", "carl", "--yes")
    assert (code, out.strip()) == (0, "carl: deleted")
    assert whoami(apis, carl) == 401
    code, out = admin("list", "--standing", "closed", "--json")
    assert "carl" in [a["username"] for a in json.loads(out)]

    assert admin("list", key="wrong-key-0123456789")[0] == 3
    assert admin("list", key="")[0] == 2


def test_unknown_users_get_the_answer_of_a_wrong_password(apis: TwoAPIs) -> None:
    assert apis.register("gus", groups=("users", "tes")).status_code == 201
    for path in ("/token", "/login"):
        answers = [
            apis.user_api("POST", path, data={"username": user, "password": "Wrong-pass-1"})
            for user in ("gus", "nobody-at-all")
        ]
        assert [a.status_code for a in answers] == [400, 400]
        assert (
            answers[0].json() == answers[1].json() == {"detail": "incorrect username or password"}
        )
    basics = [
        apis.user_api("GET", "/ga4gh/tes/v1/tasks", auth=(user, "Wrong-pass-1"))
        for user in ("gus", "nobody-at-all")
    ]
    assert [a.status_code for a in basics] == [401, 401]
    assert basics[0].json() == basics[1].json()
    assert apis.user_api("GET", "/ga4gh/tes/v1/tasks", auth=("gus", PASSWORD)).status_code == 200


def test_writes_by_the_login_cookie_must_come_from_an_allowed_origin(apis: TwoAPIs) -> None:
    assert apis.register("hal").status_code == 201
    login = apis.user_api("POST", "/login", data={"username": "hal", "password": PASSWORD})
    assert login.status_code == 200
    cookie = login.headers["set-cookie"].split(";")[0]  # Authorization="Bearer …"

    def with_cookie(method: str, path: str, **headers: str) -> httpx.Response:
        return apis.user_api(method, path, headers={"Cookie": cookie, **headers})

    def mkdir(name: str, **headers: str) -> httpx.Response:
        return with_cookie("POST", f"/files/data/{name}/", **headers)

    evil = mkdir("from-evil", Origin="http://evil.test")
    assert evil.status_code == 403 and "login cookie" in evil.json()["detail"]
    assert mkdir("from-nowhere").status_code == 403
    assert mkdir("evil-referer", Referer="http://evil.test/page").status_code == 403
    assert not (apis.files / "hal" / "data" / "from-evil").exists()
    assert mkdir("from-frontend", Origin="http://frontend.test").status_code == 201
    assert mkdir("by-referer", Referer="http://frontend.test/app/page?x=1").status_code == 201
    assert mkdir("same-site", Origin=apis.user_url).status_code == 201
    assert sorted(p.name for p in (apis.files / "hal" / "data").iterdir()) == [
        "by-referer",
        "from-frontend",
        "same-site",
    ]
    # reading is not a write; a cross-site page cannot close the account either
    assert with_cookie("GET", "/files/data/", Origin="http://evil.test").status_code == 200
    assert with_cookie("DELETE", "/user", Origin="http://evil.test").status_code == 403
    assert with_cookie("GET", "/user").status_code == 200
    # a bearer header is not a cookie: DECODE's frontend sends it from its own origin
    bearer = apis.bearer("hal")
    made = apis.user_api(
        "POST", "/files/data/by-bearer/", headers={**bearer, "Origin": "http://elsewhere.test"}
    )
    assert made.status_code == 201


def test_closing_an_account_leaves_the_others_alone(apis: TwoAPIs) -> None:
    """Closing one account leaves every other account's files alone."""
    for name in ("ivy", "ivy2"):
        assert apis.register(name).status_code == 201
    ivy, ivy2 = apis.bearer("ivy"), apis.bearer("ivy2")
    upload(apis, ivy2, "data", "keep.txt")
    assert apis.user_api("DELETE", "/user", headers=ivy).status_code == 204
    assert (apis.files / "ivy2" / "data" / "keep.txt").exists()
    assert whoami(apis, ivy2) == 200


def test_a_remembered_basic_login_follows_its_account(apis: TwoAPIs) -> None:
    """TES clients poll with Basic credentials, which are remembered a while: closing,
    disabling or re-creating the account still counts at once."""
    tes = "/ga4gh/tes/v1/tasks"
    assert apis.register("ines", groups=("users", "tes")).status_code == 201
    assert apis.user_api("GET", tes, auth=("ines", PASSWORD)).status_code == 200
    assert apis.user_api("DELETE", "/user", headers=apis.bearer("ines")).status_code == 204
    closed = apis.user_api("GET", tes, auth=("ines", PASSWORD))
    assert closed.status_code == 401
    # the same name and password again: a new account, whose login is checked afresh
    assert apis.register("ines", groups=("users", "tes")).status_code == 201
    assert apis.user_api("GET", tes, auth=("ines", PASSWORD)).status_code == 200
    key = {"x-api-key": API_KEY}
    assert apis.user_api("POST", "/admin/users/ines/disable", headers=key).status_code == 200
    disabled = apis.user_api("GET", tes, auth=("ines", PASSWORD))
    assert disabled.status_code == 401 and "disabled" in disabled.json()["detail"]
