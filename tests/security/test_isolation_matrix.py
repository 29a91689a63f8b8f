"""The isolation matrix: every operation of both APIs × every kind of caller.

The operations are read from both APIs' OpenAPI specs (`app.openapi()`), and each must
be classified in `RULES` below, so a new route cannot escape the matrix: the test fails
until someone says whose it is.

- `owned`: the operation reaches something that belongs to someone (a job, a file, a
  TES task, a worker's lease, an account, the internal endpoints of the key holder).
  Its owner's request must succeed (so the test can fail); the very same request by
  every other principal (another user, a TES user of another account, an
  administrator where it is not theirs, a worker not holding the job, another process
  of the holder's account, the internal key where it is not the caller meant, no
  credentials at all) must be denied with 401, 403 or 404, must not carry the owner's
  data, and must change nothing in either database or in the storage.
- `scoped`: the path names a place in the caller's own folder (uploads, new folders):
  another user's same request acts in their own folder, so it cannot be "denied";
  what is checked is that the owner's folder is unchanged by it, and the owner's
  path reached by `..` is denied.
- `self`: the operation acts on the caller (its account, its lists, what it submits):
  without credentials it is denied; with another principal's its answer must not carry
  the owner's data.
- `public`: no one owns it (health, service info, sign-in with a password in the body).

Both APIs are served over HTTP with seeded data (`tests.support.api_stack`), on SQLite
and on PostgreSQL. The counts are printed: "isolation matrix on <db>: N attempts by
other principals, all denied; ...".
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.integration.workerfacing_api.conftest import job_payload
from tests.support.api_stack import (
    OFFER,
    PASSWORD,
    TES_USER,
    USER,
    Stack,
    _register,
    _upload,
    running_stack,
)
from userfacing_api.main import create_app as create_user_app
from workerfacing_api.main import create_app as create_worker_app

DENIED = {401, 403, 404}
#: Seeded bytes of alice's that no other principal may ever see in an answer.
SECRETS = (b"\x00frames", b"greeting: hi", b"weights", b"seeded-running", b"seeded-finished")
TES_SECRET = b"seeded-task"

USER_PERSONAS = ("user", "bob", "tes", "tes-basic", "admin", "worker", "worker-b", "key", "anon")
WORKER_PERSONAS = (
    "worker",
    "worker-other-process",
    "worker-b",
    "key",
    "user",
    "bob",
    "tes",
    "admin",
    "anon",
)


@dataclass
class Call:
    method: str
    url: str
    params: dict[str, Any] | list[tuple[str, Any]] | None = None
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Rule:
    kind: str  # owned | scoped | self | public
    owner: str = ""  # the persona whose request must succeed
    call: Callable[[Stack], Call] | None = None
    also_allowed: tuple[str, ...] = ()  # principals that share the owner's right
    foreign: tuple[tuple[str, Callable[[Stack], Call]], ...] = ()  # extra denied tries
    secret: bytes = b""  # for `self`: what no one else's answer may contain
    order: int = 0  # destructive owners' requests last
    prepare: Callable[[Stack], None] | None = None  # run before the owner's request


def _c(method: str, url: str, **kw: Any) -> Callable[[Stack], Call]:
    """A call whose url may name {job}, {done}, {task} (formatted with the stack)."""

    def build(s: Stack) -> Call:
        fmt = url.format(job=s.job_id, done=s.finished_job_id, task=s.task_id)
        return Call(method, fmt, **kw)

    return build


INPUT_URI = f"local://{USER}/config/demo/params.yaml"
ATTEMPT = {"X-Labcloud-Attempt": "1"}


def _new_job(s: Stack) -> Call:
    return Call("POST", "/_jobs", json=job_payload(900))


def _failed_job(s: Stack) -> None:
    """Job 901 of the worker API, leased by worker-b and ended in error: requeueable."""
    with s.worker_client("key") as key:
        assert key.post("/_jobs", json=job_payload(901, runner="process")).status_code in {200, 201}
    with s.worker_client("worker-b") as worker:
        leased = worker.get("/jobs", params={**OFFER, "limit": 10})
        assert leased.status_code == 200, leased.text
        attempt = leased.json()["901"]["meta"]["extra"]["attempt"]
        answer = worker.put(
            "/jobs/901/status",
            params={"status": "error"},
            headers={"X-Labcloud-Attempt": str(attempt)},
        )
        assert answer.status_code == 204, answer.text


USER_RULES: dict[str, Rule] = {
    "GET /": Rule("public"),
    "GET /healthz": Rule("public"),
    "GET /readyz": Rule("public"),
    "GET /access_info": Rule("public"),
    "POST /token": Rule("public"),
    "POST /login": Rule("public"),
    "GET /jobs/applications": Rule("public"),
    "GET /ga4gh/tes/v1/service-info": Rule("public"),
    # the caller's own
    "GET /user": Rule("self", "user", _c("GET", "/user"), secret=USER.encode()),
    "DELETE /user": Rule("self", "user", _c("DELETE", "/user")),
    "GET /user/preferences": Rule("self", "user", _c("GET", "/user/preferences")),
    "PUT /user/preferences": Rule("self", "user", _c("PUT", "/user/preferences", json={})),
    "GET /jobs": Rule("self", "user", _c("GET", "/jobs"), secret=b"seeded-"),
    "POST /jobs": Rule("self", "user", _c("POST", "/jobs", json={})),
    "POST /ga4gh/tes/v1/tasks": Rule("self", "tes", _c("POST", "/ga4gh/tes/v1/tasks", json={})),
    "GET /ga4gh/tes/v1/tasks": Rule(
        "self",
        "tes",
        _c("GET", "/ga4gh/tes/v1/tasks", params={"view": "FULL"}),
        secret=TES_SECRET,
        also_allowed=("tes-basic",),
    ),
    # alice's jobs
    "GET /jobs/{job_id}": Rule("owned", "user", _c("GET", "/jobs/{job}")),
    "GET /jobs/{job_id}/logs": Rule("owned", "user", _c("GET", "/jobs/{done}/logs")),
    "GET /jobs/{job_id}/statuses": Rule("owned", "user", _c("GET", "/jobs/{job}/statuses")),
    "GET /jobs/{job_id}/logs/stream": Rule("owned", "user", _c("GET", "/jobs/{done}/logs/stream")),
    "POST /jobs/{job_id}/cancel": Rule("owned", "user", _c("POST", "/jobs/{job}/cancel"), order=3),
    "DELETE /jobs/{job_id}": Rule("owned", "user", _c("DELETE", "/jobs/{done}"), order=2),
    # alice's files (another user's same path names their own folder, where it is absent)
    "GET /files/{file_path}/download": Rule(
        "owned",
        "user",
        _c("GET", "/files/data/demo/frames.tif/download"),
        foreign=(
            ("bob", _c("GET", f"/files/../{USER}/data/demo/frames.tif/download")),
            ("bob", _c("GET", f"/files/%2e%2e/{USER}/data/demo/frames.tif/download")),
        ),
    ),
    "GET /files/{file_path}/url": Rule(
        "owned", "user", _c("GET", "/files/data/demo/frames.tif/url")
    ),
    "GET /files/{base_path}": Rule(
        "owned",
        "user",
        _c("GET", "/files/data/demo/"),
        foreign=(("bob", _c("GET", f"/files/..%2F{USER}%2Fdata%2F")),),
    ),
    "PUT /files/{file_path}": Rule(
        "owned",
        "user",
        _c("PUT", "/files/data/demo/rename-me.txt", json={"path": "data/demo/renamed.txt"}),
        order=1,
    ),
    "DELETE /files/{file_path}": Rule(
        "scoped",
        "user",
        _c("DELETE", "/files/data/demo/delete-me.txt"),
        order=1,
        foreign=(("bob", _c("DELETE", f"/files/..%2F{USER}%2Fdata%2Fdemo%2Fdelete-me.txt")),),
    ),
    "POST /files/{f_type}/{base_path}/upload": Rule(
        "scoped",
        "user",
        _c("POST", "/files/data/demo/upload", files={"file": ("new.txt", b"x")}),
        foreign=(
            (
                "bob",
                _c(
                    "POST",
                    f"/files/data/../../{USER}/data/upload",
                    files={"file": ("new.txt", b"x")},
                ),
            ),
        ),
    ),
    "POST /files/{f_type}/{base_path}/url": Rule(
        "scoped", "user", _c("POST", "/files/data/demo/url")
    ),
    "POST /files/{f_type}/{base_path}/": Rule(
        "scoped",
        "user",
        _c("POST", "/files/data/demo/newdir/"),
        foreign=(("bob", _c("POST", f"/files/data/..%2F..%2F{USER}%2Fdata%2Fevil/")),),
    ),
    # the TES user's task (and alice's job is no task of the TES user's)
    "GET /ga4gh/tes/v1/tasks/{task_id}": Rule(
        "owned",
        "tes",
        _c("GET", "/ga4gh/tes/v1/tasks/{task}"),
        also_allowed=("tes-basic",),
        foreign=(
            ("tes", _c("GET", "/ga4gh/tes/v1/tasks/{job}")),
            ("tes-basic", _c("GET", "/ga4gh/tes/v1/tasks/{done}")),
        ),
    ),
    "POST /ga4gh/tes/v1/tasks/{task_id}:cancel": Rule(
        "owned",
        "tes",
        _c("POST", "/ga4gh/tes/v1/tasks/{task}:cancel"),
        also_allowed=("tes-basic",),
        foreign=(("tes", _c("POST", "/ga4gh/tes/v1/tasks/{job}:cancel")),),
        order=3,
    ),
    # the operator's: the internal key
    # anyone may open a `users` account; a worker account needs the key
    "POST /user": Rule(
        "owned",
        "key",
        _c(
            "POST",
            "/user",
            data={"username": "worker-new", "password": PASSWORD},
            params=[("groups", "workers")],
        ),
    ),
    "PUT /_job_status": Rule(
        "owned", "key", _c("PUT", "/_job_status", json={"job_id": 1, "status": "running"})
    ),
    "PUT /_job_statuses": Rule(
        "owned",
        "key",
        _c("PUT", "/_job_statuses", json={"events": [{"job_id": 1, "status": "running"}]}),
    ),
    "PUT /_job_log": Rule(
        "owned",
        "key",
        _c("PUT", "/_job_log", json={"job_id": 1, "attempt": 1, "log": "hi\n", "end": 3}),
    ),
    # the administrators' (a bearer of the `admin` group, or the key as the operator)
    "GET /admin/users": Rule("owned", "admin", _c("GET", "/admin/users"), also_allowed=("key",)),
    "GET /admin/users/{username}": Rule(
        "owned", "admin", _c("GET", f"/admin/users/{USER}"), also_allowed=("key",)
    ),
    "POST /admin/users/{username}/disable": Rule(
        "owned",
        "admin",
        _c("POST", "/admin/users/victim@example.org/disable"),
        also_allowed=("key",),
        order=1,
    ),
    "POST /admin/users/{username}/enable": Rule(
        "owned",
        "admin",
        _c("POST", "/admin/users/victim@example.org/enable"),
        also_allowed=("key",),
        order=2,
    ),
    "DELETE /admin/users/{username}": Rule(
        "owned",
        "admin",
        _c("DELETE", "/admin/users/victim@example.org"),
        also_allowed=("key",),
        order=3,
    ),
    "GET /admin/quotas": Rule("owned", "admin", _c("GET", "/admin/quotas"), also_allowed=("key",)),
    "GET /admin/quotas/users/{username}": Rule(
        "owned", "admin", _c("GET", f"/admin/quotas/users/{USER}"), also_allowed=("key",)
    ),
    "PUT /admin/quotas/users/{username}": Rule(
        "owned",
        "admin",
        _c("PUT", f"/admin/quotas/users/{USER}", json={"quota_bytes": 2**30}),
        also_allowed=("key",),
    ),
    "DELETE /admin/quotas/users/{username}": Rule(
        "owned",
        "admin",
        _c("DELETE", f"/admin/quotas/users/{USER}"),
        also_allowed=("key",),
        order=1,
    ),
    "PUT /admin/quotas/groups/{group}": Rule(
        "owned",
        "admin",
        _c("PUT", "/admin/quotas/groups/users", json={"quota_bytes": 2**31}),
        also_allowed=("key",),
    ),
    "DELETE /admin/quotas/groups/{group}": Rule(
        "owned",
        "admin",
        _c("DELETE", "/admin/quotas/groups/users"),
        also_allowed=("key",),
        order=1,
    ),
}

WORKER_RULES: dict[str, Rule] = {
    "GET /": Rule("public"),
    "GET /healthz": Rule("public"),
    "GET /readyz": Rule("public"),
    "GET /access_info": Rule("public"),
    # a worker's pull: nothing it may lease is another's (alice's jobs are held by w1)
    "GET /jobs": Rule(
        "self",
        "worker-b",
        _c("GET", "/jobs", params={**OFFER, "limit": 10}),
        secret=b"seeded-",
    ),
    # the lease of worker-1/w1 on alice's running job
    "GET /jobs/{job_id}/status": Rule("owned", "worker", _c("GET", "/jobs/{job}/status")),
    "PUT /jobs/{job_id}/status": Rule(
        "owned",
        "worker",
        _c("PUT", "/jobs/{job}/status", params={"status": "running"}, headers=ATTEMPT),
        foreign=(("worker-b", _c("PUT", "/jobs/{done}/status", params={"status": "running"})),),
    ),
    "POST /jobs/{job_id}/log": Rule(
        "owned",
        "worker",
        _c("POST", "/jobs/{job}/log", json={"offset": 0, "text": "a line\n"}, headers=ATTEMPT),
    ),
    "POST /jobs/{job_id}/files/url": Rule(
        "owned", "worker", _c("POST", "/jobs/{job}/files/url", params={"type": "output"})
    ),
    "POST /jobs/{job_id}/files/upload": Rule(
        "owned",
        "worker",
        _c(
            "POST",
            "/jobs/{job}/files/upload",
            params={"type": "output", "base_path": "m"},
            files={"file": ("result.txt", b"result")},
        ),
    ),
    "GET /files/{file_id}/url": Rule(
        "owned", "worker", _c("GET", f"/files/{quote(INPUT_URI, safe='')}/url")
    ),
    "GET /files/{file_id}/download": Rule(
        "owned",
        "worker",
        _c("GET", f"/files/{INPUT_URI}/download"),
        foreign=(
            ("worker-b", _c("GET", f"/files/local://{USER}/data/demo/frames.tif/download")),
            ("worker", _c("GET", f"/files/local://{TES_USER}/data/x/download")),
        ),
    ),
    "POST /jobs/{job_id}/release": Rule(
        "owned", "worker", _c("POST", "/jobs/{job}/release", headers=ATTEMPT), order=3
    ),
    # the internal key's (the user API's relay, `labcloud`)
    "POST /_jobs": Rule("owned", "key", _new_job),
    "GET /_jobs": Rule("owned", "key", _c("GET", "/_jobs")),
    "GET /_jobs/{job_id}": Rule("owned", "key", _c("GET", "/_jobs/{job}")),
    "POST /_jobs/{job_id}/requeue": Rule(
        "owned", "key", _c("POST", "/_jobs/901/requeue"), order=1, prepare=_failed_job
    ),
    "POST /_jobs/{job_id}/cancel": Rule("owned", "key", _c("POST", "/_jobs/900/cancel"), order=2),
    "PUT /_accounts/{username}": Rule(
        "owned",
        "key",
        _c(
            "PUT",
            "/_accounts/ghost@example.org",
            json={
                "username": "ghost@example.org",
                "standing": "active",
                "tokens_valid_after": 0,
                "revision": 1,
            },
        ),
    ),
}


def _operations(app: Any) -> set[str]:
    """Every operation of `app`'s OpenAPI spec, as "METHOD /path"."""
    return {
        f"{method.upper()} {path}"
        for path, ops in app.openapi()["paths"].items()
        for method in ops
        if method in {"get", "put", "post", "delete", "patch", "head", "options"}
    }


