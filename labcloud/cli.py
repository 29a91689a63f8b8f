"""The `labcloud` command: start each part of the platform, or all of it at once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labcloud.admin import admin_app
from labcloud.backup_cli import backup_command, restore_command
from labcloud.commands import register as register_client_commands
from shared.logs import configure_logging

app = typer.Typer(
    help="labcloud: a job platform for scientists. `labcloud up` runs everything locally.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
register_client_commands(app)  # login, files, apps, run, jobs, download
app.command("backup")(backup_command)
app.command("restore")(restore_command)

Host = Annotated[str, typer.Option(help="Interface to listen on.")]
LogLevel = Annotated[str, typer.Option(help="debug, info, warning or error.")]


def _logging(level: str) -> None:
    configure_logging(level)


Migrate = Annotated[bool, typer.Option(help="Apply database migrations first.")]


def _serve_api(package: str, host: str, port: int, migrate: bool, log_level: str) -> None:
    """Run `<package>.main:create_app` with settings from the environment and .env."""
    import importlib

    import uvicorn

    from shared.api.header_limit import uvicorn_options

    _logging(log_level)
    settings = importlib.import_module(f"{package}.settings").load_settings()
    configure_logging(log_level, settings.log_format)  # LOG_FORMAT=json: JSON lines
    if "cloud_poller_api_url" in type(settings).model_fields:
        if "cloud_poller_api_url" not in settings.model_fields_set:
            # In-process cloud pollers call this very server.
            loopback = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            settings.cloud_poller_api_url = f"http://{loopback}:{port}"
    if migrate:
        importlib.import_module(f"{package}.db.session").upgrade(settings.db_url)
    app_ = importlib.import_module(f"{package}.main").create_app(settings)
    # JSON logs: uvicorn's own loggers go through the root handler (JSON) too.
    log_config = None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG
    uvicorn.run(
        app_,
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=True,
        log_config=log_config,
        # Open log streams (SSE) would otherwise hold a stop until their jobs end.
        timeout_graceful_shutdown=10,
        **uvicorn_options(settings.max_request_header_bytes),  # MAX_REQUEST_HEADER_BYTES
    )


@app.command("user-api")
def user_api(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    migrate: Migrate = False,
    log_level: LogLevel = "info",
) -> None:
    """Run the user-facing API (settings from the environment and .env)."""
    _serve_api("userfacing_api", host, port, migrate, log_level)


@app.command("worker-api")
def worker_api(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8001,
    migrate: Migrate = False,
    log_level: LogLevel = "info",
) -> None:
    """Run the worker-facing API (settings from the environment and .env)."""
    _serve_api("workerfacing_api", host, port, migrate, log_level)


@app.command("worker")
def worker(log_level: LogLevel = "info") -> None:
    """Run a worker on this machine: it polls the worker API and runs jobs
    (settings from the environment and .env; see README)."""
    from worker.main import run_worker

    _logging(log_level)
    raise typer.Exit(run_worker())


@db_app.command("upgrade")
def db_upgrade(
    which: Annotated[str, typer.Argument(help="user, worker or all")] = "all",
    create_database: Annotated[
        bool,
        typer.Option(help="PostgreSQL: first create the database DATABASE_URL names, if missing."),
    ] = False,
) -> None:
    """Apply pending migrations to the databases named by DATABASE_URL settings."""
    if which not in ("user", "worker", "all"):
        raise typer.BadParameter("choose user, worker or all", param_hint="WHICH")
    from shared.db import create_database as create

    if which in ("user", "all"):
        from userfacing_api.db.session import upgrade
        from userfacing_api.settings import load_settings

        url = load_settings().db_url
        if create_database and create(url):
            typer.echo("user database: created")
        upgrade(url)
        typer.echo("user database: up to date")
    if which in ("worker", "all"):
        from workerfacing_api.db.session import upgrade as worker_upgrade
        from workerfacing_api.settings import load_settings as load_worker_settings

        url = load_worker_settings().db_url
        if create_database and create(url):
            typer.echo("worker database: created")
        worker_upgrade(url)
        typer.echo("worker database: up to date")


@app.command("metrics-emf")
def metrics_emf(
    url: Annotated[str, typer.Option(help="The Prometheus endpoint to read.")],
    metric: Annotated[list[str], typer.Option(help="A metric family to send (repeat).")],
    namespace: Annotated[str, typer.Option(help="CloudWatch namespace.")] = "labcloud",
    dimension: Annotated[
        list[str] | None, typer.Option(help="A fixed NAME=VALUE dimension (repeat).")
    ] = None,
    interval: Annotated[float, typer.Option(help="Seconds between reads.", min=1)] = 60.0,
    once: Annotated[bool, typer.Option(help="Read once and exit.")] = False,
    api_key_env: Annotated[
        str,
        typer.Option(
            help="Variable holding the API key /metrics asks for, or its Secrets Manager ARN."
        ),
    ] = "INTERNAL_API_KEY_SECRET",
) -> None:
    """Print Prometheus gauges as CloudWatch EMF lines (a sidecar with the awslogs driver
    turns them into CloudWatch metrics)."""
    import os

    from labcloud.emf import parse_dimensions, run

    try:
        dimensions = parse_dimensions(dimension or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--dimension") from None
    from shared import secrets

    _logging("warning")
    key = os.environ.get(api_key_env)
    api_key = secrets.resolve(key) if key else None  # the value, or a Secrets Manager ARN
    rounds = run(
        url, metric, namespace, dimensions, api_key=api_key, interval_s=interval, once=once
    )
    raise typer.Exit(0 if rounds or not once else 1)


@app.command("up")
def up(
    data_dir: Annotated[Path, typer.Option(help="Where databases and files live.")] = Path(
        "labcloud-data"
    ),
    host: Host = "127.0.0.1",
    user_port: Annotated[int, typer.Option(help="User API port.")] = 8000,
    worker_port: Annotated[int, typer.Option(help="Worker API port.")] = 8001,
    demo: Annotated[
        bool, typer.Option(help="Also upload sample data and run the demo job.")
    ] = False,
    log_level: LogLevel = "warning",
    backup_to: Annotated[
        str | None,
        typer.Option(
            help="Back the data directory up periodically to this folder or s3:// URL "
            "(LABCLOUD_BACKUP_TO)."
        ),
    ] = None,
    backup_interval: Annotated[
        float | None, typer.Option(help="Seconds between backups (LABCLOUD_BACKUP_INTERVAL).")
    ] = None,
    backup_keep: Annotated[
        int | None, typer.Option(help="Backups to keep (LABCLOUD_BACKUP_KEEP).")
    ] = None,
) -> None:
    """Run the whole platform locally: SQLite, local files, both APIs and a worker."""
    from labcloud.backup_schedule import BackupSettings
    from labcloud.embedded import run_embedded
    from shared.settings import load

    _logging(log_level)
    given = {"to": backup_to, "interval": backup_interval, "keep": backup_keep}
    backups = load(BackupSettings, **{k: v for k, v in given.items() if v is not None})
    raise typer.Exit(run_embedded(data_dir, host, user_port, worker_port, demo, log_level, backups))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
