"""`labcloud up --demo`: upload sample data, run the demo job, show its progress and
say where the results are. Uses only the public user API over HTTP."""

from __future__ import annotations

import io
import time

import httpx
from rich.console import Console

SAMPLE_DATA = {
    "counts.csv": "sample,photons,background\nA,1520,101\nB,1733,98\nC,1409,110\n",
    "notes.txt": "exposure 30 ms, 4 fields of view, 2 channels\n",
}
SAMPLE_CONFIG = "greeting: hello from labcloud\nsleep: 2\n"
TERMINAL = {"finished", "error", "canceled"}


def run_demo(
    base_url: str, username: str, password: str, console: Console, timeout_s: float = 300
) -> int:
    """Run the demo job end to end; 0 when it finished."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        token = http.post("/token", data={"username": username, "password": password})
        token.raise_for_status()
        http.headers["Authorization"] = f"Bearer {token.json()['id_token']}"
        for name, text in SAMPLE_DATA.items():
            http.post(
                "/files/data/demo-sample/upload", files={"file": (name, io.BytesIO(text.encode()))}
            ).raise_for_status()
        http.post(
            "/files/config/demo/upload",
            files={"file": ("params.yaml", io.BytesIO(SAMPLE_CONFIG.encode()))},
        ).raise_for_status()
        name = f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
        response = http.post(
            "/jobs",
            json={
                "job_name": name,
                "application": {"application": "demo", "version": "v1", "entrypoint": "run"},
                "attributes": {
                    "files_down": {"config_id": "demo/params.yaml", "data_ids": ["demo-sample/"]},
                    "env_vars": {"DEMO_GREETING": "hello"},
                },
            },
        )
        response.raise_for_status()
        job = response.json()
        console.print(
            f"[bold]demo:[/bold] uploaded sample data, submitted job '{name}' (id {job['id']})"
        )
        deadline = time.monotonic() + timeout_s
        status = job["status"]
        with console.status(f"job {job['id']}: {status}") as spinner:
            while status not in TERMINAL and time.monotonic() < deadline:
                time.sleep(0.25)
                job = http.get(f"/jobs/{job['id']}").json()
                if job["status"] != status:
                    status = job["status"]
                    console.print(f"  {time.strftime('%H:%M:%S')}  {status}")
                    spinner.update(f"job {job['id']}: {status}")
        if status != "finished":
            console.print(f"[red]demo job ended as {status}[/red]: {job.get('runtime_details')}")
            return 1
        outputs = http.get(f"/files/output/{name}/", params={"recursive": True}).json()
        console.print("[bold green]demo job finished.[/bold green] Results:")
        for entry in outputs:
            console.print(f"  {entry['path']}  {entry['size']}")
        console.print(
            f"  download: curl -H 'Authorization: Bearer …' -o results.zip "
            f"{base_url}/files/output/{name}/download"
        )
        return 0
