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
