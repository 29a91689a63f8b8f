"""`labcloud up` makes an existing data directory private at start."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from labcloud.data_dir import make_private


def modes(top: Path) -> dict[str, int]:
    return {
        p.relative_to(top.parent).as_posix(): stat.S_IMODE(os.lstat(p).st_mode)
        for p in [top, *top.rglob("*")]
        if not p.is_symlink()
    }


def test_group_and_others_lose_every_permission_below_the_data_dir(tmp_path: Path) -> None:
    data, outside = tmp_path / "data", tmp_path / "outside.txt"
    (data / "files/ada/data").mkdir(parents=True)
    for path, mode in {
        data / "user.db": 0o644,
        data / "files/ada/data/x.csv": 0o664,
        data / "files/ada/data/run.sh": 0o775,
        data / "secrets.json": 0o600,
    }.items():
        path.write_text("x")
        path.chmod(mode)
    for folder in (data, data / "files", data / "files/ada", data / "files/ada/data"):
        folder.chmod(0o755)
    outside.write_text("not ours")
    outside.chmod(0o644)
    os.symlink(outside, data / "files/ada/data/link")
    assert make_private(data) == 7
    assert modes(data) == {
        "data": 0o700,
        "data/files": 0o700,
        "data/files/ada": 0o700,
        "data/files/ada/data": 0o700,
        "data/user.db": 0o600,
        "data/files/ada/data/x.csv": 0o600,
        "data/files/ada/data/run.sh": 0o700,  # the owner keeps what it had
        "data/secrets.json": 0o600,
    }
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644  # links are not followed
    assert make_private(data) == 0  # nothing left to do on the next start
