"""Job runners: how the worker executes a job's command (container or host process)."""

from __future__ import annotations

from typing import Any

from worker.runners.base import Capability, Runner, RunOutcome, RunSpec, run_to_completion

__all__ = [
    "KNOWN_RUNNERS",
    "Capability",
    "RunOutcome",
    "RunSpec",
    "Runner",
    "make_runner",
    "run_to_completion",
]

KNOWN_RUNNERS = ("docker", "process")


def make_runner(name: str, **options: Any) -> Runner[Any]:
    """Create the runner called ``name`` ("docker" or "process") with its constructor options.

    Raises ``ValueError`` for an unknown name.
    """
    if name == "docker":
        # Imported lazily: the docker SDK is only needed by workers that use it.
        from worker.runners.docker import DockerRunner

        return DockerRunner(**options)
    if name == "process":
        from worker.runners.process import ProcessRunner

        return ProcessRunner(**options)
    raise ValueError(f"unknown runner {name!r}; known: {', '.join(KNOWN_RUNNERS)}")
