"""`labcloud up`: the whole platform in one process, for one machine.

SQLite and local files under one data directory, private to the service (umask
077, and an existing directory tightened at start: see `labcloud.data_dir`), secrets
generated once and kept there (mode 0600), a demo account, and the APIs served by
uvicorn in one event loop. Ctrl-C stops everything; the jobs the local worker runs go
back to the queue and run again at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from rich.console import Console

from labcloud.backup_schedule import BackupSettings, PeriodicBackup
from labcloud.data_dir import PRIVATE_UMASK, make_private
from labcloud.demo_run import run_demo
from shared.api.header_limit import uvicorn_options
from shared.transport.memory import MemoryTransport
from userfacing_api.context import AppContext
from userfacing_api.db.models import User
from userfacing_api.db.session import upgrade as upgrade_user_db
from userfacing_api.main import create_app as create_user_app
from userfacing_api.services import accounts
from userfacing_api.services.files import UserFiles
from userfacing_api.settings import UserAPISettings
from worker.loop import Worker
from worker.settings import WorkerSettings
from workerfacing_api.db.session import upgrade as upgrade_worker_db
from workerfacing_api.main import create_app as create_worker_app
from workerfacing_api.settings import WorkerAPISettings

console = Console(stderr=True)
PACKAGED_CONFIG = Path(__file__).with_name("application_config.yaml")
DEMO_USER = "demo@labcloud.local"
WORKER_USER = "local-worker"
STOP_TIMEOUT_S = 30


@dataclass(frozen=True)
class EmbeddedSecrets:
    token_secret: str
    api_key: str
    demo_password: str
    worker_password: str


def load_secrets(data_dir: Path) -> EmbeddedSecrets:
    """Secrets of this data directory, created on first use and readable only by you."""
    path = data_dir / "secrets.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    fresh = {
        "token_secret": secrets.token_urlsafe(48),
        "api_key": secrets.token_urlsafe(32),
        "demo_password": "demo-" + secrets.token_urlsafe(9),
        "worker_password": "worker-" + secrets.token_urlsafe(18),
    }
    values = {name: stored.get(name) or value for name, value in fresh.items()}
    if values != stored:
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(values, fh)
        os.replace(tmp, path)
    return EmbeddedSecrets(**values)


def application_config_path() -> Path:
    """The catalogue in the current directory if there is one, else the packaged one."""
    local = Path("application_config.yaml")
    return local if local.exists() else PACKAGED_CONFIG


@dataclass(frozen=True)
class Embedded:
    """The settings of every part, derived from one data directory and its secrets."""

    user: UserAPISettings
    worker_api: WorkerAPISettings
    worker: WorkerSettings


def embedded_settings(
    data_dir: Path, keys: EmbeddedSecrets, host: str, user_port: int, worker_port: int
) -> Embedded:
    files = str((data_dir / "files").resolve())
    user_url, worker_url = f"http://{host}:{user_port}", f"http://{host}:{worker_port}"
    user = UserAPISettings(
        _env_file=None,  # type: ignore[call-arg]
        auth=True,
        auth_token_secret=keys.token_secret,
        database_url=f"sqlite:///{(data_dir / 'user.db').resolve()}",
        user_data_root_path=files,
        internal_api_key_secret=keys.api_key,
        workerfacing_api_url=worker_url,
        job_transport="memory",
        application_config_file=str(application_config_path().resolve()),
        email_sender_service="console",
    )
    worker_api = WorkerAPISettings(
        _env_file=None,  # type: ignore[call-arg]
        auth=True,
        auth_token_secret=keys.token_secret,
        database_url=f"sqlite:///{(data_dir / 'worker.db').resolve()}",
        user_data_root_path=files,
        internal_api_key_secret=keys.api_key,
        userfacing_api_url=user_url,
    )
    worker = WorkerSettings(
        _env_file=None,  # type: ignore[call-arg]
        api_url=worker_url,
        auth_url=user_url,
        username=WORKER_USER,
        password=keys.worker_password,
        scratch_dir=data_dir / "jobs",
        heartbeat_interval=5,
    )
    return Embedded(user, worker_api, worker)


def ensure_accounts(ctx: AppContext, keys: EmbeddedSecrets, min_length: int) -> None:
    """The demo account (with its folders) and the local worker's account, once."""
    with ctx.sessions() as session:
        for username, password, groups in (
            (DEMO_USER, keys.demo_password, ["users"]),
            (WORKER_USER, keys.worker_password, ["workers"]),
        ):
            if session.get(User, username) is None:
                accounts.register(session, username, password, groups, min_length)
    UserFiles(ctx.storage, DEMO_USER).init()


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to us: one Ctrl-C must stop every server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(
    servers: list[_Server], after_start: list[Callable[[], object]], on_stop: Callable[[], None]
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    while not all(s.started for s in servers):
        if any(t.done() for t in tasks):  # e.g. a port in use
            stop.set()
            break
        await asyncio.sleep(0.05)
    helpers = (
        [] if stop.is_set() else [asyncio.create_task(asyncio.to_thread(fn)) for fn in after_start]
    )
    await stop.wait()
    await asyncio.to_thread(on_stop)
    # The worker hands its jobs back through the worker API: let it finish before
    # the servers go away.
    if helpers:
        await asyncio.wait(helpers, timeout=STOP_TIMEOUT_S)
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)


