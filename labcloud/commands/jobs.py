"""`labcloud apps`, `run`, `jobs ls|show|logs|wait|cancel|rm` and `download`."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table
from rich.text import Text

from labcloud.client import AuthError, Client, Job, NotFoundError
from labcloud.commands.common import (
    EXIT_JOB_FAILED,
    EXIT_OK,
    AsJson,
    TransferBar,
    Url,
    client,
    err,
    handles_errors,
    out,
    print_json,
)

jobs_app = typer.Typer(help="Your jobs: list, show, follow, cancel, delete.", no_args_is_help=True)

JobArg = Annotated[str, typer.Argument(help="The job's id or name.", show_default=False)]
WAIT_POLL_MAX = 5.0  # seconds between status checks at most, once a job has run a while
STATUS_STYLE = {"finished": "green", "error": "red", "canceled": "yellow"}


def _exit_for(job: Job) -> int:
    return EXIT_OK if job.succeeded else EXIT_JOB_FAILED


def _since(start: dt.datetime | None, end: dt.datetime | None = None) -> str:
    if start is None:
        return ""
    seconds = int(((end or dt.datetime.now(dt.UTC)) - start).total_seconds())
    minutes, s = divmod(max(seconds, 0), 60)
    h, m = divmod(minutes, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def _when(value: dt.datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


@handles_errors
def apps(url: Url = None, as_json: AsJson = False) -> None:
    """List the applications you can run (application, version, entrypoint)."""
    entrypoints = client(url).jobs.applications()
    if as_json:
        print_json(
            [
                {
                    "application": e.application,
                    "version": e.version,
                    "entrypoint": e.entrypoint,
                    "env": list(e.env),
                    "runner": e.runner,
                    "image_url": e.image_url,
                    "hardware": dict(e.hardware),
                    "timeout": e.timeout,
                }
                for e in entrypoints
            ]
        )
        return
    table = Table("application", "version", "entrypoint", "runs on", "needs", "variables")
    for e in entrypoints:
        hw = e.hardware
        needs = f"{hw.get('VCPU', '?')} CPU, {hw.get('MEMORY', '?')} MB"
        if hw.get("GPU"):
            needs += f", {hw['GPU']} GPU"
        table.add_row(
            e.application,
            e.version,
            e.entrypoint,
            e.image_url or e.runner or "docker",
            needs,
            ", ".join(e.env),
        )
    out.print(table)


class _StatusLine:
    """The live line of a waited-for job: its status and how long it has taken."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def __rich__(self) -> Text:
        job = self.job
        style = STATUS_STYLE.get(job.status, "cyan")
        text = Text(f"job {job.id} {job.name}: ")
        text.append(job.status, style=f"bold {style}")
        text.append(f"  {_since(job.date_created, job.date_finished)}", style="dim")
        return text


def wait_and_report(lc: Client, job: Job, as_json: bool) -> int:
    """Wait with a live status line (a line per change when not on a terminal), then
    say how it ended and where the results are; the exit code."""
    line = _StatusLine(job)
    live = Live(line, console=err, refresh_per_second=4, transient=True)
    live_on = err.is_terminal and not as_json

    def changed(current: Job) -> None:
        line.job = current
        if not live_on and not as_json:
            err.print(f"job {current.id} {current.name}: {current.status}", markup=False)

    try:
        if live_on:
            with live:
                final = lc.jobs.wait(job, callback=changed, max_interval=WAIT_POLL_MAX)
        else:
            final = lc.jobs.wait(job, callback=changed, max_interval=WAIT_POLL_MAX)
    except AuthError as exc:
        raise AuthError(
            f"{exc} — job {job.id} goes on: after logging in, "
            f"`labcloud jobs wait {job.id}` follows it again"
        ) from None
    if as_json:
        print_json(final)
        return _exit_for(final)
    took = _since(final.date_started or final.date_created, final.date_finished)
    style = STATUS_STYLE.get(final.status, "")
    out.print(
        f"job {final.id} {final.name} [bold {style}]{final.status}[/] after {took}",
        highlight=False,
    )
    if final.runtime_details and not final.succeeded:
        out.print(f"  {final.runtime_details.strip()}", markup=False)
    _print_results(final)
    return _exit_for(final)


def _print_results(job: Job) -> None:
    paths = [f"{p}/" for p in job.paths_out.values()]
    if job.status in ("finished", "error"):
        out.print(f"  results: {', '.join(paths)}", markup=False)
        out.print(f"  fetch them: labcloud download {job.id}", markup=False)


