import json
from pathlib import Path

import pytest

from labcloud.demo_app import main


def test_demo_app_analyses_the_data_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "a.csv").write_text("x,y\n1,2\n3,4\n")
    (tmp_path / "data" / "sub" / "b.txt").write_text("value 0.5\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "params.yaml").write_text("greeting: hi there\n")
    monkeypatch.delenv("DEMO_GREETING", raising=False)
    assert main(["--files", str(tmp_path)]) == 0

    summary = json.loads((tmp_path / "output" / "summary.json").read_text())
    assert summary["files"] == 2 and summary["total_sum"] == 10.5
    assert summary["greeting"] == "hi there"
    per_file = json.loads((tmp_path / "output" / "per_file.json").read_text())
    assert per_file["a.csv"]["mean"] == 2.5 and per_file["sub/b.txt"]["numbers"] == 1
    assert "2 file(s)" in (tmp_path / "log" / "demo.log").read_text()
    model = json.loads((tmp_path / "model" / "model.json").read_text())
    assert model["means"]["a.csv"] == 2.5


def test_demo_app_can_fail_on_purpose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_FAIL", "1")
    assert main(["--files", str(tmp_path)]) == 3
    assert "failing on purpose" in (tmp_path / "log" / "demo.log").read_text()
