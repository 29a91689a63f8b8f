"""`cdk synth` of every variant (each switch combination and each size), the shape each
variant must have, and cfn-lint on every synthesised template."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.deploy import cfn
from tests.deploy.conftest import Synthesis

SWITCH_VARIANTS = 24  # gpu × (batch | ecs | both) × sessions × scaled
SIZE_VARIANTS = 3
GPU_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2/gpu/recommended/image_id"
CFN_LINT = "import sys; from cfnlint.runner import main; sys.exit(main())"


def test_every_variant_synthesises(synthesis: Synthesis) -> None:
    assert len(synthesis.files) == SWITCH_VARIANTS + SIZE_VARIANTS
    assert {"labcloud-cpu-batch", "labcloud-gpu-batch-ecs-sessions-scaled"} <= set(synthesis.files)


def test_each_variant_has_the_services_its_switches_ask_for(templates) -> None:
    for name, template in templates.items():
        parts = set(name.removeprefix("labcloud-").split("-"))
        runners = {"batch", "ecs"} & parts or {"batch"}  # size variants: the default
        if "sessions" in parts:
            runners.add("ecs")
        services = {
            cfn.path(template, k).split("/")[1]
            for k in cfn.resources(template, "AWS::ECS::Service")
        }
        expected = {"UserApi", "WorkerApi"} | {f"{r.title()}Poller" for r in runners}
        if "scaled" in parts:
            expected |= {
                f"Celery{api}{part}" for api in ("User", "Worker") for part in ("Worker", "Beat")
            }
        assert services == expected, name
        environments = cfn.resources(template, "AWS::Batch::ComputeEnvironment")
        if "batch" not in runners:
            assert not environments, name
            continue
        (environment,) = environments.values()
        kind = environment["Properties"]["ComputeResources"]["Type"]
        assert kind == ("EC2" if "gpu" in parts else "FARGATE"), name
        if "gpu" in parts:
            images = environment["Properties"]["ComputeResources"]["Ec2Configuration"]
            nvidia = next(i for i in images if i["ImageType"] == "ECS_AL2_NVIDIA")
            ssm = template["Parameters"][nvidia["ImageIdOverride"]["Ref"]]
            assert ssm["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
            assert ssm["Default"] == GPU_AMI_PARAMETER
        queues = cfn.resources(template, "AWS::SQS::Queue")
        assert len(queues) == (6 if "scaled" in parts else 2), name  # + Celery's in scaled


def test_cfn_lint_passes_on_every_template(synthesis: Synthesis) -> None:
    # W3005 (a DependsOn that a GetAtt already implies) is how the CDK wires a Lambda
    # function to its role's policy: not ours to change. Two processes: two cores.
    started = time.monotonic()
    files = [str(path) for path in synthesis.files.values()]
    lints = [
        subprocess.Popen(
            [sys.executable, "-c", CFN_LINT, "--ignore-checks", "W3005", "--", *files[half::2]],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for half in (0, 1)
    ]
    outputs = [lint.communicate(timeout=900)[0] for lint in lints]
    print(f"\ncfn-lint: {len(files)} templates in {time.monotonic() - started:.1f} s")
    for lint, output in zip(lints, outputs, strict=True):
        assert lint.returncode == 0, output[-6000:]
