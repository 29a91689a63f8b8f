"""The client commands of `labcloud` (login, files, apps, run, jobs, download), built on
the SDK in `labcloud.client`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from labcloud.commands import account, files, jobs
from labcloud.commands.common import EXIT_CODES_HELP

PANEL = "Use a labcloud server"


def register(app: typer.Typer) -> None:
    """Add the client commands to the `labcloud` command, and their exit codes to its help."""
    commands: list[tuple[str, Callable[..., Any]]] = [
        ("login", account.login),
        ("logout", account.logout),
        ("whoami", account.whoami),
        ("apps", jobs.apps),
        ("run", jobs.run),
        ("download", jobs.download),
    ]
    for name, command in commands:
        app.command(name, rich_help_panel=PANEL)(command)
    app.add_typer(files.files_app, name="files", rich_help_panel=PANEL)
    app.add_typer(jobs.jobs_app, name="jobs", rich_help_panel=PANEL)
    app.info.epilog = EXIT_CODES_HELP
