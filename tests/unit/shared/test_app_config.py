import logging
import os
import time
from pathlib import Path

import pytest

from shared.app_config import InvalidCatalogue, catalogue_file, parse_catalogue

REPO = Path(__file__).resolve().parents[3]

GOOD = """
demo:
  v1:
    run:
      app: {cmd: ["echo hi"], env: [A]}
      handler: {runner: process, files_up: {output: output}}
"""


def test_shipped_catalogue_is_valid_and_has_the_required_entries() -> None:
    catalogue = catalogue_file(REPO / "application_config.yaml").get()
    assert catalogue.entrypoint("decode", "v0_10_1", "train").aws_resources.hardware.GPU == 1
    assert catalogue.entrypoint("decode", "v0_10_1", "fit").handler.files_up
    assert catalogue.entrypoint("decode", "latest", "train").handler.files_down["config_id"] == (
        "config_tmp"
    )
    assert catalogue.entrypoint("comet", "latest", "run").handler.image_url
    demo = catalogue.entrypoint("demo", "v1", "run")
    assert demo.handler.runner == "process" and demo.handler.image_url is None


def test_defaults() -> None:
    entry = parse_catalogue(GOOD).entrypoint("demo", "v1", "run")
    assert entry.app.env == ["A"]
    assert entry.handler.files_down == {}
    assert entry.aws_resources.timeout is None


@pytest.mark.parametrize(
    "text,where",
    [
        ("demo: {v1: {run: {app: {cmd: [x]}, handler: {}}}}", "demo → v1 → run → handler"),
        (
            "demo: {v1: {run: {app: {cmd: []}, handler: {runner: process}}}}",
            "demo → v1 → run → app → cmd",
        ),
        (
            "demo: {v1: {run: {app: {cmd: [x]}, handler: {runner: process, files_up: {junk: x}}}}}",
            "demo → v1 → run → handler → files_up → junk",
        ),
        (
            "demo: {v1: {run: {app: {cmd: [x]}, handler: {runner: process}, colour: red}}}",
            "demo → v1 → run → colour",
        ),
        (
            "demo: {v1: {run: {app: {cmd: [x]}, handler: {runner: k8s}}}}",
            "demo → v1 → run → handler → runner",
        ),
        (
            "demo: {v1: {run: {app: {cmd: [x]}, handler: {runner: process},"
            " aws_resources: {hardware: {MEMORY: lots}}}}}",
            "demo → v1 → run → aws_resources → hardware → MEMORY",
        ),
    ],
)
def test_errors_point_at_the_bad_key(text: str, where: str) -> None:
    with pytest.raises(InvalidCatalogue) as info:
        parse_catalogue(text)
    assert where in str(info.value)


def test_invalid_yaml() -> None:
    with pytest.raises(InvalidCatalogue, match="not valid YAML"):
        parse_catalogue("demo: [unclosed")


def test_lookup_errors_name_what_exists() -> None:
    catalogue = parse_catalogue(GOOD)
    with pytest.raises(KeyError, match=r"unknown application 'nope'; known: \['demo'\]"):
        catalogue.entrypoint("nope", "v1", "run")
    with pytest.raises(KeyError, match="unknown version 'v2'"):
        catalogue.entrypoint("demo", "v2", "run")
    with pytest.raises(KeyError, match="unknown entrypoint 'x'"):
        catalogue.entrypoint("demo", "v1", "x")


def _rewrite(path: Path, text: str) -> None:
    path.write_text(text)
    stamp = time.time() + 5  # a distinct mtime even on coarse file systems
    os.utime(path, (stamp, stamp))


def test_reload_on_change_and_keep_last_good(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "apps.yaml"
    path.write_text(GOOD)
    source = catalogue_file(path)
    assert list(source.get().root) == ["demo"]

    _rewrite(path, GOOD + GOOD.replace("demo:", "second:"))
    assert list(source.get().root) == ["demo", "second"]

    with caplog.at_level(logging.ERROR):
        _rewrite(path, "demo: {v1: {run: {app: {cmd: []}}}}")
        assert list(source.get().root) == ["demo", "second"]
    assert "keeping the last good" in caplog.text and "cmd" in caplog.text


def test_missing_or_invalid_file_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(InvalidCatalogue, match="no file"):
        catalogue_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("demo: {v1: {run: {}}}")
    with pytest.raises(InvalidCatalogue, match="demo → v1 → run → app"):
        catalogue_file(bad)
