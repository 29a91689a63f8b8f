"""A TES task turned into a labcloud job spec: validation, images, URLs, resources."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from shared.api.errors import BadRequest, Forbidden
from shared.storage.local import LocalStorage
from userfacing_api.services import tes
from userfacing_api.services.files import UserFiles
from userfacing_api.services.job_limits import InputFiles, JobLimits

LOCAL = tes.TesConfig(("docker.io/library/*", "localhost/*"), "local")
ROOMY = JobLimits(**dict.fromkeys(JobLimits.__dataclass_fields__, 10**6))  # bounds nothing here


@pytest.fixture
def files(tmp_path: Path) -> UserFiles:
    user = UserFiles(LocalStorage(tmp_path / "files"), "ada")
    user.init()
    user.storage.write(user.key("data/exp/a.txt"), io.BytesIO(b"a"))
    user.storage.write(user.key("data/exp/sub/b.txt"), io.BytesIO(b"bb"))
    return user


def task(**fields: Any) -> tes.TesTaskCreate:
    body = {"executors": [{"image": "alpine", "command": ["true"]}], **fields}
    return tes.parse_task(body)


@pytest.mark.parametrize(
    ("image", "full"),
    [
        ("alpine", "docker.io/library/alpine:latest"),
        ("alpine:3.19", "docker.io/library/alpine:3.19"),
        ("biocontainers/samtools:1.9", "docker.io/biocontainers/samtools:1.9"),
        ("quay.io/org/tool", "quay.io/org/tool:latest"),
        ("localhost/labcloud-busybox:test", "localhost/labcloud-busybox:test"),
        ("registry:5000/x/y@sha256:ab", "registry:5000/x/y@sha256:ab"),
    ],
)
def test_images_are_qualified_like_an_engine_does(image: str, full: str) -> None:
    assert tes.normalize_image(image) == full


def test_the_allowlist_matches_as_given_or_qualified() -> None:
    assert tes.image_allowed("alpine", ["docker.io/library/*"])
    assert tes.image_allowed("ubuntu:22.04", ["ubuntu:*"])
    assert not tes.image_allowed("evil/alpine", ["docker.io/library/*"])
    assert not tes.image_allowed("alpine", [])
    with pytest.raises(Forbidden, match="not allowed"):
        tes.check_images(task(executors=[{"image": "ghcr.io/x/y", "command": ["a"]}]), ("a*",))
    with pytest.raises(Forbidden, match="TES_IMAGE_ALLOWLIST is empty"):
        tes.check_images(task(), ())


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"executors": []},
        {"executors": [{"image": "alpine"}]},
        {"executors": [{"image": "alpine", "command": []}]},
        {"executors": [{"image": "alpine", "command": ["x"], "env": {"A": 1}}]},
        {"executors": [{"image": "alpine", "command": ["x"]}], "inputs": [{"url": "file:///x"}]},
    ],
)
def test_invalid_tasks_are_a_bad_request(body: Any) -> None:
    with pytest.raises(BadRequest):
        tes.parse_task(body)


def test_1_0_documents_and_read_only_fields_are_accepted() -> None:
    parsed = tes.parse_task(
        {
            "id": "ignored",
            "state": "COMPLETE",
            "logs": [],
            "creation_time": "x",
            "executors": [{"image": "alpine", "command": ["echo"]}],
            "inputs": [{"path": "/in", "url": "file:///data/exp/a.txt", "type": "FILE"}],
            "outputs": [{"path": "/out/o", "url": "file:///o", "type": "FILE"}],
            "resources": {
                "cpu_cores": 2,
                "ram_gb": 1.5,
                "disk_gb": 10,
                "preemptible": True,
                "zones": ["z"],
            },
            "unknown_future_field": {"x": 1},
        }
    )
    assert parsed.executors[0].command == ["echo"] and parsed.resources is not None


def test_storage_urls(files: UserFiles) -> None:
    assert tes.storage_rel("file:///data/exp/a.txt", files, LOCAL) == "data/exp/a.txt"
    assert tes.storage_rel("file://localhost/data/a%20b", files, LOCAL) == "data/a b"
    assert tes.storage_rel("/data/exp", files, LOCAL) == "data/exp"
    # the absolute path of the user's folder on this host (a workflow engine's work dir)
    mine = f"{files.storage.root}/ada"  # type: ignore[attr-defined]
    assert tes.storage_rel(f"file://{mine}/work/a/.command.run", files, LOCAL) == (
        "work/a/.command.run"
    )
    for bad in ("file:///../other/x", "file://host/x", "gs://b/x", "ftp://h/x", "rel/path"):
        with pytest.raises(BadRequest):
            tes.storage_rel(bad, files, LOCAL)
    with pytest.raises(BadRequest, match="FILESYSTEM=s3"):
        tes.storage_rel("s3://bucket/x", files, LOCAL)


def test_inputs_become_files_down(files: UserFiles) -> None:
    inputs, files_down = tes._inputs(
        task(
            inputs=[
                {"path": "/d/a.txt", "url": "file:///data/exp/a.txt"},
                {"path": "/d/exp", "url": "file:///data/exp"},  # a folder: type filled in
                {"path": "/d/c.txt", "content": "inline", "url": "file:///ignored"},
                {"path": "/d/w.txt", "url": "https://example.org/w.txt"},
            ]
        ),
        files,
        LOCAL,
        InputFiles(ROOMY),
    )
    assert inputs[0].files == {"": "local://ada/data/exp/a.txt"}
    assert inputs[1].type == "DIRECTORY"
    assert inputs[1].files == {
        "a.txt": "local://ada/data/exp/a.txt",
        "sub/b.txt": "local://ada/data/exp/sub/b.txt",
    }
    assert inputs[2].content == "inline" and inputs[3].url == "https://example.org/w.txt"
    assert sorted(files_down) == [
        "tes/inputs/0/a.txt",
        "tes/inputs/1/a.txt",
        "tes/inputs/1/sub/b.txt",
    ]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"path": "/d", "url": "file:///data/nope"}, "does not exist"),
        ({"path": "/d", "url": "file:///data/exp", "type": "FILE"}, "is a folder"),
        ({"path": "/d", "url": "file:///data/exp/a.txt", "type": "DIRECTORY"}, "is a file"),
        ({"path": "/d", "url": "http://x/y", "type": "DIRECTORY"}, "http"),
        ({"path": "d", "content": "x"}, "absolute"),
        ({"path": "/d", "content": "x" * (tes.MAX_CONTENT_BYTES + 1)}, "at most"),
    ],
)
def test_bad_inputs(files: UserFiles, given: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        tes._inputs(task(inputs=[given]), files, LOCAL, InputFiles(ROOMY))


def test_outputs_land_below_one_upload_folder(files: UserFiles) -> None:
    outputs, root = tes._outputs(
        task(
            outputs=[
                {"path": "/o/a.txt", "url": "file:///output/run/a.txt"},
                {"path": "/o/*.log", "url": "file:///output/run/logs/", "path_prefix": "/o/"},
                {"path": "/o/dir", "url": "file:///output/other", "type": "DIRECTORY"},
                {"path": "/o/b.txt", "url": "https://example.org/put/b.txt"},
            ]
        ),
        files,
        LOCAL,
        "tes-x",
    )
    assert root == "output"
    assert [o.store for o in outputs] == ["run/a.txt", "run/logs", "other", None]
    assert outputs[1].path_prefix == "/o"
    only_http, root = tes._outputs(
        task(outputs=[{"path": "/o/b", "url": "http://example.org/b"}]), files, LOCAL, "tes-x"
    )
    assert root == "output/tes-x"
    wild, _ = tes._outputs(
        task(outputs=[{"path": "/o/x/*.txt", "url": "file:///r/"}]), files, LOCAL, "tes-x"
    )
    assert wild[0].path_prefix == "/o/x"  # 1.0 clients send none: the static folder
    with pytest.raises(BadRequest, match="path_prefix"):
        tes._outputs(
            task(outputs=[{"path": "/o/*.txt", "url": "file:///r/", "path_prefix": "/elsewhere"}]),
            files,
            LOCAL,
            "tes-x",
        )


def test_backend_parameters_strict_and_lenient() -> None:
    kept, warnings = tes._backend_parameters(
        task(
            resources={
                "backend_parameters": {"GPU_Count": "2", "gpu_model": "A100", "VmSize": "big"}
            }
        )
    )
    assert kept == {"gpu_count": "2", "gpu_model": "A100"}
    assert warnings == ["backend parameter 'VmSize' is not supported; ignored"]
    with pytest.raises(BadRequest, match="VmSize"):
        tes._backend_parameters(
            task(
                resources={
                    "backend_parameters": {"VmSize": "big"},
                    "backend_parameters_strict": True,
                }
            )
        )
    with pytest.raises(BadRequest, match="whole number"):
        tes._backend_parameters(
            task(
                resources={
                    "backend_parameters": {"gpu_count": "many"},
                    "backend_parameters_strict": True,
                }
            )
        )


def test_allowlist_wildcards_stay_within_one_path_segment() -> None:
    assert tes.image_allowed("ubuntu:22.04", ["ubuntu*"])
    assert not tes.image_allowed("ubuntu.evil.io/x", ["ubuntu*"])
    assert not tes.image_allowed("docker.io/library/alpine/../x", ["docker.io/library/?"])
    assert tes.image_allowed("alpine", ["alpine"]) and not tes.image_allowed("alpine:3", ["alpine"])


def test_executors_run_the_image_as_it_was_checked() -> None:
    spec = tes._executors(task(executors=[{"image": "alpine", "command": ["true"]}]))
    assert spec[0].image == "docker.io/library/alpine:latest"
