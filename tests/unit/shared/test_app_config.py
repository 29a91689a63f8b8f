import json
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


DESCRIBED = """
demo:
  description: A small analysis.
  v1:
    description: The first version.
    run:
      description: Runs it.
      app:
        cmd: [x]
        env:
          - A
          - {name: B, description: Seconds to wait., default: "0"}
          - {name: C, description: Fails on purpose.}
      handler: {runner: process}
    other:
      app: {cmd: [y]}
      handler: {runner: process}
"""


def test_descriptions_keep_decodes_shape() -> None:
    """DECODE's frontend lists the keys under an application as versions, under a version
    as entrypoints, and reads `app.env` as names: the descriptions go inside entrypoints."""
    catalogue = parse_catalogue(DESCRIBED)
    served = catalogue.model_dump(mode="json")
    assert list(served["demo"]) == ["v1"]
    assert sorted(served["demo"]["v1"]) == ["other", "run"]
    run = served["demo"]["v1"]["run"]
    assert run["app"]["env"] == ["A", "B", "C"]
    assert run["app"]["env_descriptions"] == {"B": "Seconds to wait.", "C": "Fails on purpose."}
    assert run["app"]["env_defaults"] == {"B": "0"}
    assert (run["description"], run["application_description"], run["version_description"]) == (
        "Runs it.",
        "A small analysis.",
        "The first version.",
    )
    other = served["demo"]["v1"]["other"]
    assert other["description"] is None and other["application_description"] == "A small analysis."
    # what is served reads back the same (a catalogue written from a dump)
    assert parse_catalogue(json.dumps(served)).model_dump(mode="json") == served


def test_without_descriptions_nothing_changes_but_empty_fields() -> None:
    entry = parse_catalogue(GOOD).model_dump(mode="json")["demo"]["v1"]["run"]
    assert entry["app"] == {
        "cmd": ["echo hi"],
        "env": ["A"],
        "env_descriptions": {},
        "env_defaults": {},
    }
    assert entry["description"] is entry["application_description"] is None


@pytest.mark.parametrize(
    "env,message",
    [
        ("[{description: no name}]", "env entry 0: name: Field required"),
        ("[{name: A, colour: red}]", "env entry 0: colour: Extra inputs are not permitted"),
        ("[A]\n        env_descriptions: {B: text}", "described env vars not in env: ['B']"),
    ],
)
def test_bad_env_entries_are_named(env: str, message: str) -> None:
    text = f"""
demo:
  v1:
    run:
      app:
        cmd: [x]
        env: {env}
      handler: {{runner: process}}
"""
    with pytest.raises(InvalidCatalogue) as info:
        parse_catalogue(text)
    assert "demo → v1 → run → app" in str(info.value) and message in str(info.value)


def test_a_version_or_entrypoint_named_description_is_still_one() -> None:
    """Only a string is a description: a mapping under that key stays a version."""
    text = """
demo:
  description:
    run: {app: {cmd: [x]}, handler: {runner: process}}
"""
    assert parse_catalogue(text).entrypoint("demo", "description", "run").app.cmd == ["x"]


def test_shipped_entries_are_described() -> None:
    catalogue = catalogue_file(REPO / "application_config.yaml").get()
    for app, versions in catalogue.root.items():
        for version, entrypoints in versions.items():
            for name, entry in entrypoints.items():
                assert entry.description and entry.application_description, (app, version, name)
                assert set(entry.app.env_descriptions) == set(entry.app.env), (app, name)
    packaged = catalogue_file(REPO / "labcloud" / "application_config.yaml").get()
    assert packaged.model_dump() == catalogue.model_dump()
