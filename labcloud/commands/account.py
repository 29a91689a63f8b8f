"""`labcloud login`, `logout` and `whoami`."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import sys
from typing import Annotated

import typer

from labcloud.client import Client
from labcloud.commands.common import AsJson, Url, err, handles_errors, out, print_json

ENV_PASSWORD = "LABCLOUD_PASSWORD"


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if env := os.environ.get(ENV_PASSWORD):
        return env
    if not sys.stdin.isatty():
        raise typer.BadParameter(
            f"no terminal to ask for the password: use --password-stdin or ${ENV_PASSWORD}"
        )
    return getpass.getpass("Password: ")


def _until(expires_at: float | None) -> str:
    if expires_at is None:
        return "no expiry known"
    return f"valid until {dt.datetime.fromtimestamp(expires_at).astimezone():%Y-%m-%d %H:%M %Z}"


@handles_errors
def login(
    url: Url = None,
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="Your user name (email).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    token: Annotated[
        str | None,
        typer.Option("--token", help="Store this ready-made ID token instead.", show_default=False),
    ] = None,
    method: Annotated[
        str, typer.Option(help="auto, local (/token) or cognito (straight to the pool).")
    ] = "auto",
    as_json: AsJson = False,
) -> None:
    """Log in and keep the session in your config folder (file mode 0600).

    The password is asked for, or read from stdin (--password-stdin) or
    $LABCLOUD_PASSWORD; it is never stored. The server becomes the default for
    the other commands."""
    lc = Client(url, use_stored=False)
    if token:
        session = lc.use_token(token, save=True)
    else:
        if method not in ("auto", "local", "cognito"):
            raise typer.BadParameter("choose auto, local or cognito", param_hint="--method")
        if not username:
            username = typer.prompt("User name")
        session = lc.login(username, _password(password_stdin), method=method, save=True)
    if as_json:
        print_json(
            {
                "url": lc.url,
                "username": session.username,
                "expires_at": session.expires_at,
                "method": session.method,
                "credentials": str(lc.store.path),
            }
        )
        return
    who = f" as {session.username}" if session.username else ""
    out.print(f"Logged in to {lc.url}{who} ({_until(session.expires_at)}).", markup=False)
    err.print(f"Session kept in {lc.store.path}", markup=False, style="dim")


@handles_errors
def logout(url: Url = None) -> None:
    """Forget the stored session for the server."""
    lc = Client(url, use_stored=False)
    if lc.logout():
        out.print(f"Logged out of {lc.url}.", markup=False)
    else:
        out.print(f"No session stored for {lc.url}.", markup=False)


@handles_errors
def whoami(url: Url = None, as_json: AsJson = False) -> None:
    """Show who you are logged in as (checks the session with the server)."""
    lc = Client(url)
    me = lc.whoami()
    session = lc.session
    if as_json:
        print_json({"url": lc.url, **me, "expires_at": session.expires_at if session else None})
        return
    out.print(
        f"{me.get('email') or (session.username if session else '?')} on {lc.url} "
        f"(groups: {', '.join(me.get('groups') or []) or 'none'}; "
        f"{_until(session.expires_at if session else None)})",
        markup=False,
    )
