"""Fault injection: kill and restart every part while jobs run, then check that no job
was lost, stuck or run twice, and that each got exactly one email.

Real processes on loopback and PostgreSQL: the user API, the worker API and several
workers (process runner, plus one docker worker on Podman). Between the APIs a proxy
delays and duplicates deliveries in both directions; the email service fails for a
while. `--chaos-large` runs 200 jobs instead of 50.
"""

from __future__ import annotations

import collections
import io
import json
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from shared.jobs.states import TERMINAL
from tests.chaos.proxy import FaultyLink
from tests.chaos.services import Service
from tests.support.databases import fresh_postgres
from tests.support.http_server import serve_in_thread
from tests.support.mailjet import FlakyMailjet
from tests.support.processes import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.podman, pytest.mark.chaos]

USER = "chaos@lab.example"
PASSWORD = "chaos-pass-1"
LEASE_TIMEOUT, SWEEPER_PERIOD = 5, 1
ENDED = {s.value for s in TERMINAL}

APPS = """
demo:
  v1:
    run:
      app:
        cmd: ["python -m labcloud.demo_app", "--files \\"$FILES_DIR\\""]
        env: [DEMO_SLEEP]
      handler:
        runner: process
        files_down: {{config_id: config, data_ids: data}}
        files_up: {{output: output, log: log, artifact: model}}
      aws_resources: {{hardware: {{MEMORY: 64, VCPU: 1, GPU: 0}}, timeout: 120}}
box:
  v1:
    run:
      app:
        cmd:
          - "mkdir -p /files/output && sleep 1 &&"
          - "cat /files/data/* | wc -c > /files/output/size.txt &&"
          - "echo attempt=$LABCLOUD_ATTEMPT > /files/output/result.txt"
      handler:
        image_url: "{image}"
        runner: docker
        files_down: {{data_ids: data}}
        files_up: {{output: output}}
      aws_resources: {{hardware: {{MEMORY: 64, VCPU: 1, GPU: 0}}, timeout: 120}}
"""


Fault = Callable[["Chaos", FlakyMailjet], None]


@dataclass
class Chaos:
    size: int
    tmp: Path
    user_db: str
    worker_db: str
    image: str
    docker_host: str
    services: dict[str, Service] = field(default_factory=dict)
    faults: collections.Counter[str] = field(default_factory=collections.Counter)
    rng: random.Random = field(default_factory=lambda: random.Random(1234))


@pytest.fixture
def chaos_size(request: pytest.FixtureRequest) -> int:
    return 200 if request.config.getoption("--chaos-large") else 50


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    with fresh_postgres() as user_db, fresh_postgres() as worker_db:
        yield user_db, worker_db


