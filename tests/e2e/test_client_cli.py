"""The `labcloud` client commands as a scientist types them, run as processes against the
real platform (both APIs and a worker on loopback): output, `--json`, exit codes,
the stored session, bad input, and an interrupted upload resumed."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt

from tests.e2e.conftest import PASSWORD, Platform
from tests.support.processes import REPO, free_port

USER = "ada@example.org"


class Cli:
    """Runs `labcloud …` with its own home (so its own config folder)."""

    def __init__(self, home: Path, url: str | None = None) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LABCLOUD_")}
        self.env.update(
            HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), COLUMNS="200", NO_COLOR="1"
        )
        if url:
            self.env["LABCLOUD_URL"] = url

    @property
    def credentials(self) -> Path:
        return self.home / ".config" / "labcloud" / "credentials.json"

    def argv(self, args: tuple[str, ...]) -> list[str]:
        return [sys.executable, "-m", "labcloud.cli", *args]

    def __call__(
        self, *args: str, stdin: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(args),
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.env, **env},
            cwd=self.home,
            timeout=180,
        )

    def json(self, *args: str, **env: str) -> Any:
        done = self(*args, "--json", **env)
        assert done.returncode == 0, done.stderr + done.stdout
        return json.loads(done.stdout)


def logged_in(p: Platform, home: Path) -> Cli:
    httpx.post(f"{p.user_url}/user", data={"username": USER, "password": PASSWORD})
    cli = Cli(home)
    done = cli("login", "--url", p.user_url, "-u", USER, "--password-stdin", stdin=PASSWORD)
    assert done.returncode == 0, done.stderr
    assert f"Logged in to {p.user_url} as {USER}" in done.stdout
    return cli


def make_inputs(root: Path) -> None:
    (root / "exp1" / "more").mkdir(parents=True)
    (root / "exp1" / "counts.csv").write_text("a,b\n1,2\n3,4\n")
    (root / "exp1" / "more" / "more.txt").write_text("value 10\n")
    (root / "params.yaml").write_text("greeting: hello cli\n")


def test_the_walkthrough(sqlite_platform: Platform, tmp_path: Path) -> None:
    p = sqlite_platform
    p.start_worker("worker-1")
    cli = logged_in(p, tmp_path)
    assert stat.S_IMODE(cli.credentials.stat().st_mode) == 0o600
    assert PASSWORD not in cli.credentials.read_text()
    assert cli.json("whoami")["email"] == USER  # the URL comes from the stored login

    make_inputs(tmp_path / "in")
    report = cli.json("files", "put", "in/exp1", "data")
    assert sorted(report["uploaded"]) == ["data/exp1/counts.csv", "data/exp1/more/more.txt"]
    put = cli("files", "put", "in/params.yaml", "config/demo")
    assert put.returncode == 0 and "Uploaded 1 file(s)" in put.stdout
    listing = cli.json("files", "ls", "data", "-r")
    assert [e["path"] for e in listing] == [
        "data/exp1/",
        "data/exp1/counts.csv",
        "data/exp1/more/",
        "data/exp1/more/more.txt",
    ]
    assert "data/exp1/counts.csv" in cli("files", "ls", "data/exp1").stdout
    apps = cli.json("apps")
    assert {"application": "demo", "version": "v1", "entrypoint": "run"}.items() <= apps[-1].items()
    assert "demo" in cli("apps").stdout

    run = cli(
        "run", "demo", "v1", "run",
        "--data", "exp1/",
        "--config", "config/demo/params.yaml",
        "--env", "DEMO_GREETING=bonjour",
        "--name", "cli-run",
        "--wait",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr + run.stdout
    assert "cli-run finished" in run.stdout
    assert "output/cli-run/" in run.stdout and "labcloud download" in run.stdout
    assert "cli-run: queued" in run.stderr  # each status change, one line each off a terminal

    jobs = cli.json("jobs", "ls")
    assert [j["job_name"] for j in jobs] == ["cli-run"] and jobs[0]["status"] == "finished"
    job_id = str(jobs[0]["id"])
    shown = cli.json("jobs", "show", "cli-run")
    assert shown["id"] == jobs[0]["id"]
    assert [s["status"] for s in shown["statuses"]][-1] == "finished"
    assert "finished" in cli("jobs", "show", job_id).stdout
    assert "bonjour! demo analysis starting" in cli("jobs", "logs", "cli-run").stdout
    follow = cli("jobs", "logs", "-f", job_id)
    assert follow.returncode == 0 and "bonjour!" in follow.stdout

    fetched = cli.json("download", "cli-run", "--to", "results")
    assert fetched["local"] == "results/cli-run"
    assert {"output/summary.json", "log/job.log", "model/model.json"} <= set(fetched["files"])
    summary = json.loads((tmp_path / "results/cli-run/output/summary.json").read_text())
    assert summary["greeting"] == "bonjour" and summary["files"] == 2
    got = cli("files", "get", "output/cli-run/output", "copy")
    assert got.returncode == 0 and (tmp_path / "copy" / "summary.json").is_file()

    assert cli("files", "mv", "config/demo/params.yaml", "config/demo/p2.yaml").returncode == 0
    assert cli.json("files", "rm", "-r", "data/exp1/more") == {"deleted": ["data/exp1/more/"]}
    assert [e["path"] for e in cli.json("files", "ls", "data/exp1")] == ["data/exp1/counts.csv"]
    assert cli("jobs", "rm", "cli-run").returncode == 0
    assert cli("jobs", "show", job_id).returncode == 4
    assert cli("logout").returncode == 0 and cli("whoami").returncode == 3


def test_a_failing_job_exits_1(sqlite_platform: Platform, tmp_path: Path) -> None:
    p = sqlite_platform
    p.start_worker("worker-1")
    cli = logged_in(p, tmp_path)
    run = cli("run", "demo", "v1", "run", "--env", "DEMO_FAIL=1", "--name", "bad", "--wait")
    assert run.returncode == 1, run.stderr + run.stdout
    assert "bad error" in run.stdout and "exit code 3" in run.stdout
    assert cli("jobs", "logs", "-f", "bad").returncode == 1
    waited = cli("jobs", "wait", "bad", "--json")
    assert waited.returncode == 1 and json.loads(waited.stdout)["status"] == "error"
    started = cli.json("run", "demo", "v1", "run", "--name", "later")
    assert started["status"] == "queued"
    assert cli("jobs", "wait", "later").returncode == 0


def test_bad_input_has_its_exit_code(sqlite_platform: Platform, tmp_path: Path) -> None:
    p = sqlite_platform
    httpx.post(f"{p.user_url}/user", data={"username": USER, "password": PASSWORD})
    cli = Cli(tmp_path, url=p.user_url)

    wrong = cli("login", "-u", USER, "--password-stdin", stdin="not-the-password-1")
    assert wrong.returncode == 3 and "incorrect username or password" in wrong.stderr
    assert not cli.credentials.exists()
    nobody = cli("login", "-u", "nobody@example.org", LABCLOUD_PASSWORD=PASSWORD)
    assert nobody.returncode == 3 and "incorrect username or password" in nobody.stderr
    anonymous = cli("files", "ls")
    assert anonymous.returncode == 3 and "not logged in" in anonymous.stderr

    assert cli("login", "-u", USER, LABCLOUD_PASSWORD=PASSWORD).returncode == 0
    missing = cli("files", "ls", "data/nope")
    assert missing.returncode == 4 and "'data/nope/' is not a directory" in missing.stderr
    assert cli("files", "get", "data/nope.csv").returncode == 4
    assert cli("files", "rm", "data/nope.csv").returncode == 4
    local_missing = cli("files", "put", "no-such-dir", "data")
    assert local_missing.returncode == 4 and "no-such-dir" in local_missing.stderr
    assert cli("jobs", "show", "999999").returncode == 4
    assert cli("jobs", "logs", "no-such-job").returncode == 4
    bad_app = cli("run", "demo", "v9", "run")
    assert bad_app.returncode == 6 and "application → version" in bad_app.stderr
    bad_input = cli("run", "demo", "v1", "run", "--data", "missing/")
    assert bad_input.returncode == 6 and "input data/missing does not exist" in bad_input.stderr
    assert cli("files", "put", "--help").returncode == 0
    assert cli("files", "rm", "data").returncode == 2  # a folder needs -r
    assert cli("files", "rm", "-r", "/").returncode == 2  # not everything at once
    assert cli("run", "demo", "v1", "run", "--env", "NOEQUALS").returncode == 2
    wrong_place = cli("files", "put", "no-such-dir", "output")
    assert wrong_place.returncode == 4  # the local path is checked first

    elsewhere = f"http://127.0.0.1:{free_port()}"
    assert cli("files", "ls", "--url", elsewhere).returncode == 3  # no session for that server
    unreachable = cli("files", "ls", "--url", elsewhere, LABCLOUD_TOKEN="a-token")
    assert unreachable.returncode == 5 and "cannot reach" in unreachable.stderr


def test_an_expired_session_exits_3(sqlite_platform: Platform, tmp_path: Path) -> None:
    p = sqlite_platform
    cli = logged_in(p, tmp_path)
    now = int(time.time())
    claims = {"sub": USER, "username": USER, "email": USER, "groups": ["users"]}
    claims |= {"iss": "labcloud", "aud": "labcloud", "iat": now - 7200, "exp": now - 3600}
    expired = jwt.encode(claims, p.env["AUTH_TOKEN_SECRET"], algorithm="HS256")
    stored = json.loads(cli.credentials.read_text())
    session = stored["sessions"][p.user_url]
    session["token"] = expired
    cli.credentials.write_text(json.dumps(stored))
    # the server refuses it (the client did not know the expiry)
    done = cli("files", "ls")
    assert done.returncode == 3 and "expired" in done.stderr and "labcloud login" in done.stderr
    # the client knows the expiry: it says so without asking
    session["expires_at"] = now - 3600
    cli.credentials.write_text(json.dumps(stored))
    done = cli("jobs", "ls")
    assert done.returncode == 3 and "session" in done.stderr and "expired at" in done.stderr
    assert cli("login", "-u", USER, LABCLOUD_PASSWORD=PASSWORD).returncode == 0
    assert cli("jobs", "ls").returncode == 0


def settled_listing(folder: Path, prefix: str, quiet_s: float = 1.0) -> list[str]:
    """The folder's files (as `prefix/name`) once no file has appeared for `quiet_s`."""
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now_there = sorted(f"{prefix}/{f.name}" for f in folder.iterdir())
        if now_there == seen:
            return seen
        seen = now_there
        time.sleep(quiet_s)
    raise AssertionError(f"{folder} still changing after 30 s")