def _parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="--env")
        env[key] = value
    return env


@handles_errors
def run(
    application: Annotated[str, typer.Argument(help="e.g. demo (see `labcloud apps`).")],
    version: Annotated[str, typer.Argument(help="e.g. v1")],
    entrypoint: Annotated[str, typer.Argument(help="e.g. run")],
    data: Annotated[
        list[str] | None, typer.Option("--data", "-d", help="Input below data/ (repeatable).")
    ] = None,
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="Config file or folder below config/.")
    ] = None,
    artifact: Annotated[
        list[str] | None, typer.Option("--artifact", help="Input below artifact/ (repeatable).")
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", "-e", help="NAME=VALUE (repeatable).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Job name (names the result folders).")
    ] = None,
    gpu: Annotated[str | None, typer.Option("--gpu", help="GPU model the job needs.")] = None,
    gpu_archi: Annotated[str | None, typer.Option("--gpu-archi", help="GPU architecture.")] = None,
    gpu_mem: Annotated[int | None, typer.Option("--gpu-mem", help="GPU memory, MB.")] = None,
    cpus: Annotated[int | None, typer.Option("--cpus", help="CPU cores.")] = None,
    memory: Annotated[int | None, typer.Option("--memory", help="Memory, MB.")] = None,
    environment: Annotated[
        str | None, typer.Option("--environment", help="local or cloud (default: either).")
    ] = None,
    priority: Annotated[int, typer.Option(help="0 (default) to 5.")] = 0,
    wait: Annotated[
        bool, typer.Option("--wait", "-w", help="Wait for the end; exit 0 only if finished.")
    ] = False,
    url: Url = None,
    as_json: AsJson = False,
) -> None:
    """Start a job: APPLICATION VERSION ENTRYPOINT on your uploaded inputs."""
    lc = client(url)
    job = lc.jobs.submit(
        application,
        version,
        entrypoint,
        name=name,
        config=config,
        data=data or [],
        artifacts=artifact or [],
        env=_parse_env(env or []),
        hardware={
            "cpu_cores": cpus,
            "memory": memory,
            "gpu_model": gpu,
            "gpu_archi": gpu_archi,
            "gpu_mem": gpu_mem,
        },
        environment=environment,
        priority=priority,
    )
    if not wait:
        if as_json:
            print_json(job)
        else:
            out.print(f"job {job.id} {job.name}: {job.status}", markup=False)
            out.print(f"  follow it: labcloud jobs logs -f {job.id}", markup=False)
        return
    if not as_json:
        err.print(f"job {job.id} {job.name} submitted", markup=False)
    raise typer.Exit(wait_and_report(lc, job, as_json))


@jobs_app.command("ls")
@handles_errors
def ls(
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    url: Url = None,
    as_json: AsJson = False,
) -> None:
    """List your jobs, newest first."""
    jobs = client(url).jobs.list(limit=limit)
    if as_json:
        print_json(jobs)
        return
    table = Table("id", "name", "application", "status", "created", "took")
    for job in jobs:
        style = STATUS_STYLE.get(job.status, "")
        table.add_row(
            str(job.id),
            job.name,
            f"{job.application} {job.version} {job.entrypoint}",
            Text(job.status, style=style),
            _when(job.date_created),
            _since(job.date_started, job.date_finished) if job.date_started else "",
        )
    out.print(table)


@jobs_app.command("show")
@handles_errors
def show(job: JobArg, url: Url = None, as_json: AsJson = False) -> None:
    """Show one job: its request, status, times, results and status history."""
    lc = client(url)
    found = lc.jobs.get(job)
    try:
        history = lc.jobs.statuses(found)
    except NotFoundError:
        history = []  # a server without the status history
    if as_json:
        print_json({**found.raw, "statuses": history})
        return
    files_down = found.attributes.get("files_down") or {}
    rows: list[tuple[str, Any]] = [
        ("id", found.id),
        ("name", found.name),
        ("application", f"{found.application} {found.version} {found.entrypoint}"),
        ("status", Text(found.status, style=STATUS_STYLE.get(found.status, ""))),
        ("details", found.runtime_details or ""),
        ("created", _when(found.date_created)),
        ("started", _when(found.date_started)),
        ("ended", _when(found.date_finished)),
        ("config", files_down.get("config_id") or ""),
        ("data", ", ".join(files_down.get("data_ids") or [])),
        ("artifacts", ", ".join(files_down.get("artifact_ids") or [])),
        ("env", ", ".join(f"{k}={v}" for k, v in (found.attributes.get("env_vars") or {}).items())),
        ("hardware", ", ".join(f"{k}={v}" for k, v in (found.hardware or {}).items() if v)),
        ("results", ", ".join(f"{p}/" for p in found.paths_out.values())),
    ]
    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        if value not in ("", None):
            table.add_row(key, value if isinstance(value, Text) else str(value))
    out.print(table)
    if history:
        out.print("history:", style="bold")
        for change in history:
            details = f"  {change.runtime_details}" if change.runtime_details else ""
            out.print(f"  {_when(change.time)}  {change.status}{details}", markup=False)


