#!/usr/bin/env python3
"""labcloud on AWS: `cdk deploy -c domain=… -c image=… -c certificateArn=…` (README,
"Deploying on AWS"). `-c matrix=1` synthesises every variant instead (the tests)."""

from __future__ import annotations

import os
import sys

# The CDK's Node.js runtime warns about older Node releases (Debian's is 20); the
# synthesis is unaffected. The variables list the major versions to keep quiet about.
for _name in ("DEPRECATED_NODE_VERSION", "END_OF_LIFE_NODE_VERSION", "UNTESTED_NODE_VERSION"):
    os.environ.setdefault(f"JSII_SILENCE_WARNING_{_name}", "18,20,22,24")

import aws_cdk as cdk  # noqa: E402
from labcloud_stack.config import ConfigError, StackConfig  # noqa: E402
from labcloud_stack.stack import LabcloudStack  # noqa: E402


def main() -> None:
    app = cdk.App()
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    try:
        config = StackConfig.from_context(app.node.try_get_context)
    except ConfigError as exc:
        sys.exit(f"labcloud: {exc}")
    if app.node.try_get_context("matrix") in (True, "1", "true"):
        for name, variant in config.variants():
            LabcloudStack(app, f"{config.stack_name}-{name}", variant, env=env)
    else:
        LabcloudStack(app, config.stack_name, config, env=env)
    app.synth()


if __name__ == "__main__":
    main()
