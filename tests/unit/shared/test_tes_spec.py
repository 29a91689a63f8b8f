"""The container layout rules of TES tasks that both the user API and the worker use."""

from __future__ import annotations

import pytest

from shared.jobs.specs import HandlerSpecs
from shared.jobs.tes_spec import (
    InvalidLayout,
    TesExecution,
    TesExecutorSpec,
    TesInputSpec,
    TesOutputSpec,
    container_path,
    mount_points,
    output_dir,
    static_dir,
)


def task(**fields: object) -> TesExecution:
    fields.setdefault("executors", [TesExecutorSpec(image="alpine", command=["true"])])
    return TesExecution(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("/data/x", "/data/x"), ("/data//x/", "/data/x"), ("/a/./b", "/a/b"), ("//x", "/x")],
)
def test_container_paths_are_normalised(raw: str, clean: str) -> None:
    assert container_path(raw, "path") == clean


@pytest.mark.parametrize(
    "raw", ["data/x", "/", "/proc/1", "/sys", "/dev/null", "/a/../b", "/a:b", "/a\x00", ""]
)
def test_unusable_container_paths_are_refused(raw: str) -> None:
    with pytest.raises(InvalidLayout):
        container_path(raw, "path")


def test_wildcard_folders() -> None:
    assert static_dir("/out/*.txt") == "/out"
    assert static_dir("/out/a*/b/*.txt") == "/out"
    out = TesOutputSpec(path="/out/sub/*.txt", url="file:///x/", path_prefix="/out")
    assert output_dir(out) == "/out/sub"
    assert output_dir(TesOutputSpec(path="/res", type="DIRECTORY", url="file:///r")) == "/res"
    assert output_dir(TesOutputSpec(path="/res/a.txt", url="file:///a.txt")) == "/res"


def test_mount_points_share_each_folder_once() -> None:
    layout = task(
        volumes=["/vol", "/vol/inner"],
        inputs=[
            TesInputSpec(path="/data/a.txt", content="a"),
            TesInputSpec(path="/vol/b.txt", content="b"),
            TesInputSpec(path="/ref", type="DIRECTORY"),
        ],
        outputs=[TesOutputSpec(path="/out/x/*.txt", url="file:///r/", path_prefix="/out/x")],
        executors=[TesExecutorSpec(image="a", command=["x"], stdout="/logs/out.txt")],
    )
    assert mount_points(layout) == [
        ("/data/a.txt", True),
        ("/logs", False),
        ("/out/x", False),
        ("/ref", False),
        ("/vol", False),
    ]


def test_an_input_file_cannot_hold_other_paths() -> None:
    layout = task(
        inputs=[TesInputSpec(path="/data/a.txt", content="a")],
        outputs=[TesOutputSpec(path="/data/a.txt/x", url="file:///x")],
    )
    with pytest.raises(InvalidLayout, match="folder too"):
        mount_points(layout)


def test_an_output_at_the_root_is_refused() -> None:
    with pytest.raises(InvalidLayout, match="system location"):
        mount_points(task(outputs=[TesOutputSpec(path="/x.txt", url="file:///x.txt")]))


def test_the_job_spec_carries_a_task_and_stays_optional() -> None:
    assert HandlerSpecs().tes is None
    handler = HandlerSpecs.model_validate({"tes": task().model_dump()})
    assert handler.tes is not None and handler.tes.executors[0].command == ["true"]