@dataclass
class Tally:
    attempts: int = 0  # by a principal other than the owner, on an owned resource
    denied: int = 0
    owners: int = 0  # the owners' requests, which succeeded
    scoped: int = 0  # caller-scoped writes by others that stayed in their own folder
    self_checks: int = 0  # answers of `self` operations to others, without the owner's data
    wrong: list[str] = field(default_factory=list)


@dataclass
class Matrix:
    stack: Stack
    user_ops: set[str]
    worker_ops: set[str]


def _personas(stack: Stack) -> None:
    """More callers than the seeded ones: another user, an administrator, a second
    worker account, a second process of worker-1, TES by HTTP Basic, no credentials."""
    with httpx.Client(base_url=stack.user_url, timeout=30) as anonymous:
        stack.headers["bob"] = _register(anonymous, "bob@example.org", ("users",))
        stack.headers["admin"] = _register(anonymous, "admin@example.org", ("users", "admin"))
        worker_b = _register(anonymous, "worker-2", ("workers",))
        _register(anonymous, "victim@example.org", ("users",))
    stack.headers["worker-b"] = {**worker_b, "X-Worker-Id": "b1"}
    stack.headers["worker-other-process"] = {
        "Authorization": stack.headers["worker"]["Authorization"],
        "X-Worker-Id": "w9",
    }
    basic = base64.b64encode(f"{TES_USER}:{PASSWORD}".encode()).decode()
    stack.headers["tes-basic"] = {"Authorization": f"Basic {basic}"}
    stack.headers["anon"] = {}
    with stack.user_client("user") as alice:
        _upload(alice, "data/demo", "rename-me.txt", b"to be renamed")
        _upload(alice, "data/demo", "delete-me.txt", b"to be deleted")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def matrix(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Matrix]:
    with running_stack(str(request.param), tmp_path) as stack:
        _personas(stack)
        yield Matrix(stack, set(), set())