def test_no_job_lost_stuck_or_run_twice(
    tmp_path: Path,
    databases: tuple[str, str],
    chaos_size: int,
    docker_host: str,
    test_image: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user_db, worker_db = databases
    (tmp_path / "apps.yaml").write_text(APPS.format(image=test_image))
    user_port, worker_port = free_port(), free_port()
    mailjet = FlakyMailjet()
    to_worker_api = FaultyLink(f"http://127.0.0.1:{worker_port}", seed=1)
    to_user_api = FaultyLink(f"http://127.0.0.1:{user_port}", seed=2)
    # Workers reach the worker API through a slower link too: staging and uploading
    # take long enough to be interrupted, and a lost answer to a claim is a fault too.
    workers_link = FaultyLink(
        f"http://127.0.0.1:{worker_port}", seed=3, duplicate_p=0.03, max_delay_s=0.15
    )
    with (
        serve_in_thread(mailjet.app) as mail_url,
        serve_in_thread(to_worker_api.app()) as worker_link,
        serve_in_thread(to_user_api.app()) as user_link,
        serve_in_thread(workers_link.app()) as workers_url,
    ):
        chaos = Chaos(chaos_size, tmp_path, user_db, worker_db, test_image, docker_host)
        try:
            start_platform(
                chaos, user_port, worker_port, worker_link, user_link, mail_url, workers_url
            )
            http = login(user_port)
            jobs = submit_jobs(chaos, http)
            settle_s = run_faults_then_settle(chaos, jobs, mailjet)
            summary = check_everything(chaos, jobs, mailjet)
        finally:
            for service in chaos.services.values():
                service.kill()
            remove_job_containers(docker_host)
    summary["settle_s"] = round(settle_s, 1)
    summary["duplicated_deliveries"] = (
        to_worker_api.duplicated + to_user_api.duplicated + workers_link.duplicated
    )
    summary["email_refusals"] = mailjet.refused
    with capsys.disabled():
        print("\nchaos summary: " + " ".join(f"{k}={v}" for k, v in summary.items()))
    assert summary["lost"] == 0 and summary["stuck"] == 0 and summary["duplicated"] == 0


def start_platform(
    c: Chaos,
    user_port: int,
    worker_port: int,
    worker_link: str,
    user_link: str,
    mail_url: str,
    workers_url: str,
) -> None:
    common = {
        "AUTH": "1",
        "AUTH_TOKEN_SECRET": "chaos-" + uuid.uuid4().hex * 2,
        "INTERNAL_API_KEY_SECRET": "chaos-key-" + uuid.uuid4().hex,
        "USER_DATA_ROOT_PATH": str(c.tmp / "files"),
        "PYTHONUNBUFFERED": "1",
    }
    c.services["user-api"] = Service(
        "user-api",
        ["user-api", "--port", str(user_port), "--migrate", "--log-level", "warning"],
        {
            **common,
            "DATABASE_URL": c.user_db,
            "WORKERFACING_API_URL": worker_link,
            "APPLICATION_CONFIG_FILE": str(c.tmp / "apps.yaml"),
            "OUTBOX_RELAY_PERIOD": "0.5",
            "RECONCILE_AFTER": "20",
            "RECONCILE_PERIOD": "2",
            "EMAIL_SENDER_SERVICE": "mailjet",
            "EMAIL_SENDER_ADDRESS": "noreply@lab.example",
            "EMAIL_SENDER_API_KEY": "k",
            "EMAIL_SENDER_SECRET_KEY": "s",
            "EMAIL_SENDER_API_URL": mail_url + "/",
            "EMAIL_CLAIM_SECONDS": "5",
        },
        c.tmp,
        f"http://127.0.0.1:{user_port}/",
    )
    c.services["worker-api"] = Service(
        "worker-api",
        ["worker-api", "--port", str(worker_port), "--migrate", "--log-level", "warning"],
        {
            **common,
            "DATABASE_URL": c.worker_db,
            "USERFACING_API_URL": user_link,
            "LEASE_TIMEOUT": str(LEASE_TIMEOUT),
            "SWEEPER_PERIOD": str(SWEEPER_PERIOD),
            "MAX_RETRIES": "8",
            "STATUS_RELAY_PERIOD": "0.5",
        },
        c.tmp,
        f"http://127.0.0.1:{worker_port}/",
    )
    for service in list(c.services.values()):
        service.start()
    key = {"x-api-key": common["INTERNAL_API_KEY_SECRET"]}
    workers = [f"chaos-w{i}" for i in range(1, 4 if c.size <= 50 else 6)] + ["chaos-box"]
    for name in workers:
        httpx.post(
            f"http://127.0.0.1:{user_port}/user",
            params={"groups": "workers"},
            data={"username": name, "password": PASSWORD},
            headers=key,
        )
        c.services[name] = Service(
            name,
            ["worker", "--log-level", "info"],
            {
                **common,
                "LABCLOUD_WORKER_API_URL": workers_url,
                "LABCLOUD_WORKER_AUTH_URL": f"http://127.0.0.1:{user_port}",
                "LABCLOUD_WORKER_USERNAME": name,
                "LABCLOUD_WORKER_PASSWORD": PASSWORD,
                "LABCLOUD_WORKER_SCRATCH_DIR": str(c.tmp / "scratch"),
                "LABCLOUD_WORKER_RUNNERS": "docker" if name == "chaos-box" else "process",
                "LABCLOUD_WORKER_DOCKER_HOST": c.docker_host,
                "LABCLOUD_WORKER_HEARTBEAT_INTERVAL": "1",
                "LABCLOUD_WORKER_LONG_POLL": "2",
                "LABCLOUD_WORKER_POLL_MAX": "1",
                "LABCLOUD_WORKER_DRAIN_TIMEOUT": "1",
                "LABCLOUD_WORKER_CPU_CORES": "3",
            },
            c.tmp,
        )
        c.services[name].start()


def login(user_port: int) -> httpx.Client:
    http = httpx.Client(base_url=f"http://127.0.0.1:{user_port}", timeout=30)
    http.post("/user", data={"username": USER, "password": PASSWORD}).raise_for_status()
    token = http.post("/token", data={"username": USER, "password": PASSWORD}).json()
    http.headers["Authorization"] = f"Bearer {token['id_token']}"
    return http


def submit_jobs(c: Chaos, http: httpx.Client) -> dict[int, dict[str, str]]:
    """Upload inputs once, then submit the batch: mostly process jobs, some containers."""
    for i in range(3):
        payload = (f"{i},{i + 1}\n" * 20_000).encode()  # ~100 kB each: staging takes a while
        http.post(
            "/files/data/set/upload", files={"file": (f"part{i}.csv", io.BytesIO(payload))}
        ).raise_for_status()
    http.post(
        "/files/config/upload", files={"file": ("params.yaml", io.BytesIO(b"greeting: chaos\n"))}
    ).raise_for_status()
    jobs: dict[int, dict[str, str]] = {}
    for n in range(c.size):
        kind = "box" if n % 5 == 4 else "demo"
        attributes = {"files_down": {"data_ids": ["set/"]}, "env_vars": {}}
        if kind == "demo":
            attributes["files_down"]["config_id"] = "params.yaml"
            attributes["env_vars"] = {"DEMO_SLEEP": f"{c.rng.uniform(1, 5):.1f}"}
        name = f"chaos-{n:03d}"
        body = {
            "job_name": name,
            "attributes": attributes,
            "application": {"application": kind, "version": "v1", "entrypoint": "run"},
        }
        response = http.post("/jobs", json=body)
        assert response.status_code == 201, response.text
        jobs[response.json()["id"]] = {"name": name, "kind": kind}
    return jobs


def statuses(url: str, table: str, id_column: str) -> dict[int, str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT {id_column}, status FROM {table}"))
            return {int(r[0]): r[1] for r in rows}
    finally:
        engine.dispose()


def run_faults_then_settle(
    c: Chaos, jobs: dict[int, dict[str, str]], mailjet: FlakyMailjet
) -> float:
    """Inject faults (every kind at least once, then more at random) while the jobs run,
    then let the platform settle."""
    kinds: list[Fault] = [
        partial(kill_worker, phase="preprocessing"),
        partial(kill_worker, phase="running"),
        partial(kill_worker, phase="postprocessing"),
        restart_worker_api,
        restart_user_api,
        cut_db_connections,
        email_outage,
    ]
    extra = [c.rng.choice(kinds) for _ in range(c.size // 5)]
    schedule = c.rng.sample(kinds, len(kinds)) + extra
    for n, fault in enumerate(schedule):
        time.sleep(c.rng.uniform(0.2, 1.5))
        if n >= len(kinds):  # every kind has had its turn: stop once nearly all are done
            done = statuses(c.user_db, "jobs", "id")
            if sum(s in ENDED for s in done.values()) >= 0.9 * len(jobs):
                break
        fault(c, mailjet)
    for service in c.services.values():  # everyone back for the finish
        if not service.alive:
            service.start()
    quiet = time.monotonic()
    deadline = quiet + 240
    while time.monotonic() < deadline:
        user, worker = (
            statuses(c.user_db, "jobs", "id"),
            statuses(c.worker_db, "queued_jobs", "job_id"),
        )
        if all(user.get(j) in ENDED and worker.get(j) == user.get(j) for j in jobs) and len(
            mailjet.subjects
        ) >= len(jobs):
            break
        time.sleep(0.5)
    return time.monotonic() - quiet


def kill_worker(c: Chaos, _mail: FlakyMailjet, phase: str) -> None:
    """SIGKILL the holder of a job that is in `phase` (staging, running or uploading)."""
    engine = sa.create_engine(c.worker_db)
    deadline = time.monotonic() + 10
    holders: list[str] = []
    with engine.connect() as conn:
        while not holders and time.monotonic() < deadline:
            holders = [
                r[0]
                for r in conn.execute(
                    sa.text(
                        "SELECT worker_id FROM queued_jobs "
                        "WHERE status = :s AND worker_id IS NOT NULL"
                    ),
                    {"s": phase},
                )
            ]
            conn.rollback()
            time.sleep(0.02)
    engine.dispose()
    if not holders:
        c.faults[f"missed-{phase}"] += 1
        return
    name = c.rng.choice(holders).split("/")[0]
    service = c.services[name]
    service.kill()
    c.faults[f"kill-worker-{phase}"] += 1
    service.start()


def restart_worker_api(c: Chaos, _mail: FlakyMailjet) -> None:
    c.services["worker-api"].kill()
    c.faults["kill-worker-api"] += 1
    time.sleep(c.rng.uniform(0, 1.5))
    c.services["worker-api"].start()


def restart_user_api(c: Chaos, _mail: FlakyMailjet) -> None:
    c.services["user-api"].kill()
    c.faults["kill-user-api"] += 1
    time.sleep(c.rng.uniform(0, 1.5))
    c.services["user-api"].start()


def cut_db_connections(c: Chaos, _mail: FlakyMailjet) -> None:
    names = [url.rsplit("/", 1)[1] for url in (c.user_db, c.worker_db)]
    admin = sa.create_engine(
        c.user_db.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = ANY(:names) AND pid <> pg_backend_pid()"
            ),
            {"names": names},
        )
    admin.dispose()
    c.faults["cut-db-connections"] += 1


def email_outage(c: Chaos, mail: FlakyMailjet) -> None:
    mail.fail_for(c.rng.uniform(2, 6))
    c.faults["email-outage"] += 1


def check_everything(
    c: Chaos, jobs: dict[int, dict[str, str]], mailjet: FlakyMailjet
) -> dict[str, object]:
    user = statuses(c.user_db, "jobs", "id")
    worker = statuses(c.worker_db, "queued_jobs", "job_id")
    engine = sa.create_engine(c.worker_db)
    with engine.connect() as conn:
        attempts = collections.defaultdict(list)
        for row in conn.execute(
            sa.text(
                "SELECT q.job_id, a.number, a.started_at, a.ended_at, a.outcome "
                "FROM attempts a JOIN queued_jobs q ON q.id = a.queued_job_id "
                "ORDER BY q.job_id, a.number"
            )
        ):
            attempts[row[0]].append(row)
    engine.dispose()
    lost = [j for j in jobs if j not in worker or j not in user]
    stuck = [j for j in jobs if user.get(j) not in ENDED or worker.get(j) not in ENDED]
    disagree = [j for j in jobs if user.get(j) != worker.get(j)]
    mails = collections.Counter(
        int(m.group(1)) for s in mailjet.subjects if (m := re.search(r"\(id (\d+)\)", s))
    )
    wrong_mail = {j: mails.get(j, 0) for j in jobs if mails.get(j, 0) != 1}
    twice, overlap, incomplete = [], [], []
    for job_id, info in jobs.items():
        tries = attempts[job_id]
        if sum(t.outcome == "finished" for t in tries) > 1:
            twice.append(job_id)
        for earlier, later in zip(tries, tries[1:], strict=False):
            if earlier.ended_at is None or later.started_at < earlier.ended_at:
                overlap.append(job_id)  # a newer attempt began before the older one ended
        if user.get(job_id) == "finished":
            winner = next(t.number for t in tries if t.outcome == "finished")
            if not outputs_complete(c, info, winner):
                incomplete.append(job_id)
    assert not lost, f"lost: {lost}"
    assert not stuck, f"stuck: {[(j, user.get(j), worker.get(j)) for j in stuck]}"
    assert not disagree, f"the databases disagree: {disagree}"
    assert not wrong_mail, f"emails per job: {wrong_mail}"
    assert not twice and not overlap, f"run twice: {twice}, overlapping attempts: {overlap}"
    assert not incomplete, f"finished without complete outputs: {incomplete}"
    finished = sum(user[j] == "finished" for j in jobs)
    return {
        "jobs": len(jobs),
        "finished": finished,
        "error": len(jobs) - finished,
        "faults": sum(c.faults.values()),
        **dict(sorted(c.faults.items())),
        "lost": len(lost),
        "stuck": len(stuck),
        "duplicated": len(twice) + len(overlap),
        "emails": sum(mails.values()),
    }


def outputs_complete(c: Chaos, info: dict[str, str], attempt: int) -> bool:
    out = c.tmp / "files" / USER / "output" / info["name"] / "output"
    if info["kind"] == "box":
        result = out / "result.txt"
        return (
            result.exists()
            and result.read_text().strip() == f"attempt={attempt}"
            and (out / "size.txt").exists()
        )
    summary = out / "summary.json"
    if not summary.exists() or not (out / "per_file.json").exists():
        return False
    data = json.loads(summary.read_text())
    return data["attempt"] == str(attempt) and data["files"] == 3


def remove_job_containers(docker_host: str) -> None:
    import docker

    client = docker.DockerClient(base_url=docker_host)
    for container in client.containers.list(all=True, filters={"label": "labcloud.job"}):
        container.remove(force=True)
    client.close()
