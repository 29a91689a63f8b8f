"""Set up Podman (serving the Docker API) for tests that run real containers.

Tests call :func:`docker_host_or_skip` from a session fixture: it runs
``scripts/setup-podman`` once and returns the ``DOCKER_HOST`` URL. When Podman
cannot be set up the test is skipped, or fails when ``LABCLOUD_REQUIRE_PODMAN=1``
(CI sets it so a broken setup can never pass silently as "skipped").
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SETUP_SCRIPT = REPO_ROOT / "scripts" / "setup-podman"
#: Local image built by the setup script (busybox-static; no registry needed).
TEST_IMAGE = "localhost/labcloud-busybox:test"
REQUIRE_ENV = "LABCLOUD_REQUIRE_PODMAN"
_EXPORT_PREFIX = "export DOCKER_HOST="


class PodmanUnavailable(RuntimeError):
    """Podman could not be set up on this machine."""


def podman_required() -> bool:
    """True when the environment demands real Podman tests (CI)."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes")


def setup_podman() -> str:
    """Run ``scripts/setup-podman`` (once per process) and return the DOCKER_HOST URL.

    Raises :class:`PodmanUnavailable` with the script's output when it fails; the
    failure is remembered too, so a broken machine is not set up again per test.
    """
    result = _setup_once()
    if isinstance(result, PodmanUnavailable):
        raise result
    return result


@functools.cache
def _setup_once() -> str | PodmanUnavailable:
    try:
        return _run_setup_script(timeout_s=900)
    except PodmanUnavailable as exc:
        return exc


def _run_setup_script(timeout_s: float) -> str:
    if os.geteuid() != 0:
        raise PodmanUnavailable(f"{SETUP_SCRIPT.name} needs root (running as uid {os.geteuid()})")
    try:
        proc = subprocess.run(
            [str(SETUP_SCRIPT)], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PodmanUnavailable(f"could not run {SETUP_SCRIPT}: {exc}") from exc
    if proc.returncode != 0:
        raise PodmanUnavailable(
            f"{SETUP_SCRIPT} exited with {proc.returncode}:\n{proc.stderr[-3000:]}"
        )
    for line in proc.stdout.splitlines():
        if line.startswith(_EXPORT_PREFIX):
            return line.removeprefix(_EXPORT_PREFIX).strip()
    raise PodmanUnavailable(f"{SETUP_SCRIPT} printed no DOCKER_HOST line:\n{proc.stdout[-3000:]}")


def docker_host_or_skip() -> str:
    """Return the Podman DOCKER_HOST URL, or skip (fail under LABCLOUD_REQUIRE_PODMAN=1)."""
    try:
        return setup_podman()
    except PodmanUnavailable as exc:
        if podman_required():
            pytest.fail(f"{REQUIRE_ENV}=1 but Podman is unavailable: {exc}", pytrace=False)
        pytest.skip(f"Podman is unavailable (set {REQUIRE_ENV}=1 to make this fail): {exc}")