def _send(stack: Stack, api: str, persona: str, call: Call) -> httpx.Response:
    base = stack.user_url if api == "user" else stack.worker_url
    headers = {**stack.headers.get(persona, {}), **call.headers}
    with httpx.Client(base_url=base, timeout=30) as client:
        request = client.build_request(
            call.method,
            call.url,
            params=call.params,
            json=call.json,
            data=call.data,
            files=call.files,
            headers=headers,
        )
        # keep `..` and `%2e` as sent: the server must refuse them, not the client
        request.url = request.url.copy_with(raw_path=_raw(call.url, request.url))
        if call.url.endswith("/stream"):
            with client.stream(request.method, request.url, headers=request.headers) as r:
                body = b"".join(r.iter_bytes())
                return httpx.Response(r.status_code, content=body, headers=r.headers)
        return client.send(request)


def _raw(url: str, built: httpx.URL) -> bytes:
    path = url.split("?", 1)[0]
    query = built.query
    return path.encode() + (b"?" + query if query else b"")


def _state(stack: Stack) -> dict[str, Any]:
    """`stack.state()` without the sign-in throttle's ledger, which a refused sign-in
    is meant to write (it is no one's resource)."""
    state = stack.state()
    state["tables"] = {
        t: rows
        for t, rows in state["tables"].items()  # type: ignore[attr-defined]
        if not t.endswith(".signin_failures")
    }
    return state


