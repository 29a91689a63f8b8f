"""The few parameters a labcloud deployment is built from, read from CDK context.

Pure Python (no CDK import), so the parameters can be checked and documented on their
own. Every parameter is a context key (`cdk deploy -c domain=lab.example.org`, or the
`context` block of cdk.json); `StackConfig.from_context` names a bad one.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

RUNNERS = ("batch", "ecs")
ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<repository>[a-z0-9._/-]+):(?P<tag>[A-Za-z0-9._-]+)$"
)


class ConfigError(ValueError):
    """A context parameter is missing or wrong; the message names it."""


@dataclass(frozen=True)
class Size:
    """What one size preset means (`size=small|medium|large`)."""

    db_instance: str  # RDS instance class, without the `db.` prefix
    db_storage_gb: int
    db_multi_az: bool
    backup_days: int  # RDS automated backups kept this many days
    api_cpu: int  # Fargate CPU units of each API task (1024 = 1 vCPU)
    api_memory_mb: int
    api_tasks: int  # tasks per API (2 spreads them over both zones)
    nat_gateways: int
    batch_max_vcpus: int  # the most vCPUs the Batch compute environments run at once
    max_job_vcpus: int  # the largest job a cloud poller offers to take
    max_job_memory_mb: int


SIZES = {
    "small": Size("t4g.micro", 20, False, 7, 512, 1024, 1, 1, 16, 4, 30720),
    "medium": Size("t4g.small", 50, False, 14, 1024, 2048, 2, 1, 64, 16, 122880),
    "large": Size("m7g.large", 100, True, 30, 2048, 4096, 2, 2, 256, 16, 122880),
}


@dataclass(frozen=True)
class StackConfig:
    """One deployment. Required: `domain`, `image`, and `certificateArn` or a hosted zone."""

    domain: str
    image: str
    stack_name: str = "labcloud"
    worker_domain: str = ""  # default: workers.<domain>
    certificate_arn: str | None = None
    hosted_zone_id: str | None = None
    hosted_zone_name: str | None = None
    size: str = "small"
    gpu: bool = False
    gpu_instance_types: tuple[str, ...] = ("g4dn.xlarge",)
    job_runners: tuple[str, ...] = ("batch",)
    sessions: bool = False
    scaled: bool = False
    output_expiry_days: int = 0
    log_retention_days: int = 30
    alarm_email: str | None = None
    queued_age_alarm_seconds: int = 3600
    application_config_file: str = "/app/application_config.yaml"
    frontend_url: str | None = None
    tes_image_allowlist: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # more settings, as NAME=value

    def __post_init__(self) -> None:
        if not self.worker_domain:
            object.__setattr__(self, "worker_domain", f"workers.{self.domain}")
        _check(self)

    @property
    def sizes(self) -> Size:
        return SIZES[self.size]

    @property
    def hosted_zone(self) -> bool:
        return bool(self.hosted_zone_id and self.hosted_zone_name)

    @property
    def runners(self) -> tuple[str, ...]:
        """The cloud pollers to run: sessions need ECS (a task with a reachable port)."""
        wanted = set(self.job_runners) | ({"ecs"} if self.sessions else set())
        return tuple(r for r in RUNNERS if r in wanted)

    @property
    def ecr_image(self) -> dict[str, str] | None:
        """Account, region, repository and tag when `image` is in ECR (then the stack
        grants the pull on that repository only)."""
        match = ECR_IMAGE.match(self.image)
        return match.groupdict() if match else None

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> StackConfig:
        """The config from CDK context values (`-c key=value` arrive as strings)."""
        values: dict[str, Any] = {}
        for key, name, kind in _PARAMETERS:
            raw = get(key)
            if raw is None or raw == "":
                continue
            try:
                values[name] = kind(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"context {key}: {exc}") from None
        for required in ("domain", "image"):
            if required not in values:
                raise ConfigError(
                    f"context {required} is required (cdk deploy -c {required}=...; see "
                    "README, 'Deploying on AWS')"
                )
        return cls(**values)

    def variants(self) -> Iterator[tuple[str, StackConfig]]:
        """Every combination of the switches that change the stack's shape, plus each
        size: what the tests synthesise (`-c matrix=1`)."""
        switches = itertools.product(
            (False, True), (("batch",), ("ecs",), ("batch", "ecs")), (False, True), (False, True)
        )
        for gpu, runners, sessions, scaled in switches:
            name = "-".join(
                ["gpu" if gpu else "cpu", *runners]
                + (["sessions"] if sessions else [])
                + (["scaled"] if scaled else [])
            )
            yield (
                name,
                replace(
                    self,
                    stack_name=f"{self.stack_name}-{name}",
                    gpu=gpu,
                    job_runners=runners,
                    sessions=sessions,
                    scaled=scaled,
                ),
            )
        for size in SIZES:
            yield (
                f"size-{size}",
                replace(
                    self, stack_name=f"{self.stack_name}-{size}", size=size, output_expiry_days=30
                ),
            )


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, not {value!r}")


def _list(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _pairs(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    pairs = {}
    for item in _list(value):
        name, sep, setting = item.partition("=")
        if not sep:
            raise ValueError(f"expected NAME=value, not {item!r}")
        pairs[name.strip()] = setting
    return pairs


# context key, field, converter
_PARAMETERS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("domain", "domain", str),
    ("image", "image", str),
    ("stackName", "stack_name", str),
    ("workerDomain", "worker_domain", str),
    ("certificateArn", "certificate_arn", str),
    ("hostedZoneId", "hosted_zone_id", str),
    ("hostedZoneName", "hosted_zone_name", str),
    ("size", "size", str),
    ("gpu", "gpu", _bool),
    ("gpuInstanceTypes", "gpu_instance_types", _list),
    ("jobRunners", "job_runners", _list),
    ("sessions", "sessions", _bool),
    ("scaled", "scaled", _bool),
    ("outputExpiryDays", "output_expiry_days", int),
    ("logRetentionDays", "log_retention_days", int),
    ("alarmEmail", "alarm_email", str),
    ("queuedAgeAlarmSeconds", "queued_age_alarm_seconds", int),
    ("applicationConfigFile", "application_config_file", str),
    ("frontendUrl", "frontend_url", str),
    ("tesImageAllowlist", "tes_image_allowlist", str),
    ("settings", "extra", _pairs),
)

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096)


def _check(config: StackConfig) -> None:
    if config.size not in SIZES:
        raise ConfigError(f"context size: {config.size!r} is not one of {', '.join(SIZES)}")
    if not config.job_runners or set(config.job_runners) - set(RUNNERS):
        raise ConfigError(f"context jobRunners: name batch, ecs or both, not {config.job_runners}")
    if not (config.certificate_arn or config.hosted_zone):
        raise ConfigError(
            "context certificateArn (an ACM certificate for domain and workerDomain), or "
            "hostedZoneId and hostedZoneName (the stack then makes the certificate)"
        )
    if config.log_retention_days not in LOG_RETENTION_DAYS:
        raise ConfigError(
            f"context logRetentionDays: CloudWatch keeps logs for one of {LOG_RETENTION_DAYS}"
        )
    if config.output_expiry_days < 0:
        raise ConfigError("context outputExpiryDays: 0 (keep) or a number of days")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,40}", config.stack_name):
        raise ConfigError("context stackName: letters, digits and dashes, at most 41")
    if "/" in config.image and ":" not in config.image.rsplit("/", 1)[1]:
        raise ConfigError("context image: name a tag or digest (repository:tag)")
