"""Fixtures every tier may use: Podman serving the Docker API, and its test image;
and the option that sizes the chaos suite."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.podman import TEST_IMAGE, docker_host_or_skip


@pytest.fixture(scope="session")
def docker_host() -> str:
    """DOCKER_HOST URL of the Podman API service set up by scripts/setup-podman."""
    return docker_host_or_skip()


@pytest.fixture(scope="session")
def test_image(docker_host: str) -> str:
    """Name of the local busybox image the setup script built."""
    return TEST_IMAGE


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--chaos-large", action="store_true",
                     help="run the chaos suite with 200 jobs instead of 50")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """URL of a moto server (AWS emulator) on 127.0.0.1, for the whole session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials in the environment, and no profile or config file of the host:
    nothing can reach real AWS."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
