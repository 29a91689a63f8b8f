"""DockerRunner running an argv with no shell, extra bind mounts and a working
directory (what GA4GH TES executors need), against Podman's Docker API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.runners.base import Mount, RunSpec, run_to_completion
from worker.runners.docker import DockerRunner
from worker.tes_io import save_streams

pytestmark = pytest.mark.podman


@pytest.fixture
def runner(docker_host: str) -> Iterator[DockerRunner]:
    r = DockerRunner(base_url=docker_host)
    yield r
    r.client.close()


def test_argv_mounts_workdir_and_separate_streams(
    runner: DockerRunner, tmp_path: Path, test_image: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "in file.txt").write_text("one\n")
    (tmp_path / "marker").write_text("not for the container")
    streams: dict[str, str] = {}
    spec = RunSpec(
        job_id=f"argv-{uuid.uuid4().hex[:8]}",
        command="",
        files_dir=tmp_path,
        image=test_image,
        # no shell: the space stays in the argument, `;` is only a character
        argv=(
            "sh",
            "-c",
            'cat "$1"; echo ";"; pwd; echo err >&2; test ! -e /files/marker',
            "x",
            "in file.txt",
        ),
        workdir="/data",
        mounts=(Mount(data, "/data"),),
        mount_files=False,
    )
    outcome = run_to_completion(
        runner,
        spec,
        tick_s=0.2,
        on_end=lambda h: streams.update(save_streams(runner, h, data / "o.txt", data / "e.txt")),
    )
    assert outcome.exit_code == 0, outcome.log
    assert (data / "o.txt").read_text() == "one\n;\n/data\n"
    assert (data / "e.txt").read_text() == "err\n"  # and the job dir is not at /files
    assert streams["stdout"] == "one\n;\n/data\n"


def test_argv_replaces_the_entrypoint(
    runner: DockerRunner, tmp_path: Path, test_image: str
) -> None:
    spec = RunSpec(
        job_id=f"argv-{uuid.uuid4().hex[:8]}",
        command="",
        files_dir=tmp_path,
        image=test_image,
        argv=("echo", "a", "$HOME", "b c"),
        mount_files=False,
    )
    outcome = run_to_completion(runner, spec, tick_s=0.2)
    assert outcome.exit_code == 0 and outcome.log == "a $HOME b c\n"