def _denied(answer: httpx.Response, call: Call) -> bool:
    """401/403/404; a path that climbs out with `..` may also be refused as bad (400)."""
    climbs = ".." in call.url or "%2e%2e" in call.url.lower()
    return answer.status_code in DENIED or (climbs and answer.status_code == 400)


def _alice_files(stack: Stack) -> list[tuple[str, bytes]]:
    folder = stack.root / USER
    return sorted(
        (p.relative_to(folder).as_posix(), p.read_bytes()) for p in folder.rglob("*") if p.is_file()
    )


def _leaks(response: httpx.Response, secrets: tuple[bytes, ...]) -> bytes | None:
    return next((s for s in secrets if s and s in response.content), None)


def _run_rule(
    stack: Stack, api: str, name: str, rule: Rule, personas: tuple[str, ...], tally: Tally
) -> None:
    assert rule.call is not None
    others = [p for p in personas if p != rule.owner and p not in rule.also_allowed]
    secrets = (*SECRETS, TES_SECRET) if rule.owner in {"tes", "tes-basic"} else SECRETS
    if rule.kind == "self":
        for persona in others if rule.secret else ["anon"]:
            answer = _send(stack, api, persona, rule.call(stack))
            tally.self_checks += 1
            if persona == "anon" and answer.status_code not in DENIED:
                tally.wrong.append(f"{api} {name} as anon: {answer.status_code}")
            if rule.secret and rule.secret in answer.content:
                tally.wrong.append(f"{api} {name} as {persona}: shows the owner's data")
        return
    tries = [(p, rule.call) for p in others] + list(rule.foreign)
    before = _state(stack) if rule.kind == "owned" else None
    alice_before = _alice_files(stack)
    for persona, build in tries:
        call = build(stack)
        answer = _send(stack, api, persona, call)
        case = f"{api} {call.method} {call.url} ({name}) as {persona}"
        leaked = _leaks(answer, secrets) if rule.owner not in {"key", "admin"} else None
        if rule.kind == "scoped" and (persona, build) not in rule.foreign and answer.is_success:
            tally.scoped += 1  # acted in the caller's own folder: checked below
        else:
            tally.attempts += 1
            if _denied(answer, call) and leaked is None:
                tally.denied += 1
            else:
                tally.wrong.append(f"{case}: {answer.status_code} {answer.text[:160]}")
        if leaked is not None and rule.kind == "scoped":
            tally.wrong.append(f"{case}: leaks {leaked!r}")
    after = _state(stack) if before is not None else None
    if before is not None and after != before:
        changed = [
            t
            for t in {*before["tables"], *after["tables"]}  # type: ignore[misc]
            if before["tables"].get(t) != after["tables"].get(t)
        ]  # type: ignore[attr-defined]
        tally.wrong.append(
            f"{api} {name}: the denied tries changed the databases or files: {changed}"
            f"{' and files' if before['files'] != after['files'] else ''}"
        )
    if rule.kind == "scoped" and _alice_files(stack) != alice_before:
        tally.wrong.append(f"{api} {name}: others' tries changed alice's folder")