def test_an_interrupted_upload_is_resumed(sqlite_platform: Platform, tmp_path: Path) -> None:
    p = sqlite_platform
    cli = logged_in(p, tmp_path)
    local = tmp_path / "big"
    local.mkdir()
    count = 300
    for i in range(count):
        (local / f"frame{i:03d}.bin").write_bytes(os.urandom(64 * 1024))
    stored = p.tmp / "files" / USER / "data" / "big"

    proc = subprocess.Popen(
        cli.argv(("files", "put", "big", "data", "--jobs", "1")),
        env=cli.env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if stored.is_dir() and len(list(stored.iterdir())) >= 30:
            os.killpg(proc.pid, signal.SIGKILL)  # like a closed laptop: no clean-up at all
            break
        time.sleep(0.005)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, "the upload ended before it could be interrupted"
    # A file whose whole body was sent before the kill is still stored by the server.
    there = settled_listing(stored, "data/big")
    assert 30 <= len(there) < count

    resumed = cli.json("files", "put", "big", "data")
    skipped, uploaded = set(resumed["skipped"]), set(resumed["uploaded"])
    assert set(there) <= skipped, "a file already stored was sent again"
    assert len(skipped) - len(there) <= 1  # at most the one in flight at the kill
    assert not skipped & uploaded
    assert skipped | uploaded == {f"data/big/frame{i:03d}.bin" for i in range(count)}
    for i in range(count):
        name = f"frame{i:03d}.bin"
        assert (stored / name).read_bytes() == (local / name).read_bytes()
    again = cli.json("files", "put", "big", "data")
    assert again["uploaded"] == [] and len(again["skipped"]) == count


def test_help_documents_the_exit_codes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "labcloud.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0
    for word in ("login", "files", "apps", "run", "jobs", "download", "Exit codes", "3 not"):
        assert word in done.stdout