@jobs_app.command("logs")
@handles_errors
def logs(
    job: JobArg,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")
    ] = False,
    url: Url = None,
    as_json: AsJson = False,
) -> None:
    """Print a job's console log; with -f, follow it live (the exit code then says how
    the job ended)."""
    lc = client(url)
    if not follow:
        log = lc.jobs.log(job)
        if as_json:
            print_json(log)
            return
        if log.truncated:
            err.print("(only the end of the log is kept)", style="dim")
        sys.stdout.write(log.text)
        sys.stdout.flush()
        return
    final = None
    for event in lc.jobs.follow(job):
        if as_json:
            print_json({"event": event.kind, "text": event.text, "status": event.status})
        elif event.kind == "log":
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif event.kind == "status":
            err.print(f"[status: {event.status}]", style="dim", markup=False)
        if event.kind == "end":
            final = event.status
    if not as_json:
        err.print(f"[job ended: {final}]", style=STATUS_STYLE.get(final or "", ""), markup=False)
    raise typer.Exit(EXIT_OK if final == "finished" else EXIT_JOB_FAILED)


@jobs_app.command("wait")
@handles_errors
def wait(job: JobArg, url: Url = None, as_json: AsJson = False) -> None:
    """Wait for a job to end (exit 0 if it finished, 1 if not)."""
    lc = client(url)
    raise typer.Exit(wait_and_report(lc, lc.jobs.get(job), as_json))


@jobs_app.command("cancel")
@handles_errors
def cancel(job: JobArg, url: Url = None, as_json: AsJson = False) -> None:
    """Stop a job; it turns `canceled` once its worker has stopped it."""
    found = client(url).jobs.cancel(job)
    if as_json:
        print_json(found)
    elif found.is_terminal:
        out.print(f"job {found.id} {found.name} had already ended: {found.status}", markup=False)
    else:
        out.print(f"job {found.id} {found.name}: cancel requested", markup=False)


@jobs_app.command("rm")
@handles_errors
def rm(
    jobs: Annotated[list[str], typer.Argument(help="Job ids or names.")],
    url: Url = None,
    as_json: AsJson = False,
) -> None:
    """Delete jobs and their results (a running job is stopped first)."""
    lc = client(url)
    deleted = []
    for ref in jobs:
        found = lc.jobs.get(ref)
        lc.jobs.delete(found)
        deleted.append({"id": found.id, "name": found.name})
    if as_json:
        print_json({"deleted": deleted})
    else:
        for item in deleted:
            out.print(f"deleted job {item['id']} {item['name']}", markup=False)


@handles_errors
def download(
    job: JobArg,
    dest: Annotated[Path, typer.Option("--to", help="Folder to put <job name>/ in.")] = Path("."),
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="output, log or artifact (repeatable; default all)."),
    ] = None,
    url: Url = None,
    as_json: AsJson = False,
) -> None:
    """Download a job's results into <job name>/, laid out as the application wrote them."""
    kinds = only or ["output", "log", "artifact"]
    for kind in kinds:
        if kind not in ("output", "log", "artifact"):
            raise typer.BadParameter("choose output, log or artifact", param_hint="--only")
    lc = client(url)
    found = lc.jobs.get(job)
    with TransferBar("downloading", quiet=as_json) as bar:
        target = lc.jobs.download(found, dest, kinds=kinds, progress=bar)
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    if as_json:
        print_json({"job": found.id, "name": found.name, "local": str(target), "files": files})
        return
    out.print(f"Downloaded {len(files)} file(s) of job {found.id} to {target}/", markup=False)
