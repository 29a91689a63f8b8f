"""`labcloud admin users`: operators list, disable, enable and delete accounts through
the user API's `/admin/users` endpoints (with the internal API key, never the database).

Exit codes: 0 done; 1 an account was not found or the API refused; 2 no API key;
3 the API key was refused.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.table import Table

from labcloud.admin_options import DEFAULT_URL, AsJson, Key, Url
from shared.auth.api_key import HEADER

users_app = typer.Typer(
    help="Accounts: list, disable, enable and delete them (the user API's /admin/users).",
    no_args_is_help=True,
)

Usernames = Annotated[list[str], typer.Argument(help="Account names.")]


def _request(method: str, path: str, url: str, key: str, **kwargs: Any) -> httpx.Response:
    if not key:
        typer.echo("labcloud admin users: set INTERNAL_API_KEY_SECRET (or --api-key)", err=True)
        raise typer.Exit(2)
    try:
        response = httpx.request(
            method, url.rstrip("/") + path, headers={HEADER: key}, timeout=120, **kwargs
        )
    except httpx.HTTPError as exc:
        typer.echo(f"labcloud admin users: cannot reach {url}: {exc}", err=True)
        raise typer.Exit(1) from None
    if response.status_code == 401:
        typer.echo("labcloud admin users: the user API refused the API key", err=True)
        raise typer.Exit(3)
    return response


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))[:300]
    except ValueError:
        return response.text[:300]


@users_app.command("list")
def list_users(
    standing: Annotated[
        str | None,
        typer.Option(
            help="Only accounts that are active, disabled or closed (closed ones "
            "only when asked for)."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    url: Url = DEFAULT_URL,
    api_key: Key = "",
    as_json: AsJson = False,
) -> None:
    """List accounts by name."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if standing:
        params["standing"] = standing
    response = _request("GET", "/admin/users", url, api_key, params=params)
    if response.status_code != 200:
        typer.echo(f"labcloud admin users: {_detail(response)}", err=True)
        raise typer.Exit(1)
    rows = response.json()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("account", "email", "groups", "standing", "created")
    for row in rows:
        table.add_row(
            row["username"],
            row.get("email") or "",
            ",".join(row["groups"]),
            row["standing"],
            str(row["created_at"]),
        )
    Console().print(table)
    typer.echo(f"{len(rows)} account(s)", err=True)


def _each(
    usernames: list[str], method: str, action: str, done: str, url: str, key: str, as_json: bool
) -> None:
    """Do `action` to each account; report each; exit 1 if any was not done."""
    results = []
    for name in usernames:
        response = _request(method, f"/admin/users/{quote(name, safe='')}{action}", url, key)
        ok = response.status_code in (200, 204)
        results.append(
            {
                "username": name,
                "http_status": response.status_code,
                "done": ok,
                **({} if ok else {"detail": _detail(response)}),
            }
        )
    if as_json:
        typer.echo(json.dumps(results, indent=2))
    else:
        for r in results:
            typer.echo(
                f"{r['username']}: {done}"
                if r["done"]
                else f"{r['username']}: not {done}: {r['detail']}"
            )
    raise typer.Exit(0 if all(r["done"] for r in results) else 1)


@users_app.command("disable")
def disable(
    usernames: Usernames, url: Url = DEFAULT_URL, api_key: Key = "", as_json: AsJson = False
) -> None:
    """Disable accounts: they cannot sign in, and their tokens are refused at once.
    Their files and jobs stay."""
    _each(usernames, "POST", "/disable", "disabled", url, api_key, as_json)


@users_app.command("enable")
def enable(
    usernames: Usernames, url: Url = DEFAULT_URL, api_key: Key = "", as_json: AsJson = False
) -> None:
    """Enable accounts again: they can sign in (tokens from before stay refused)."""
    _each(usernames, "POST", "/enable", "enabled", url, api_key, as_json)


@users_app.command("delete")
def delete(
    usernames: Usernames,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    url: Url = DEFAULT_URL,
    api_key: Key = "",
    as_json: AsJson = False,
) -> None:
    """Delete accounts with all their files and jobs (running ones are cancelled); their
    tokens are refused at once. The names may be registered again, as new accounts."""
    if not yes:
        typer.confirm(
            f"Delete {', '.join(usernames)} with all files and jobs?", abort=True, err=True
        )
    _each(usernames, "DELETE", "", "deleted", url, api_key, as_json)
