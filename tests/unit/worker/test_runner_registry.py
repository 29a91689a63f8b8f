"""make_runner: names map to runner classes; unknown names are rejected clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from worker.runners import make_runner
from worker.runners.process import ProcessRunner

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_unknown_runner_name():
    with pytest.raises(ValueError, match=r"unknown runner 'kubernetes'; known: docker, process"):
        make_runner("kubernetes")


def test_process_runner_with_options():
    runner = make_runner("process", enforce_memory_limit=True)
    assert isinstance(runner, ProcessRunner)


def test_docker_module_is_imported_lazily():
    # Workers using the process runner must not need the docker SDK at import time.
    code = "import sys, worker.runners; print('worker.runners.docker' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO_ROOT)  # fmt: skip
    assert out.stdout.strip() == "False"


def test_docker_runner_reports_unreachable_engine():
    # The client checks the engine at construction, so a bad socket fails fast.
    from docker.errors import DockerException

    with pytest.raises(DockerException):
        make_runner("docker", base_url="unix:///nonexistent/docker.sock")
