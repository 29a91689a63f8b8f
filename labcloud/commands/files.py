"""`labcloud files ls|put|get|mv|rm|mkdir`: your files on the server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from labcloud.client import NotFoundError
from labcloud.commands.common import (
    EXIT_USAGE,
    AsJson,
    TransferBar,
    Url,
    client,
    err,
    handles_errors,
    out,
    print_json,
)

files_app = typer.Typer(
    help="Your files: config/, data/, artifact/ (uploads) and output/, log/ (job results).",
    no_args_is_help=True,
)

RemotePath = Annotated[str, typer.Argument(help="A path such as data/exp1 (`/` is your root).")]


@files_app.command("ls")
@handles_errors
def ls(
    path: Annotated[str, typer.Argument(help="A folder, e.g. data/exp1.")] = "",
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Everything below.")] = False,
    exact: Annotated[
        bool, typer.Option("--bytes", help="Exact sizes in bytes (if the server tells them).")
    ] = False,
    url: Url = None,
    as_json: AsJson = False,
) -> None:
    """List a folder (folders end with `/`)."""
    entries = client(url).files.list(path, recursive=recursive, exact_sizes=exact or as_json)
    if as_json:
        print_json(entries)
        return
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column("size", justify="right", style="cyan")
    table.add_column("path")
    for entry in entries:
        size = str(entry.bytes) if exact and entry.bytes is not None else entry.size
        table.add_row(size, entry.path)
    out.print(table)


@files_app.command("put")
@handles_errors
def put(
    paths: Annotated[
        list[Path], typer.Argument(help="Local files and folders, then the remote folder.")
    ],
    destination: Annotated[str, typer.Argument(help="config/…, data/… or artifact/…")],
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Files sent at once.")] = 4,
    resume: Annotated[
        bool,
        typer.Option(help="Skip files already there with the same size and checksum."),
    ] = True,
    url: Url = None,
    as_json: AsJson = False,
) -> None:
    """Upload files and folders into a remote folder, like `cp -r`:
    `labcloud files put exp1 data` makes data/exp1/…. Re-running an interrupted
    upload sends only what is missing."""
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file or folder")
    lc = client(url)
    first = "checking what is already there" if resume else None
    with TransferBar("uploading", quiet=as_json, first=first) as bar:
        report = lc.files.upload(paths, destination, workers=jobs, resume=resume, progress=bar)
    if as_json:
        print_json(report)
        return
    line = f"Uploaded {len(report.uploaded)} file(s), {_size(report.bytes_sent)}, to {destination}"
    if report.skipped:
        line += f"; {len(report.skipped)} already there (same size and checksum) skipped"
    out.print(line + ".", markup=False)
    if resume and not report.resumable:
        err.print("(the server cannot give exact sizes and checksums: nothing was skipped)")


@files_app.command("get")
@handles_errors
def get(
    path: RemotePath,
    dest: Annotated[str, typer.Argument(help="Local folder or file name.")] = ".",
    url: Url = None,
    as_json: AsJson = False,
) -> None:
    """Download a file, or a folder (it stays a folder)."""
    lc = client(url)
    with TransferBar("downloading", quiet=as_json) as bar:
        written = lc.files.download(path, dest, progress=bar)
    if as_json:
        print_json({"remote": path, "local": str(written)})
    else:
        out.print(f"Downloaded {path} to {written}", markup=False)


@files_app.command("mv")
@handles_errors
def mv(
    path: RemotePath,
    new_path: Annotated[str, typer.Argument(help="The new path.")],
    url: Url = None,
    as_json: AsJson = False,
) -> None:
    """Rename (move) a file or an empty folder."""
    entry = client(url).files.rename(path, new_path)
    if as_json:
        print_json(entry)
    else:
        out.print(f"{path} → {entry.path}", markup=False)


@files_app.command("rm")
@handles_errors
def rm(
    paths: Annotated[list[str], typer.Argument(help="Files or folders.")],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Folders too, with what is in them.")
    ] = False,
    url: Url = None,
    as_json: AsJson = False,
) -> None:
    """Delete files (and folders with -r). A predefined folder such as data/ is emptied."""
    lc = client(url)
    removed = []
    for path in paths:
        if not path.strip("/. "):
            err.print("labcloud: refusing to delete all your files; name the folders instead")
            raise typer.Exit(EXIT_USAGE)
        entry = lc.files.stat(path)
        if entry is None:
            raise NotFoundError(f"'{path}' not found")
        if entry.is_dir and not recursive:
            err.print(f"labcloud: '{path}' is a folder: use -r to delete it with its contents")
            raise typer.Exit(EXIT_USAGE)
        lc.files.delete(path)
        removed.append(entry.path or "/")
    if as_json:
        print_json({"deleted": removed})
    else:
        for path in removed:
            out.print(f"deleted {path}", markup=False)


@files_app.command("mkdir")
@handles_errors
def mkdir(path: RemotePath, url: Url = None, as_json: AsJson = False) -> None:
    """Create a folder (and its parents) below config/, data/ or artifact/."""
    entry = client(url).files.mkdir(path)
    if as_json:
        print_json(entry)
    else:
        out.print(f"created {entry.path}", markup=False)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"
