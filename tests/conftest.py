"""Fixtures every tier may use: Podman serving the Docker API, and its test image;
and the option that sizes the chaos suite."""

from __future__ import annotations

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
