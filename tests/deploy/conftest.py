"""One `cdk synth` of every variant of the AWS app per test session (the CLI from npm,
the library from PyPI); the tests read the templates it wrote."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import cdk


class Synthesis:
    def __init__(self, out_dir: Path, seconds: float) -> None:
        self.out_dir, self.seconds = out_dir, seconds
        self.files = {
            path.name.removesuffix(".template.json"): path
            for path in sorted(out_dir.glob("*.template.json"))
        }

    def template(self, name: str) -> dict[str, Any]:
        return json.loads(self.files[name].read_text())

    def templates(self) -> dict[str, dict[str, Any]]:
        return {name: self.template(name) for name in self.files}


@pytest.fixture(scope="session")
def synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    out_dir = tmp_path_factory.mktemp("cdk.out")
    started = time.monotonic()
    done = cdk.synth(out_dir)
    assert done.returncode == 0, f"cdk synth failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    synthesis = Synthesis(out_dir, time.monotonic() - started)
    print(f"\ncdk synth: {len(synthesis.files)} stacks in {synthesis.seconds:.1f} s")
    return synthesis


@pytest.fixture(scope="session")
def templates(synthesis: Synthesis) -> dict[str, dict[str, Any]]:
    return synthesis.templates()


@pytest.fixture(scope="session")
def default(synthesis: Synthesis) -> dict[str, Any]:
    """The default deployment's template (what cdk.json's context gives)."""
    return synthesis.template("labcloud-cpu-batch")
