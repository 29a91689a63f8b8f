"""What the client commands share: the server option, the SDK client, exit codes,
errors printed the same way, JSON output and transfer progress bars."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from labcloud.client import (
    AuthError,
    Client,
    ConnectionFailed,
    LabcloudError,
    NotFoundError,
    RequestRejected,
    ServerError,
    TransferEvent,
)
from labcloud.client.config import ENV_URL

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_SERVER = 5
EXIT_REJECTED = 6

EXIT_CODES_HELP = (
    "Exit codes of the client commands (login, files, apps, run, jobs, download): "
    "0 done (a waited-for job finished); 1 the job ended in error or was canceled; "
    "2 wrong command line; 3 not logged in, wrong password or session expired; "
    "4 no such file, folder, job or application; 5 server or connection error; "
    "6 the server refused the request (invalid input, name taken)."
)

Url = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar=ENV_URL,
        help="The user API, e.g. http://127.0.0.1:8000 (default: the last `labcloud login`).",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON on stdout, for scripts.")]

err = Console(stderr=True, highlight=False)
out = Console(highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def exit_code(error: BaseException) -> int:
    """The exit code for an error of the SDK (or a missing local path)."""
    if isinstance(error, AuthError):
        return EXIT_AUTH
    if isinstance(error, (NotFoundError, FileNotFoundError)):
        return EXIT_NOT_FOUND
    if isinstance(error, RequestRejected):
        return EXIT_REJECTED
    if isinstance(error, (ServerError, ConnectionFailed)):
        return EXIT_SERVER
    return EXIT_SERVER


def handles_errors(fn: F) -> F:
    """Run a command: an SDK error is printed as one line on stderr and becomes its
    exit code; Ctrl-C exits with 130."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (LabcloudError, FileNotFoundError) as exc:
            message = str(exc) if isinstance(exc, LabcloudError) else exc.args[0]
            err.print(f"labcloud: {message}", markup=False)
            raise typer.Exit(exit_code(exc)) from None
        except KeyboardInterrupt:
            err.print("labcloud: interrupted")
            raise typer.Exit(130) from None

    return run  # type: ignore[return-value]


def client(url: str | None) -> Client:
    """The SDK client for `--url` / $LABCLOUD_URL / the last login, with its session."""
    return Client(url)


def to_jsonable(value: Any) -> Any:
    """Dataclasses (minus their `raw` copy where the raw JSON is better) as JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        raw = getattr(value, "raw", None)
        if raw:
            return raw
        return {k: to_jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "__fspath__"):
        return str(value)
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


class TransferBar:
    """A rich progress bar (bytes, rate, time left) fed by the SDK's TransferEvents.

    Drawn on stderr, and only on a terminal (never with --json)."""

    def __init__(self, verb: str, quiet: bool = False, first: str | None = None) -> None:
        self.verb = verb
        self.files_done = 0
        self.files_total = 0
        self.skipped = 0
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=quiet or not err.is_terminal,
            transient=False,
        )
        self._task = self._progress.add_task(first or verb, total=None)

    def __enter__(self) -> TransferBar:
        self._progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._progress.stop()

    def _describe(self) -> str:
        return f"{self.verb} {self.files_done}/{self.files_total} files"

    def __call__(self, event: TransferEvent) -> None:
        task = self._progress.tasks[0]
        if event.kind == "plan":
            self.files_total += event.files
            self.skipped += event.skipped
            total = (task.total or 0) + event.bytes
            self._progress.update(self._task, total=total, description=self._describe())
        elif event.kind == "progress":
            self._progress.advance(self._task, event.bytes)
        elif event.kind == "done":
            self.files_done += 1
            self._progress.update(self._task, description=self._describe())
