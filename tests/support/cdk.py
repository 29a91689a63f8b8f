"""The AWS CDK for the deployment tests: the library (PyPI) and the CLI (npm).

Missing, they skip the tests, or fail them when ``LABCLOUD_REQUIRE_CDK=1`` (CI, where
``.ci/run`` installs both). Nothing here touches AWS: synthesis only needs the app.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_DIR = REPO_ROOT / "deploy" / "aws"
REQUIRE_ENV = "LABCLOUD_REQUIRE_CDK"
#: The parameters every test synthesises with (no real account, certificate or image).
CONTEXT = {
    "domain": "lab.example.org",
    "image": "123456789012.dkr.ecr.eu-central-1.amazonaws.com/labcloud:0.1.0",
    "certificateArn": "arn:aws:acm:eu-central-1:123456789012:certificate/0000-test",
    "alarmEmail": "ops@example.org",
}
# The CDK's Node.js runtime warns on Debian's Node 20; the output is unaffected.
QUIET = {
    f"JSII_SILENCE_WARNING_{name}": "18,20,22,24"
    for name in ("DEPRECATED_NODE_VERSION", "END_OF_LIFE_NODE_VERSION", "UNTESTED_NODE_VERSION")
}


def required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes")


def _missing(what: str) -> None:
    message = f"{what} (.ci/run installs it; see deploy/aws/requirements.txt)"
    if required():
        pytest.fail(f"{REQUIRE_ENV}=1 but {message}", pytrace=False)
    pytest.skip(message)


def app_on_path() -> None:
    """Make `import labcloud_stack` work (its `config` module needs no CDK)."""
    if str(APP_DIR) not in sys.path:
        sys.path.insert(0, str(APP_DIR))


def cdk_library() -> None:
    """Make `import aws_cdk` and `import labcloud_stack` work, or skip/fail."""
    os.environ.update(QUIET)
    try:
        import aws_cdk  # noqa: F401
    except ImportError:
        _missing("the aws-cdk-lib Python package is not installed")
    app_on_path()


def cdk_cli() -> str:
    """The `cdk` command, or skip/fail."""
    found = shutil.which("cdk")
    if found is None:
        _missing("the AWS CDK CLI (npm install -g aws-cdk) is not on PATH")
    return str(found)


def synth(out_dir: Path, *, matrix: bool = True, **context: str) -> subprocess.CompletedProcess:
    """`cdk synth` of the app into `out_dir` (every variant with `matrix`)."""
    cdk_library()  # the app imports it: skip (or fail) here rather than in the CLI
    values = {**CONTEXT, **context, **({"matrix": "1"} if matrix else {})}
    args = [cdk_cli(), "synth", "--quiet", "--no-notices", "--no-version-reporting"]
    args += ["--output", str(out_dir)]
    for key, value in values.items():
        args += ["--context", f"{key}={value}"]
    env = {**os.environ, **QUIET, "CDK_DISABLE_CLI_TELEMETRY": "true"}
    env.pop("CDK_DEFAULT_ACCOUNT", None)  # environment-agnostic: no account looked up
    return subprocess.run(
        args, cwd=APP_DIR, env=env, capture_output=True, text=True, timeout=900, check=False
    )
