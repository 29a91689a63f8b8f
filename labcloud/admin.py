"""`labcloud admin`: operators' view of the queue, through the worker API's internal
endpoints (the internal API key, never the database)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from labcloud.admin_options import AsJson, Key
from labcloud.admin_quotas import quotas_app
from labcloud.admin_users import users_app
from shared.auth.api_key import HEADER

admin_app = typer.Typer(
    help="Operators: failed jobs (dead letters), requeues, and accounts.", no_args_is_help=True
)
admin_app.add_typer(users_app, name="users")
admin_app.add_typer(quotas_app, name="quotas")  # storage quotas, through the user API

Url = Annotated[
    str, typer.Option("--url", envvar="WORKERFACING_API_URL", help="The worker-facing API.")
]


def _client(url: str, key: str) -> httpx.Client:
    if not key:
        typer.echo("labcloud admin: set INTERNAL_API_KEY_SECRET (or --api-key)", err=True)
        raise typer.Exit(2)
    return httpx.Client(base_url=url.rstrip("/"), headers={HEADER: key}, timeout=30)


def _fail(response: httpx.Response) -> None:
    typer.echo(
        f"labcloud admin: the worker API answered {response.status_code}: {response.text[:300]}",
        err=True,
    )
    raise typer.Exit(1 if response.status_code != 401 else 3)


@admin_app.command("jobs")
def list_jobs(
    failed: Annotated[
        bool, typer.Option("--failed", help="Only jobs in error (dead letters).")
    ] = False,
    status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    url: Url = "http://127.0.0.1:8001",
    api_key: Key = "",
    as_json: AsJson = False,
) -> None:
    """List jobs, newest first, with the reason each failed one ended."""
    params: dict[str, Any] = {"limit": limit}
    if failed or status:
        params["status"] = "error" if failed else status
    with _client(url, api_key) as http:
        try:
            response = http.get("/_jobs", params=params)
        except httpx.HTTPError as exc:
            typer.echo(f"labcloud admin: cannot reach {url}: {exc}", err=True)
            raise typer.Exit(1) from None
    if response.status_code != 200:
        _fail(response)
    rows = response.json()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("job", "status", "attempt", "worker", "updated", "reason")
    for row in rows:
        table.add_row(
            str(row["job_id"]),
            row["status"],
            str(row["attempt"]),
            row.get("worker_id") or "",
            str(row.get("updated_at") or ""),
            row.get("terminal_reason") or "",
        )
    Console().print(table)
    typer.echo(f"{len(rows)} job(s)", err=True)


@admin_app.command("requeue")
def requeue(
    job_ids: Annotated[list[int], typer.Argument(help="Ids of failed jobs to run again.")],
    url: Url = "http://127.0.0.1:8001",
    api_key: Key = "",
    as_json: AsJson = False,
) -> None:
    """Give failed jobs another run. Safe to repeat: a job already queued or running
    is left as it is. Exit code 1 if any id is unknown or not a failed job."""
    results, ok = [], True
    with _client(url, api_key) as http:
        for job_id in job_ids:
            response = http.post(f"/_jobs/{job_id}/requeue")
            if response.status_code == 401:
                _fail(response)
            body = response.json() if response.content else {}
            ok &= response.status_code == 200
            results.append({"job_id": job_id, "http_status": response.status_code, **body})
    if as_json:
        typer.echo(json.dumps(results, indent=2))
    else:
        for r in results:
            if r["http_status"] != 200:
                typer.echo(f"job {r['job_id']}: not requeued: {r.get('detail', r['http_status'])}")
            elif r.get("requeued"):
                typer.echo(f"job {r['job_id']}: requeued")
            else:
                typer.echo(f"job {r['job_id']}: nothing to do (status {r.get('status')})")
    raise typer.Exit(0 if ok else 1)
