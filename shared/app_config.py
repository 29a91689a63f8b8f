"""`application_config.yaml`: the catalogue of runnable applications.

application → version → entrypoint → {app, handler, aws_resources}, in the format
of DECODE OpenCloud's file, plus `handler.runner`. The file is validated at
start-up (an invalid file stops start-up with the path of the bad key) and
reloaded when it changes; an invalid edit keeps the last good catalogue.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, model_validator

from shared.jobs.specs import OutputKind

log = logging.getLogger(__name__)

InputKind = Literal["config_id", "data_ids", "artifact_ids"]
# Where each kind of input lives in the user's storage.
INPUT_FOLDERS: dict[str, str] = {
    "config_id": "config",
    "data_ids": "data",
    "artifact_ids": "artifact",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AppSection(_Strict):
    cmd: list[str] = Field(min_length=1)
    env: list[str] = Field(default_factory=list, description="env var names a user may set")


class HandlerSection(_Strict):
    image_url: str | None = None
    files_down: dict[InputKind, str] = Field(default_factory=dict)
    files_up: dict[OutputKind, str] = Field(default_factory=dict)
    runner: Literal["docker", "process"] = "docker"

    @model_validator(mode="after")
    def _image_for_docker(self) -> HandlerSection:
        if self.runner == "docker" and not self.image_url:
            raise ValueError("image_url is required when runner is 'docker'")
        return self


class HardwareDefaults(_Strict):
    MEMORY: int | None = Field(default=None, ge=1)
    VCPU: int | None = Field(default=None, ge=1)
    GPU: int | None = Field(default=None, ge=0)


class AwsResources(_Strict):
    hardware: HardwareDefaults = Field(default_factory=HardwareDefaults)
    timeout: int | None = Field(default=None, ge=1)


class Entrypoint(_Strict):
    app: AppSection
    handler: HandlerSection
    aws_resources: AwsResources = Field(default_factory=AwsResources)


class Catalogue(RootModel[dict[str, dict[str, dict[str, Entrypoint]]]]):
    """The whole file, keyed application → version → entrypoint."""

    def entrypoint(self, application: str, version: str, entrypoint: str) -> Entrypoint:
        """Look up one entrypoint; KeyError names the first missing level and what exists."""
        apps = self.root
        if application not in apps:
            raise KeyError(f"unknown application '{application}'; known: {sorted(apps)}")
        versions = apps[application]
        if version not in versions:
            raise KeyError(
                f"unknown version '{version}' of '{application}'; known: {sorted(versions)}"
            )
        entrypoints = versions[version]
        if entrypoint not in entrypoints:
            raise KeyError(
                f"unknown entrypoint '{entrypoint}' of '{application}' {version}; "
                f"known: {sorted(entrypoints)}"
            )
        return entrypoints[entrypoint]


class InvalidCatalogue(ValueError):
    """The file cannot be read or does not match the schema."""


def parse_catalogue(text: str, source: str = "application_config.yaml") -> Catalogue:
    """Parse and validate the YAML text; the error names the path of each bad key."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidCatalogue(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    try:
        return Catalogue.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{' → '.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidCatalogue(f"{source}: {problems}") from exc


class CatalogueFile:
    """A catalogue read from a local file and re-read when its mtime changes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._mtime = self.path.stat().st_mtime_ns if self.path.exists() else None
        if self._mtime is None:
            raise InvalidCatalogue(f"APPLICATION_CONFIG_FILE: no file at {self.path}")
        self._current = parse_catalogue(self.path.read_text(), str(self.path))

    def get(self) -> Catalogue:
        """The current catalogue, reloaded first if the file changed."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError as exc:
            log.warning("cannot stat %s (%s); keeping the last good catalogue", self.path, exc)
            return self._current
        if mtime != self._mtime:
            with self._lock:
                if mtime != self._mtime:
                    self._mtime = mtime
                    try:
                        self._current = parse_catalogue(self.path.read_text(), str(self.path))
                        log.info("reloaded application catalogue from %s", self.path)
                    except (InvalidCatalogue, OSError) as exc:
                        log.error("keeping the last good application catalogue: %s", exc)
        return self._current
