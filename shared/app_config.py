"""`application_config.yaml`: the catalogue of runnable applications.

application → version → entrypoint → {app, handler, aws_resources}, in the format
of DECODE OpenCloud's file, plus `handler.runner`. The file is validated at
start-up (an invalid file stops start-up with the path of the bad key) and
reloaded when it changes; an invalid edit keeps the last good catalogue.

labcloud adds optional descriptions, for the web page's launch form:
- `description: text` beside an application's versions, beside a version's
  entrypoints (a string there is a description, a mapping a version or entrypoint),
  and in an entrypoint;
- `app.env` entries may be a name or `{name, description, default}` (`default`: what
  the application uses when the variable is not set; shown, never sent).

The parsed (and served: `GET /jobs/applications`) form keeps DECODE's shape, which
DECODE's frontend reads: only versions under an application, only entrypoints under
a version, `app.env` a list of names. The descriptions move into each entrypoint:
`description`, `application_description`, `version_description`, and
`app.env_descriptions` / `app.env_defaults` (name → text).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

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


class EnvVar(_Strict):
    """One `app.env` entry in its long form."""

    name: str = Field(min_length=1)
    description: str | None = None
    default: str | None = None


class AppSection(_Strict):
    cmd: list[str] = Field(min_length=1)
    env: list[str] = Field(default_factory=list, description="env var names a user may set")
    env_descriptions: dict[str, str] = Field(
        default_factory=dict, description="labcloud: what each env var does (name → text)"
    )
    env_defaults: dict[str, str] = Field(
        default_factory=dict,
        description="labcloud: the value the application uses when the var is not set",
    )

    @model_validator(mode="before")
    @classmethod
    def _long_env_entries(cls, data: Any) -> Any:
        """`{name, description, default}` entries become a name plus the two maps."""
        if not isinstance(data, dict) or not isinstance(data.get("env"), list):
            return data
        names: list[Any] = []
        descriptions = dict(data.get("env_descriptions") or {})
        defaults = dict(data.get("env_defaults") or {})
        for index, entry in enumerate(data["env"]):
            if not isinstance(entry, dict):
                names.append(entry)
                continue
            try:
                var = EnvVar.model_validate(entry)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{' → '.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}"
                    for e in exc.errors()
                )
                raise ValueError(f"env entry {index}: {problems}") from None
            names.append(var.name)
            if var.description is not None:
                descriptions[var.name] = var.description
            if var.default is not None:
                defaults[var.name] = var.default
        return {**data, "env": names, "env_descriptions": descriptions, "env_defaults": defaults}

    @model_validator(mode="after")
    def _described_vars_exist(self) -> AppSection:
        unknown = sorted((set(self.env_descriptions) | set(self.env_defaults)) - set(self.env))
        if unknown:
            raise ValueError(f"described env vars not in env: {unknown}")
        return self


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
    description: str | None = Field(default=None, description="labcloud: what it does")
    application_description: str | None = None  # labcloud: moved here from the application
    version_description: str | None = None  # labcloud: moved here from the version


DESCRIPTION_KEY = "description"


def _push_descriptions_down(data: Any) -> Any:
    """A `description` string beside versions or entrypoints goes into each entrypoint."""
    if not isinstance(data, dict):
        return data
    apps: dict[str, Any] = {}
    for app_name, versions in data.items():
        if not isinstance(versions, dict):
            apps[app_name] = versions  # validation says what is wrong
            continue
        app_text, versions = _split_description(versions)
        for version_name, entrypoints in versions.items():
            if not isinstance(entrypoints, dict):
                continue
            version_text, entrypoints = _split_description(entrypoints)
            moved = {"application_description": app_text, "version_description": version_text}
            moved = {key: text for key, text in moved.items() if text is not None}
            versions[version_name] = {
                name: {**moved, **entry} if isinstance(entry, dict) else entry
                for name, entry in entrypoints.items()
            }
        apps[app_name] = versions
    return apps


def _split_description(level: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The level's description (None when it has none) and a copy without it."""
    text = level.get(DESCRIPTION_KEY)
    if not isinstance(text, str):
        return None, dict(level)
    return text, {key: value for key, value in level.items() if key != DESCRIPTION_KEY}


class Catalogue(RootModel[dict[str, dict[str, dict[str, Entrypoint]]]]):
    """The whole file, keyed application → version → entrypoint."""

    @model_validator(mode="before")
    @classmethod
    def _descriptions(cls, data: Any) -> Any:
        return _push_descriptions_down(data)

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


class ReloadingCatalogue:
    """A catalogue that is read again when its source's version changes.

    `version()` is cheap (an mtime, an ETag; None when the source is missing) and is
    asked at most every `min_check_interval_s`; `text()` reads the source. An edit
    that does not parse is logged and the last good catalogue stays in use.
    """

    def __init__(
        self,
        source: str,
        version: Callable[[], str | None],
        text: Callable[[], str],
        min_check_interval_s: float = 0.0,
    ) -> None:
        self.source = source
        self._version_of, self._text_of = version, text
        self.min_check_interval_s = min_check_interval_s
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self._version = version()
        if self._version is None:
            raise InvalidCatalogue(f"APPLICATION_CONFIG_FILE: no file at {source}")
        self._current = parse_catalogue(text(), source)

    def get(self) -> Catalogue:
        """The current catalogue, reloaded first if the source changed."""
        now = time.monotonic()
        if now - self._checked < self.min_check_interval_s:
            return self._current
        self._checked = now
        try:
            version = self._version_of()
        except Exception as exc:  # the source is unreachable for now: keep serving
            log.warning("cannot check %s (%s); keeping the last good catalogue", self.source, exc)
            return self._current
        if version is not None and version != self._version:
            with self._lock:
                if version != self._version:
                    self._version = version
                    try:
                        self._current = parse_catalogue(self._text_of(), self.source)
                        log.info("reloaded application catalogue from %s", self.source)
                    except Exception as exc:  # noqa: BLE001 - invalid edit or vanished source
                        log.error("keeping the last good application catalogue: %s", exc)
        return self._current


def catalogue_file(path: str | os.PathLike[str]) -> ReloadingCatalogue:
    """A catalogue in a local file, re-read when its mtime changes."""
    file = Path(path)

    def mtime() -> str | None:
        try:
            return str(file.stat().st_mtime_ns)
        except FileNotFoundError:
            return None

    return ReloadingCatalogue(str(file), mtime, file.read_text)


def catalogue_s3(
    uri: str,
    *,
    client: Any = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    min_check_interval_s: float = 10.0,
) -> ReloadingCatalogue:
    """A catalogue in S3 (`s3://bucket/key`), re-read when its ETag changes."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise InvalidCatalogue(f"APPLICATION_CONFIG_FILE: not an s3://bucket/key URI: {uri}")
    if client is None:
        import boto3

        client = boto3.client("s3", region_name=region, endpoint_url=endpoint_url)

    def etag() -> str | None:
        from botocore.exceptions import ClientError

        try:
            return str(client.head_object(Bucket=bucket, Key=key)["ETag"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def text() -> str:
        return str(client.get_object(Bucket=bucket, Key=key)["Body"].read().decode())

    return ReloadingCatalogue(uri, etag, text, min_check_interval_s)


def open_catalogue(
    location: str, *, region: str | None = None, endpoint_url: str | None = None
) -> ReloadingCatalogue:
    """The catalogue at a local path or an `s3://bucket/key` URI."""
    if location.startswith("s3://"):
        return catalogue_s3(location, region=region, endpoint_url=endpoint_url)
    return catalogue_file(location)
