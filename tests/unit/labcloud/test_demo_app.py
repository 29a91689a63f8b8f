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


def test_demo_app_reports_metrics_and_a_histogram(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """metrics.csv (plotted by the web page) has each number and the running mean, in the
    order the files are read; histogram.svg is an SVG of their distribution."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("x,y\n1,2\n3,4\n")
    (tmp_path / "data" / "b.txt").write_text("value 10 and -1.5e1\n")
    monkeypatch.delenv("DEMO_FAIL", raising=False)
    assert main(["--files", str(tmp_path)]) == 0
    rows = (tmp_path / "output" / "metrics.csv").read_text().splitlines()
    assert rows == [
        "index,value,running_mean",
        "1,1,1",
        "2,2,1.5",
        "3,3,2",
        "4,4,2.5",
        "5,10,4",
        "6,-15,0.833333",
    ]
    svg = (tmp_path / "output" / "histogram.svg").read_text()
    assert svg.startswith("<svg xmlns=") and "6 numbers" in svg and "<script" not in svg


def test_demo_app_without_numbers_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEMO_FAIL", raising=False)
    assert main(["--files", str(tmp_path)]) == 0
    assert (tmp_path / "output" / "metrics.csv").read_text() == "index,value,running_mean\n"
    assert "no numbers in the data" in (tmp_path / "output" / "histogram.svg").read_text()
