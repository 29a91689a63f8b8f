"""Job dir layout: path safety of inputs, output dirs and collection of outputs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from shared.jobs.specs import OutputKind
from worker.staging import (
    StagingCancelled,
    UnsafePath,
    Upload,
    check_relpath,
    collect_outputs,
    create_job_dir,
    make_output_dirs,
    plan_downloads,
    remove_job_dir,
    share_with_container,
    stage_inputs,
    write_job_log,
)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Path]] = []

    def __call__(self, uri: str, dest: Path) -> None:
        self.calls.append((uri, dest))
        dest.write_text(uri)


@pytest.mark.parametrize(
    "rel",
    [
        "../x",
        "data/../../x",
        "data/..",
        "/etc/passwd",
        "",
        "data//x",
        "data/./x",
        "data/",
        "./data/x",
        "a\x00b",
    ],
)
def test_unsafe_relative_paths_are_refused(rel):
    with pytest.raises(UnsafePath):
        check_relpath(rel)


def test_dotdot_in_files_down_is_refused_before_any_download(tmp_path):
    jobdir = tmp_path / "job"
    jobdir.mkdir()
    download = Recorder()
    files_down = {"data/a.tif": "local://u/data/a.tif", "data/../../escape": "local://u/x"}
    with pytest.raises(UnsafePath):
        stage_inputs(jobdir, files_down, download)
    assert download.calls == []  # nothing fetched for a bad spec
    assert not (tmp_path / "escape").exists()


def test_inputs_are_laid_out_below_their_subdirs(tmp_path):
    jobdir = tmp_path / "job"
    jobdir.mkdir()
    download = Recorder()
    files_down = {
        "config/p.yaml": "local://u/config/p.yaml",
        "data/run1/a b.tif": "local://u/data/run1/a b.tif",
    }
    assert stage_inputs(jobdir, files_down, download) == 2
    assert (jobdir / "config" / "p.yaml").read_text() == "local://u/config/p.yaml"
    assert (jobdir / "data" / "run1" / "a b.tif").read_text() == "local://u/data/run1/a b.tif"


def test_symlinked_dirs_are_not_walked_through(tmp_path):
    jobdir = tmp_path / "job"
    jobdir.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (jobdir / "data").symlink_to(outside)
    with pytest.raises(UnsafePath, match="not a directory"):
        stage_inputs(jobdir, {"data/a": "local://u/a"}, Recorder())
    (jobdir / "data").unlink()
    (jobdir / "data").mkdir()
    (jobdir / "data" / "a").symlink_to(outside / "a")
    with pytest.raises(UnsafePath, match="symlink"):
        stage_inputs(jobdir, {"data/a": "local://u/a"}, Recorder())
    assert list(outside.iterdir()) == []


def test_an_input_inside_another_input_is_refused(tmp_path):
    with pytest.raises(UnsafePath, match="inside the input file"):
        plan_downloads(tmp_path, {"data/a": "u1", "data/a/b": "u2"})


def test_staging_stops_when_asked(tmp_path):
    download = Recorder()
    files_down = {"data/a": "u1", "data/b": "u2"}
    with pytest.raises(StagingCancelled):
        stage_inputs(tmp_path, files_down, download, should_stop=lambda: bool(download.calls))
    assert len(download.calls) == 1


def test_output_dirs_are_created_up_front_and_checked(tmp_path):
    make_output_dirs(tmp_path, {OutputKind.output: "output", OutputKind.artifact: "model/ckpt"})
    assert (tmp_path / "output").is_dir() and (tmp_path / "model" / "ckpt").is_dir()
    with pytest.raises(UnsafePath):
        make_output_dirs(tmp_path, {OutputKind.log: "../log"})


def test_collect_outputs_regular_files_only(tmp_path):
    jobdir = tmp_path / "job"
    files_up = {OutputKind.output: "output", OutputKind.artifact: "model", OutputKind.log: "log"}
    make_output_dirs(jobdir, files_up)
    (jobdir / "output" / "r.txt").write_text("r")
    (jobdir / "output" / "sub" / "deeper").mkdir(parents=True)
    (jobdir / "output" / "sub" / "deeper" / "s.txt").write_text("s")
    (jobdir / "model" / "w.pt").write_bytes(b"w")
    (jobdir / "data").mkdir()
    (jobdir / "data" / "input.tif").write_text("inputs are not outputs")
    secret = tmp_path / "host-secret"
    secret.write_text("secret")
    (jobdir / "output" / "leak").symlink_to(secret)  # what a container could plant
    (jobdir / "output" / "linkdir").symlink_to(tmp_path)
    os.mkfifo(jobdir / "output" / "fifo")
    uploads = collect_outputs(jobdir, files_up)
    assert [(u.kind, u.base_path, u.path.name) for u in uploads] == [
        (OutputKind.output, "output", "r.txt"),
        (OutputKind.output, "output/sub/deeper", "s.txt"),
        (OutputKind.artifact, "model", "w.pt"),
    ]


def test_collect_outputs_skips_a_files_up_dir_replaced_by_a_symlink(tmp_path):
    jobdir = tmp_path / "job"
    jobdir.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x").write_text("x")
    (jobdir / "output").symlink_to(tmp_path / "elsewhere")
    assert collect_outputs(jobdir, {OutputKind.output: "output"}) == []


def test_job_log_goes_to_the_log_dir_or_the_log_root(tmp_path):
    private = tmp_path / "private"
    private.mkdir()
    up = write_job_log({OutputKind.log: "log"}, [], private, "hello\n")
    assert up == Upload(OutputKind.log, "log", private / "job.log")
    assert up.path.read_text() == "hello\n"
    assert write_job_log({}, [], private, "x").base_path == ""
    # The job wrote its own log/job.log: keep both.
    own = Upload(OutputKind.log, "log", tmp_path / "job.log")
    assert write_job_log({OutputKind.log: "log"}, [own], private, "x").path.name == (
        "labcloud-job.log"
    )


def test_job_dirs_are_unique_and_removed(tmp_path):
    a = create_job_dir(tmp_path / "scratch", "42/../x")
    b = create_job_dir(tmp_path / "scratch", "42/../x")
    assert a != b and a.parent == b.parent == tmp_path / "scratch"
    assert a.name.startswith("job-42_.._x-")  # one harmless path component
    (a / "f").write_text("x")
    remove_job_dir(a)
    remove_job_dir(a)  # idempotent
    assert not a.exists() and b.exists()


def test_staged_files_are_readable_by_a_container_user_whatever_the_umask(
    tmp_path: Path,
) -> None:
    old = os.umask(0o077)  # as under `labcloud up`
    try:
        scratch = tmp_path / "scratch"
        jobdir = create_job_dir(scratch, "7")
        make_output_dirs(jobdir, {OutputKind.output: "output"})
        stage_inputs(jobdir, {"data/sub/x.csv": "local://u/data/sub/x.csv"}, Recorder())
        os.symlink("/etc", jobdir / "data" / "link")
        (jobdir / "shared").mkdir(mode=0o777)
        os.chmod(jobdir / "shared", 0o777)  # a TES volume, open to every executor
        share_with_container(jobdir)
    finally:
        os.umask(old)
    modes = {
        p.relative_to(tmp_path).as_posix(): stat.S_IMODE(os.lstat(p).st_mode)
        for p in [scratch, *scratch.rglob("*")]
        if not p.is_symlink()
    }
    job = jobdir.relative_to(tmp_path).as_posix()
    assert modes == {
        "scratch": 0o700,  # the private level that keeps other local users out
        job: 0o755,
        f"{job}/output": 0o755,
        f"{job}/data": 0o755,
        f"{job}/data/sub": 0o755,
        f"{job}/data/sub/x.csv": 0o644,
        f"{job}/shared": 0o777,
    }
    assert stat.S_IMODE(os.stat("/etc").st_mode) == 0o755  # a link is not followed
