"""What the SDK hands back: plain, typed, immutable records of the server's answers.

Each keeps the JSON it came from in `raw`, so fields the server adds later are
not lost.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

TERMINAL_STATUSES = frozenset({"finished", "error", "canceled"})
"""A job in one of these states has ended and will not change again."""

JOB_STATUSES = (
    "queued",
    "pulled",
    "preprocessing",
    "running",
    "postprocessing",
    "finished",
    "error",
    "canceled",
)


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO 8601 time from the server (naive times are UTC), or None."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class FileEntry:
    """One entry of a listing: `path` relative to your root, folders end with `/`.

    `size` is the server's human-readable size; `bytes` and `sha256` are set when
    the listing was asked for them (``checksums=True``) and the server supports it.
    """

    path: str
    type: Literal["file", "directory"]
    size: str = ""
    bytes: int | None = None
    sha256: str | None = None

    @property
    def is_dir(self) -> bool:
        return self.type == "directory"

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rpartition("/")[2]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileEntry:
        return cls(
            path=str(data["path"]),
            type="directory" if data.get("type") == "directory" else "file",
            size=str(data.get("size") or ""),
            bytes=data.get("bytes"),
            sha256=data.get("sha256"),
        )


@dataclass(frozen=True)
class Job:
    """A job as the server describes it (`GET /jobs/{id}`)."""

    id: int
    name: str
    status: str
    application: str
    version: str
    entrypoint: str
    date_created: dt.datetime | None
    date_started: dt.datetime | None = None
    date_finished: dt.datetime | None = None
    runtime_details: str | None = None
    paths_out: Mapping[str, str] = field(default_factory=dict)
    environment: str | None = None
    priority: int = 0
    hardware: Mapping[str, Any] | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        """The job has ended (finished, error or canceled)."""
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "finished"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Job:
        app = data.get("application") or {}
        return cls(
            id=int(data["id"]),
            name=str(data["job_name"]),
            status=str(data["status"]),
            application=str(app.get("application", "")),
            version=str(app.get("version", "")),
            entrypoint=str(app.get("entrypoint", "")),
            date_created=parse_time(data.get("date_created")),
            date_started=parse_time(data.get("date_started")),
            date_finished=parse_time(data.get("date_finished")),
            runtime_details=data.get("runtime_details"),
            paths_out=dict(data.get("paths_out") or {}),
            environment=data.get("environment"),
            priority=int(data.get("priority") or 0),
            hardware=data.get("hardware"),
            attributes=dict(data.get("attributes") or {}),
            raw=dict(data),
        )


@dataclass(frozen=True)
class StatusChange:
    """One step of a job's history (`GET /jobs/{id}/statuses`)."""

    status: str
    time: dt.datetime | None
    runtime_details: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StatusChange:
        return cls(str(data["status"]), parse_time(data.get("time")), data.get("runtime_details"))


@dataclass(frozen=True)
class JobLog:
    """A job's console log so far (`GET /jobs/{id}/logs`); `truncated`: only its tail."""

    job_id: int
    status: str
    text: str
    truncated: bool = False


@dataclass(frozen=True)
class LogEvent:
    """One event of a followed log: new text (`log`), a status change (`status`), or
    the end of the job (`end`, with its terminal status)."""

    kind: Literal["log", "status", "end"]
    text: str = ""
    status: str | None = None


@dataclass(frozen=True)
class Entrypoint:
    """One runnable entrypoint of the catalogue (application → version → entrypoint)."""

    application: str
    version: str
    entrypoint: str
    env: tuple[str, ...] = ()
    runner: str | None = None
    image_url: str | None = None
    hardware: Mapping[str, Any] = field(default_factory=dict)
    timeout: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_catalogue(cls, catalogue: Mapping[str, Any]) -> list[Entrypoint]:
        """Flatten `GET /jobs/applications` into a sorted list."""
        found = []
        for app, versions in sorted(catalogue.items()):
            for version, entrypoints in sorted((versions or {}).items()):
                for name, conf in sorted((entrypoints or {}).items()):
                    conf = conf or {}
                    handler = conf.get("handler") or {}
                    resources = conf.get("aws_resources") or {}
                    found.append(
                        cls(
                            application=app,
                            version=version,
                            entrypoint=name,
                            env=tuple((conf.get("app") or {}).get("env") or ()),
                            runner=handler.get("runner"),
                            image_url=handler.get("image_url"),
                            hardware=dict(resources.get("hardware") or {}),
                            timeout=resources.get("timeout"),
                            raw=dict(conf),
                        )
                    )
        return found


@dataclass(frozen=True)
class TransferEvent:
    """Progress of an upload or download, for a progress callback.

    kinds: `plan` (before any byte moves: `bytes` and `files` to transfer, and
    `skipped` already there), `progress` (`bytes` just moved for `path`), `done`
    (the file at `path` is complete, `bytes` its size) and `skipped` (the file at
    `path` is already there with the same size and checksum). Callbacks may be
    called from several threads at once.
    """

    kind: Literal["plan", "progress", "done", "skipped"]
    path: str = ""
    bytes: int = 0
    files: int = 0
    skipped: int = 0


@dataclass
class UploadReport:
    """What an upload did: remote paths sent and skipped (already there), bytes sent.

    `resumable` is False when the server cannot tell sizes and checksums, so
    nothing could be skipped."""

    destination: str
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_sent: int = 0
    resumable: bool = True
