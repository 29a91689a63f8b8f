"""The SDK stays light: importing it loads none of the server side."""

from __future__ import annotations

import subprocess
import sys

SERVER_SIDE = (
    "fastapi",
    "sqlalchemy",
    "pydantic",
    "boto3",
    "shared",
    "userfacing_api",
    "workerfacing_api",
    "worker",
    "typer",
)


def test_importing_the_sdk_loads_no_server_code() -> None:
    code = (
        "import sys, labcloud.client\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({SERVER_SIDE!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
