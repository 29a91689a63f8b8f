"""Options every `labcloud admin` command shares (the internal API key, JSON output)."""

from __future__ import annotations

from typing import Annotated

import typer

Key = Annotated[
    str,
    typer.Option(
        "--api-key",
        envvar="INTERNAL_API_KEY_SECRET",
        help="The internal API key (x-api-key).",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
#: The user API, which `labcloud admin users` and `quotas` talk to.
Url = Annotated[
    str, typer.Option("--url", envvar="USERFACING_API_URL", help="The user-facing API.")
]
DEFAULT_URL = "http://127.0.0.1:8000"
