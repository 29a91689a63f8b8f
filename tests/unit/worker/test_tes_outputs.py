"""The worker's side of TES tasks without an engine: collecting outputs (wildcards,
path_prefix, folders, symlinks), the executors' streams, the container options."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.jobs.tes_spec import TesOutputSpec
from worker.runners.base import Mount, RunSpec
from worker.runners.docker import container_options
from worker.tes_io import launch_exit_code, save_streams
from worker.tes_outputs import MissingOutput, collect


@pytest.fixture
def jobdir(tmp_path: Path) -> Path:
    root = tmp_path / "job"
    for rel, text in {
        "out/a.txt": "a",
        "out/b.txt": "bb",
        "out/c.log": "c",
        "out/sub/d.txt": "dd",
        "res/x/y.bin": "xyz",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_a_wildcard_with_path_prefix(jobdir: Path) -> None:
    out = TesOutputSpec(path="/out/*.txt", path_prefix="/out/", url="file:///r/", store="r")
    files = collect(jobdir, [out])
    assert [(f.path, f.store, f.url, f.size) for f in files] == [
        ("/out/a.txt", "r/a.txt", "file:///r/a.txt", 1),
        ("/out/b.txt", "r/b.txt", "file:///r/b.txt", 2),
    ]
    assert files[0].public() == {"url": "file:///r/a.txt", "path": "/out/a.txt", "size_bytes": "1"}
    nested = TesOutputSpec(path="/out/s*", path_prefix="/out", url="s3://b/k", store="k")
    assert [f.store for f in collect(jobdir, [nested])] == ["k/sub/d.txt"]
    assert (
        collect(
            jobdir,
            [TesOutputSpec(path="/out/*.none", url="file:///r/", store="r", path_prefix="/out")],
        )
        == []
    )


def test_files_and_folders(jobdir: Path) -> None:
    files = collect(
        jobdir,
        [
            TesOutputSpec(path="/out/c.log", url="file:///logs/c.log", store="logs/c.log"),
            TesOutputSpec(path="/res", type="DIRECTORY", url="http://h/put/", store=None),
        ],
    )
    assert [(f.path, f.store, f.url) for f in files] == [
        ("/out/c.log", "logs/c.log", "file:///logs/c.log"),
        ("/res/x/y.bin", None, "http://h/put/x/y.bin"),
    ]
    with pytest.raises(MissingOutput):
        collect(jobdir, [TesOutputSpec(path="/out/none.txt", url="file:///n", store="n")])


def test_symlinks_planted_by_the_executor_are_never_followed(jobdir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("secret")
    os.symlink(secret, jobdir / "out" / "evil.txt")
    os.symlink(tmp_path, jobdir / "out" / "evil-dir")
    wild = TesOutputSpec(path="/out/*", path_prefix="/out", url="file:///r/", store="r")
    assert {f.path for f in collect(jobdir, [wild])} == {
        "/out/a.txt",
        "/out/b.txt",
        "/out/c.log",
        "/out/sub/d.txt",
    }
    with pytest.raises(MissingOutput):
        collect(jobdir, [TesOutputSpec(path="/out/evil.txt", url="file:///e", store="e")])


class _Container:
    def __init__(self, out: bytes, err: bytes) -> None:
        self.streams = {"stdout": out, "stderr": err}

    def logs(self, stdout: bool, stderr: bool, stream: bool, follow: bool) -> list[bytes]:
        data = self.streams["stdout" if stdout else "stderr"]
        return [data[i : i + 3] for i in range(0, len(data), 3)]


class _Handle:
    def __init__(self, out: bytes, err: bytes) -> None:
        self.container = _Container(out, err)


def test_streams_are_saved_whole_and_tailed(tmp_path: Path) -> None:
    out, err = tmp_path / "o.txt", tmp_path / "e.txt"
    big = b"x" * 50_000 + b"end\n"
    tails = save_streams(None, _Handle(big, b"oops\n"), out, err)  # type: ignore[arg-type]
    assert out.read_bytes() == big and err.read_text() == "oops\n"
    assert tails["stdout"].endswith("end\n") and len(tails["stdout"]) == 10_000
    assert tails["stderr"] == "oops\n"
    os.symlink(tmp_path / "elsewhere", tmp_path / "link.txt")
    with pytest.raises(OSError):  # never written through a symlink the executor made
        save_streams(None, _Handle(b"a", b""), tmp_path / "link.txt", None)  # type: ignore[arg-type]
    assert not (tmp_path / "elsewhere").exists()


def test_an_executable_that_is_not_there_is_exit_code_127() -> None:
    runc = 'runc: exec: "ERROR": executable file not found in $PATH: OCI runtime ...'
    assert launch_exit_code(Exception(runc)) == 127
    assert launch_exit_code(Exception("exec /x: permission denied")) == 126
    assert launch_exit_code(Exception("no space left on device")) is None


def test_container_options_of_an_argv_run(tmp_path: Path) -> None:
    spec = RunSpec(
        job_id="j",
        command="",
        files_dir=tmp_path,
        argv=("cat", "/d/x"),
        workdir="/d",
        mounts=(Mount(tmp_path / "d", "/d"),),
        mount_files=False,
    )
    options = container_options(spec)
    assert "volumes" not in options and options["working_dir"] == "/d"
    [mount] = options["mounts"]
    assert mount["Target"] == "/d" and mount["Source"] == str(tmp_path / "d")
    assert mount["Type"] == "bind" and mount["ReadOnly"] is False
    default = container_options(RunSpec(job_id="j", command="true", files_dir=tmp_path))
    assert default["volumes"] == {str(tmp_path): {"bind": "/files", "mode": "rw"}}
    assert "mounts" not in default and "working_dir" not in default


def test_tasks_may_not_reach_the_workers_own_host_or_the_metadata_service(tmp_path):
    """The worker fetches TES URLs from the host network: loopback (its metrics, a
    co-located API) and link-local (cloud instance metadata) are refused, redirects
    included, before any byte is sent."""
    from worker.tes_io import HttpFailed, http_download, http_upload

    for url in (
        "http://127.0.0.1:9/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/x",
        "http://0.0.0.0:9/x",
    ):
        with pytest.raises(HttpFailed, match="may not fetch from or send to it"):
            http_download(url, tmp_path / "in")
    (tmp_path / "out").write_text("data")
    with pytest.raises(HttpFailed, match="may not fetch from or send to it"):
        http_upload("http://127.0.0.1:9/put", tmp_path / "out")
    assert not (tmp_path / "in").exists()


def test_urls_in_messages_lose_their_secrets():
    from worker.tes_io import shown

    assert shown("https://user:pw@bucket.s3.example/key?X-Amz-Signature=abc") == (
        "https://bucket.s3.example/key"
    )