def _run_owner(stack: Stack, api: str, name: str, rule: Rule, tally: Tally) -> None:
    assert rule.call is not None
    personas = (rule.owner, *rule.also_allowed) if rule.order == 0 else (rule.owner,)
    if rule.prepare is not None:
        rule.prepare(stack)
    for persona in personas:
        answer = _send(stack, api, persona, rule.call(stack))
        if answer.is_success:
            tally.owners += 1
        else:
            tally.wrong.append(
                f"{api} {name} by its owner {persona}: {answer.status_code} {answer.text[:200]}"
            )


def test_every_operation_is_in_the_matrix(tmp_path: Path) -> None:
    """The rules name exactly the operations the specs list: a new route fails here."""
    from tests.support.api_stack import user_settings, worker_settings

    db = f"sqlite:///{tmp_path / 'x.sqlite'}"
    user_ops = _operations(
        create_user_app(user_settings(db, tmp_path, "http://w"), run_background=False)
    )
    worker_ops = _operations(
        create_worker_app(worker_settings(db, tmp_path, "http://u"), run_background=False)
    )
    assert sorted(user_ops ^ set(USER_RULES)) == []
    assert sorted(worker_ops ^ set(WORKER_RULES)) == []
    assert len(user_ops) + len(worker_ops) >= 60


