"""`labcloud backup DEST` and `labcloud restore SRC` (see labcloud.backups)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from labcloud.backup_targets import open_target
from labcloud.backups import BackupError, Summary, backup, restore
from labcloud.backups import Progress as Progress_

DataDir = Annotated[Path, typer.Option(help="The data directory, as for `labcloud up`.")]
Json = Annotated[bool, typer.Option("--json", help="Print the summary as JSON (no progress).")]


def _run(action: Callable[[Progress_ | None], Summary], as_json: bool) -> Summary:
    console = Console(stderr=True)
    try:
        if as_json:
            return action(None)
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("", total=None)

            def progress(rel: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=rel[-40:])

            return action(progress)
    except (BackupError, ValueError, OSError) as exc:
        typer.echo(f"labcloud: {exc}", err=True)
        raise typer.Exit(2) from None


def _print(summary: Summary, as_json: bool, verb: str) -> None:
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
        return
    c = summary.counts
    typer.echo(
        f"{verb} {summary.location}: {summary.files} files, {summary.bytes:,} bytes "
        f"({summary.reused} reused); {c.get('users', 0)} users, {c.get('jobs', 0)} jobs"
    )


def backup_command(
    dest: Annotated[str, typer.Argument(help="A folder, or s3://bucket/prefix.")],
    data_dir: DataDir = Path("labcloud-data"),
    keep: Annotated[
        int | None, typer.Option(help="Then delete all but the newest KEEP backups.", min=1)
    ] = None,
    as_json: Json = False,
) -> None:
    """Back up a `labcloud up` data directory (both databases, the users' files, the
    secrets) while it runs, to a folder or S3."""
    summary = _run(lambda p: backup(data_dir, open_target(dest), keep=keep, progress=p), as_json)
    _print(summary, as_json, "backed up to")


def restore_command(
    src: Annotated[
        str,
        typer.Argument(help="A backup, or a folder or s3:// prefix of backups (the newest)."),
    ],
    data_dir: DataDir = Path("labcloud-data"),
    as_json: Json = False,
) -> None:
    """Restore a backup into an empty (or new) data directory, checking every file."""
    location, name = src.rstrip("/"), None
    last = location.rsplit("/", 1)[-1]
    if last.startswith("labcloud-backup-"):  # one backup named: its parent holds it
        location, name = location[: -len(last) - 1], last
    summary = _run(
        lambda p: restore(open_target(location), data_dir, name=name, progress=p), as_json
    )
    _print(summary, as_json, "restored from")
