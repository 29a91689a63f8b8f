"""Services started as real processes on loopback, for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text()}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not come up:\n{log.read_text()}")


@contextlib.contextmanager
def labcloud_process(
    args: list[str], env: Mapping[str, str], log: Path, ready_url: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `labcloud ARGS` (as `python -m labcloud.cli`) until the block ends."""
    full_env = {**os.environ, **env}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "labcloud.cli", *args],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )
    try:
        if ready_url:
            wait_until_up(ready_url, proc, log)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