@pytest.mark.timeout(300)
def test_no_principal_reaches_what_is_anothers(
    matrix: Matrix, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = matrix.stack
    tally = Tally()
    plan = [("worker", n, r, WORKER_PERSONAS) for n, r in WORKER_RULES.items()] + [
        ("user", n, r, USER_PERSONAS) for n, r in USER_RULES.items()
    ]
    plan = [step for step in plan if step[2].kind != "public"]
    # every principal's tries first (nothing is destroyed yet), each owner's afterwards,
    # the worker API's before the user API's, destructive ones last
    for api, name, rule, personas in plan:
        _run_rule(stack, api, name, rule, personas, tally)
    for api, name, rule, _ in sorted(plan, key=lambda step: step[2].order):
        if rule.kind in {"owned", "scoped"}:
            _run_owner(stack, api, name, rule, tally)
    owned = sum(1 for step in plan if step[2].kind in {"owned", "scoped"})
    line = (
        f"isolation matrix on {stack.db_kind}: {len(plan)} operations ({owned} owned), "
        f"{len(USER_PERSONAS)}+{len(WORKER_PERSONAS)} principals: {tally.attempts} attempts "
        f"by other principals, {tally.denied} denied; {tally.owners} owners' requests "
        f"succeeded; {tally.scoped} caller-scoped writes stayed in the caller's folder; "
        f"{tally.self_checks} answers of one's own operations showed nobody else's data"
    )
    with capsys.disabled():
        print("\n" + line)
    assert tally.wrong == [], "\n".join([line, *tally.wrong])
    assert tally.attempts == tally.denied and tally.attempts > 300
    assert json.dumps(tally.attempts)  # a number the lead quotes
