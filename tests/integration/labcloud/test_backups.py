"""Backups of a data directory: consistent SQLite copies taken while writes go on,
unchanged files reused, nothing written when nothing changed, the newest N kept, and a
restore that checks every file and refuses a folder that is not empty."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from labcloud.backup_schedule import BackupSettings, PeriodicBackup
from labcloud.backup_targets import FolderTarget, open_target
from labcloud.backups import BackupError, backup, prune, restore
from userfacing_api.db.session import upgrade as upgrade_user
from workerfacing_api.db.session import upgrade as upgrade_worker


def _data_dir(root: Path) -> Path:
    data = root / "data"
    data.mkdir()
    upgrade_user(f"sqlite:///{data / 'user.db'}")
    upgrade_worker(f"sqlite:///{data / 'worker.db'}")
    (data / "secrets.json").write_text('{"api_key": "k"}')
    files = data / "files" / "ada" / "data"
    files.mkdir(parents=True)
    (files / "counts.csv").write_bytes(b"1,2,3\n")
    (data / "files" / ".labcloud-tmp").mkdir()
    (data / "files" / ".labcloud-tmp" / "upload-in-flight").write_bytes(b"half")
    (data / "jobs").mkdir()  # worker scratch: not backed up
    (data / "jobs" / "scratch.txt").write_text("x")
    return data


def _add_user(data: Path, name: str) -> None:
    with sqlite3.connect(data / "user.db") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(users)")]
        values = {c: "x" for c in columns}
        values.update(username=name)
        for column in columns:
            if column.endswith(("_at", "created")):
                values[column] = "2026-01-01 00:00:00"
        marks = ",".join("?" for _ in columns)
        db.execute(
            f"INSERT INTO users ({','.join(columns)}) VALUES ({marks})", list(values.values())
        )


def test_a_backup_restores_into_an_empty_folder(tmp_path: Path) -> None:
    data = _data_dir(tmp_path)
    _add_user(data, "ada@example.org")
    target = FolderTarget(tmp_path / "backups")
    summary = backup(data, target)
    assert summary.counts["users"] == 1 and summary.files == 4  # 2 dbs, secrets, 1 file
    restored = tmp_path / "restored"
    restore(target, restored)
    assert (restored / "files" / "ada" / "data" / "counts.csv").read_bytes() == b"1,2,3\n"
    assert not (restored / "files" / ".labcloud-tmp").exists()
    assert not (restored / "jobs").exists()
    assert oct((restored / "secrets.json").stat().st_mode & 0o777) == "0o600"
    with sqlite3.connect(restored / "user.db") as db:
        assert db.execute("SELECT username FROM users").fetchall() == [("ada@example.org",)]
    with pytest.raises(BackupError, match="not empty"):
        restore(target, restored)


def test_the_copy_is_consistent_while_writes_go_on(tmp_path: Path) -> None:
    data = _data_dir(tmp_path)
    stop, written = threading.Event(), []

    def writer() -> None:
        while not stop.is_set():
            name = f"user-{len(written)}"
            _add_user(data, name)
            written.append(name)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 20:
            time.sleep(0.01)
        summaries = [backup(data, FolderTarget(tmp_path / "b")) for _ in range(3)]
    finally:
        stop.set()
        thread.join()
    for summary in summaries:
        restored = tmp_path / summary.name
        restore(FolderTarget(tmp_path / "b"), restored, name=summary.name)
        with sqlite3.connect(restored / "user.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            users = db.execute("SELECT count(*) FROM users").fetchone()[0]
        assert users == summary.counts["users"] >= 20  # the snapshot the manifest counted


def test_unchanged_files_are_reused_and_an_unchanged_round_writes_nothing(tmp_path: Path) -> None:
    data = _data_dir(tmp_path)
    target = FolderTarget(tmp_path / "backups")
    first = backup(data, target)
    assert backup(data, target, skip_unchanged=True).skipped
    (data / "files" / "ada" / "data" / "more.csv").write_bytes(b"4,5,6\n")
    second = backup(data, target, skip_unchanged=True)
    assert not second.skipped and second.reused == 2  # secrets and counts.csv
    rel = Path("files/ada/data/counts.csv")
    a, b = (tmp_path / "backups" / first.name / rel), (tmp_path / "backups" / second.name / rel)
    assert a.stat().st_ino == b.stat().st_ino  # a hard link, not a second copy
    assert prune(target, 1) == [first.name]
    assert target.backups() == [second.name]


def test_a_damaged_backup_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    data = _data_dir(tmp_path)
    target = FolderTarget(tmp_path / "backups")
    summary = backup(data, target)
    (tmp_path / "backups" / summary.name / "files/ada/data/counts.csv").write_bytes(b"evil\n")
    with pytest.raises(BackupError, match="checksum mismatch"):
        restore(target, tmp_path / "restored")
    assert not (tmp_path / "restored").exists()
    assert [p.name for p in tmp_path.iterdir() if "restoring" in p.name] == []


def test_a_backup_cut_short_is_never_restored(tmp_path: Path) -> None:
    data = _data_dir(tmp_path)
    target = FolderTarget(tmp_path / "backups")
    backup(data, target)
    target.open_new("labcloud-backup-99991231T000000000000Z")  # no manifest: incomplete
    assert len(target.backups()) == 1


def test_periodic_backups_keep_the_newest(tmp_path: Path) -> None:
    data = _data_dir(tmp_path)
    periodic = PeriodicBackup(data, BackupSettings(_env_file=None, to=str(tmp_path / "b"), keep=2))
    for n in range(4):
        (data / "files" / "ada" / "data" / f"f{n}.csv").write_text(str(n))
        periodic.run_once()
    periodic.run_once()  # nothing changed: no new backup
    assert periodic.rounds == 5
    names = open_target(str(tmp_path / "b")).backups()
    assert len(names) == 2
    restore(FolderTarget(tmp_path / "b"), tmp_path / "r", name=names[-1])
    assert (tmp_path / "r" / "files" / "ada" / "data" / "f3.csv").read_text() == "3"


@pytest.mark.parametrize("location", ["http://x/y", "s3://", "  "])
def test_a_bad_location_is_named(location: str) -> None:
    with pytest.raises(ValueError, match="folder, or an s3|name a bucket"):
        BackupSettings(_env_file=None, to=location)
