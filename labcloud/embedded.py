"""`labcloud up`: the whole platform in one process, for one machine.

SQLite and local files under one data directory, secrets generated once and kept
there (mode 0600), a demo account, and the APIs served by uvicorn in one event
loop. Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from rich.console import Console

from userfacing_api.db.session import upgrade as upgrade_user_db
from userfacing_api.main import create_app as create_user_app
from userfacing_api.settings import UserAPISettings

console = Console(stderr=True)
PACKAGED_CONFIG = Path(__file__).with_name("application_config.yaml")
DEMO_USER = "demo@labcloud.local"


@dataclass(frozen=True)
class EmbeddedSecrets:
    token_secret: str
    api_key: str
    demo_password: str


def load_secrets(data_dir: Path) -> EmbeddedSecrets:
    """Secrets of this data directory, created on first use and readable only by you."""
    path = data_dir / "secrets.json"
    if path.exists():
        return EmbeddedSecrets(**json.loads(path.read_text()))
    created = EmbeddedSecrets(
        token_secret=secrets.token_urlsafe(48),
        api_key=secrets.token_urlsafe(32),
        demo_password="demo-" + secrets.token_urlsafe(9),
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(created.__dict__, fh)
    return created


def application_config_path() -> Path:
    """The catalogue in the current directory if there is one, else the packaged one."""
    local = Path("application_config.yaml")
    return local if local.exists() else PACKAGED_CONFIG


def user_settings(data_dir: Path, keys: EmbeddedSecrets, worker_url: str) -> UserAPISettings:
    return UserAPISettings(
        _env_file=None,  # type: ignore[call-arg]
        auth=True,
        auth_token_secret=keys.token_secret,
        database_url=f"sqlite:///{(data_dir / 'user.db').resolve()}",
        user_data_root_path=str((data_dir / "files").resolve()),
        internal_api_key_secret=keys.api_key,
        workerfacing_api_url=worker_url,
        application_config_file=str(application_config_path().resolve()),
        email_sender_service="console",
    )


def ensure_demo_account(settings: UserAPISettings, app_ctx: object, password: str) -> None:
    """Create the demo account with its folders, once."""
    from userfacing_api.db.models import User
    from userfacing_api.services import accounts
    from userfacing_api.services.files import UserFiles

    ctx = app_ctx  # AppContext
    with ctx.sessions() as session:  # type: ignore[attr-defined]
        if session.get(User, DEMO_USER) is None:
            accounts.register(session, DEMO_USER, password, ["users"], settings.password_min_length)
    UserFiles(ctx.storage, DEMO_USER).init()  # type: ignore[attr-defined]


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to us: one Ctrl-C must stop every server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(servers: list[uvicorn.Server]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    await stop.wait()
    console.print("[bold]stopping…[/bold]")
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)


def run_embedded(
    data_dir: Path, host: str, user_port: int, worker_port: int, demo: bool, log_level: str
) -> int:
    """Run until interrupted; returns the exit code."""
    data_dir = data_dir.resolve()
    keys = load_secrets(data_dir)
    settings = user_settings(data_dir, keys, f"http://{host}:{worker_port}")
    upgrade_user_db(settings.db_url)
    user_app = create_user_app(settings)
    ensure_demo_account(settings, user_app.state.ctx, keys.demo_password)

    server = _Server(uvicorn.Config(user_app, host=host, port=user_port, log_level=log_level))

    console.print(f"[bold green]labcloud is up[/bold green] (data in {data_dir})")
    console.print(f"  user API    http://{host}:{user_port}  (docs: /docs)")
    console.print(f"  demo login  {DEMO_USER} / {keys.demo_password}")
    console.print("  Ctrl-C stops everything.")
    asyncio.run(_serve([server]))
    return 0
