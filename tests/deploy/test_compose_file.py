"""docker-compose.yml, checked without a Docker engine: the file is valid against the
Compose Specification's schema (vendored by check-jsonschema), every `labcloud …`
command in it is one the CLI accepts, and every setting it or .env.example sets is one
the service it is given to reads (a misspelt name would be ignored silently)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from labcloud.cli import app as cli_app
from userfacing_api.settings import UserAPISettings
from worker.settings import ENV_PREFIX, WorkerSettings
from workerfacing_api.settings import WorkerAPISettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())

# Read by what runs inside the image, not by a labcloud settings class.
NOT_SETTINGS = {"FORWARDED_ALLOW_IPS"}  # uvicorn: trust X-Forwarded-* from the proxy


def compose_schema() -> dict[str, Any]:
    vendored = resources.files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json"
    return json.loads(vendored.read_text())


def labcloud_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in COMPOSE["services"].items()
        if service.get("command", [None])[0] == "labcloud"
    }


def env_names(settings: type, prefix: str = "") -> set[str]:
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


def settings_read_by(command: list[str]) -> set[str]:
    """The environment names the process started by `command` reads."""
    part = command[1]
    if part == "worker":
        return env_names(WorkerSettings, ENV_PREFIX)
    if part in ("user-api", "worker-api", "db", "celery"):
        return env_names(UserAPISettings) | env_names(WorkerAPISettings)
    raise AssertionError(f"no settings known for `{' '.join(command)}`")


def test_compose_file_is_valid_against_the_compose_specification():
    validator_class = jsonschema.validators.validator_for(compose_schema())
    errors = sorted(
        validator_class(compose_schema()).iter_errors(COMPOSE), key=lambda error: error.path
    )
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_check_catches_a_misspelt_key():
    broken = json.loads(json.dumps(COMPOSE))
    broken["services"]["user-api"]["depends_onn"] = broken["services"]["user-api"].pop("depends_on")
    validator = jsonschema.validators.validator_for(compose_schema())(compose_schema())
    assert any("depends_onn" in error.message for error in validator.iter_errors(broken))


@pytest.mark.parametrize("name", sorted(labcloud_services()))
def test_every_labcloud_command_is_one_the_cli_accepts(name: str):
    # `--help` after the arguments: click parses them (unknown commands and options exit
    # 2) and then prints help instead of starting the service.
    command = labcloud_services()[name]["command"]
    result = CliRunner().invoke(cli_app, [*command[1:], "--help"])
    assert result.exit_code == 0, f"{name}: `{' '.join(command)}`: {result.output}"


def test_the_command_check_catches_an_unknown_option():
    assert CliRunner().invoke(cli_app, ["user-api", "--no-such-option", "--help"]).exit_code == 2


@pytest.mark.parametrize("name", sorted(labcloud_services()))
def test_every_setting_given_to_a_service_is_one_it_reads(name: str):
    service = labcloud_services()[name]
    known = settings_read_by(service["command"]) | NOT_SETTINGS
    unknown = set(service.get("environment", {})) - known
    assert not unknown, f"{name}: settings no labcloud part reads: {sorted(unknown)}"


def test_every_setting_in_env_example_is_read_by_some_service():
    names = {
        line.split("=", 1)[0].strip()
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    known = (
        env_names(UserAPISettings)
        | env_names(WorkerAPISettings)
        | env_names(WorkerSettings, ENV_PREFIX)
    )
    assert names, ".env.example lists no settings"
    assert not names - known, f"unknown settings in .env.example: {sorted(names - known)}"