def run_embedded(
    data_dir: Path,
    host: str,
    user_port: int,
    worker_port: int,
    demo: bool,
    log_level: str,
    backups: BackupSettings | None = None,
) -> int:
    """Run until interrupted; returns the exit code."""
    os.umask(PRIVATE_UMASK)  # for the whole process: databases, logs, files, job folders
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if changed := make_private(data_dir):
        console.print(f"made {changed} files and folders in {data_dir} private (0600/0700)")
    keys = load_secrets(data_dir)
    parts = embedded_settings(data_dir, keys, host, user_port, worker_port)
    upgrade_user_db(parts.user.db_url)
    upgrade_worker_db(parts.worker_api.db_url)

    transport = MemoryTransport()
    user_app = create_user_app(parts.user, transport=transport)
    worker_app = create_worker_app(parts.worker_api)
    transport.attach(worker_app.state.ctx.handle_message)
    ensure_accounts(user_app.state.ctx, keys, parts.user.password_min_length)
    local_worker = Worker(parts.worker)

    servers = [
        _Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level=log_level,
                **uvicorn_options(settings.max_request_header_bytes),
            )
        )
        for app, port, settings in (
            (user_app, user_port, parts.user),
            (worker_app, worker_port, parts.worker_api),
        )
    ]
    after_start: list[Callable[[], object]] = [local_worker.run]
    user_url = f"http://{host}:{user_port}"
    if demo:
        after_start.append(lambda: run_demo(user_url, DEMO_USER, keys.demo_password, console))

    console.print(f"[bold green]labcloud is up[/bold green] (data in {data_dir})")
    console.print(f"  web page    {user_url}/ui")
    console.print(f"  user API    {user_url}  (docs: {user_url}/docs)")
    console.print(f"  worker API  http://{host}:{worker_port}")
    console.print(f"  worker      local, runners: {parts.worker.runners}")
    console.print(f"  demo login  {DEMO_USER} / {keys.demo_password}")
    periodic = PeriodicBackup(data_dir, backups) if backups and backups.to else None
    if periodic is not None:
        every = f"every {backups.interval:g} s, keeping {backups.keep}"  # type: ignore[union-attr]
        console.print(f"  backups     {periodic.target.describe()} ({every})")
        after_start.append(periodic.start)
    console.print("  Ctrl-C stops everything.")

    def on_stop() -> None:
        console.print(f"[bold]{stop_notice(len(local_worker.running_jobs))}[/bold]")
        local_worker.stop(drain=False)
        if periodic is not None:
            periodic.stop()

    asyncio.run(_serve(servers, after_start, on_stop))
    return 0


def stop_notice(running: int) -> str:
    """What Ctrl-C does to the jobs the local worker runs: they go back to the queue
    (a hand-back costs them no attempt) and run again at the next start."""
    if not running:
        return "stopping…"
    jobs, them = ("1 running job", "it") if running == 1 else (f"{running} running jobs", "they")
    return f"stopping: handing {jobs} back to the queue ({them} will be run again)"
