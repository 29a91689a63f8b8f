"""`labcloud admin quotas`: operators set storage quotas per user and per group, through
the user API's `/admin/quotas` endpoints with the internal API key (never the database)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.table import Table

from labcloud.admin_options import DEFAULT_URL, AsJson, Key, Url
from shared.api.limits import size_text
from shared.auth.api_key import HEADER

quotas_app = typer.Typer(
    help="Storage quotas: the default, and quotas per user or per group.", no_args_is_help=True
)

User = Annotated[str | None, typer.Option("--user", help="The user (account name).")]
Group = Annotated[str | None, typer.Option("--group", help="The group.")]

_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """`1234`, `500MB`, `50GiB`, `1.5T` → bytes (k, M, G, T: powers of 1000; with `i`: 1024)."""
    match = _SIZE.match(text)
    if match is None:
        raise typer.BadParameter(f"not a size: {text!r} (e.g. 500MB, 50GiB, 1T, 1048576)")
    number, unit, binary = match.groups()
    unit = unit.lower()
    if binary and not unit:
        raise typer.BadParameter(f"not a size: {text!r}")
    factor = 1024 ** "_kmgt".index(unit) if binary else _UNITS[unit]
    return int(float(number) * factor)


def _target(user: str | None, group: str | None) -> str:
    if (user is None) == (group is None):
        raise typer.BadParameter("give exactly one of --user and --group")
    if user is not None:
        return f"/admin/quotas/users/{quote(user, safe='')}"
    return f"/admin/quotas/groups/{quote(str(group), safe='')}"


def _call(url: str, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    if not key:
        typer.echo("labcloud admin: set INTERNAL_API_KEY_SECRET (or --api-key)", err=True)
        raise typer.Exit(2)
    try:
        with httpx.Client(base_url=url.rstrip("/"), headers={HEADER: key}, timeout=30) as http:
            response = http.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        typer.echo(f"labcloud admin: cannot reach {url}: {exc}", err=True)
        raise typer.Exit(1) from None
    if not response.is_success:
        typer.echo(
            f"labcloud admin: the user API answered {response.status_code}: "
            f"{response.text[:300]}",
            err=True,
        )
        raise typer.Exit(3 if response.status_code == 401 else 1)
    return response


@quotas_app.command("list")
def list_quotas(url: Url = DEFAULT_URL, api_key: Key = "", as_json: AsJson = False) -> None:
    """The default quota (STORAGE_QUOTA_BYTES) and every quota set per user or group."""
    body = _call(url, api_key, "GET", "/admin/quotas").json()
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    typer.echo(f"default: {size_text(body['default_bytes'])}")
    table = Table("kind", "name", "quota", "set at")
    for row in body["quotas"]:
        table.add_row(row["kind"], row["name"], size_text(row["quota_bytes"]), row["updated_at"])
    Console().print(table)


@quotas_app.command("show")
def show(
    username: Annotated[str, typer.Argument(help="The user.")],
    url: Url = DEFAULT_URL,
    api_key: Key = "",
    as_json: AsJson = False,
) -> None:
    """A user's quota, where it comes from, and how much they use."""
    body = _call(url, api_key, "GET", f"/admin/quotas/users/{quote(username, safe='')}").json()
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    typer.echo(
        f"{body['username']}: {size_text(body['used_bytes'])} used of "
        f"{size_text(body['quota_bytes'])} (quota from: {body['source']})"
    )


@quotas_app.command("set")
def set_quota(
    size: Annotated[str, typer.Argument(help="The quota: bytes, or e.g. 500MB, 50GiB, 2T.")],
    user: User = None,
    group: Group = None,
    url: Url = DEFAULT_URL,
    api_key: Key = "",
    as_json: AsJson = False,
) -> None:
    """Give one user, or the members of one group, a quota of their own. A user's own
    quota wins over their groups'; of several groups', the largest."""
    path = _target(user, group)
    body = _call(url, api_key, "PUT", path, json={"quota_bytes": parse_size(size)}).json()
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    typer.echo(f"{body['kind']} {body['name']}: quota {size_text(body['quota_bytes'])}")


@quotas_app.command("unset")
def unset_quota(
    user: User = None,
    group: Group = None,
    url: Url = DEFAULT_URL,
    api_key: Key = "",
    as_json: AsJson = False,
) -> None:
    """Remove a user's or group's own quota (back to the groups' quota or the default)."""
    _call(url, api_key, "DELETE", _target(user, group))
    name = user if user is not None else group
    kind = "user" if user is not None else "group"
    if as_json:
        typer.echo(json.dumps({"kind": kind, "name": name, "removed": True}))
        return
    typer.echo(f"{kind} {name}: own quota removed")
