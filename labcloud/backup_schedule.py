"""Periodic backups while `labcloud up` runs (LABCLOUD_BACKUP_TO, _INTERVAL, _KEEP).

Like the proof of concept's 20-second snapshots, but to durable storage: a folder on
another disk, a network share, or S3. A round whose data did not change since the last
backup writes nothing. A failed round is logged and tried again at the next interval.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from labcloud.backup_targets import open_target, parse_location
from labcloud.backups import backup

log = logging.getLogger(__name__)


class BackupSettings(BaseSettings):
    """`LABCLOUD_BACKUP_<NAME>`; `labcloud up --backup-to …` overrides them."""

    model_config = SettingsConfigDict(
        env_prefix="LABCLOUD_BACKUP_", env_file=".env", extra="ignore", case_sensitive=False
    )

    to: str | None = Field(
        default=None,
        description="Where `labcloud up` backs its data directory up: a folder or an "
        "s3://bucket/prefix URL; empty: no periodic backups.",
    )
    interval: float = Field(
        default=3600, ge=20, description="Seconds between periodic backups (at least 20)."
    )
    keep: int = Field(default=24, ge=1, description="How many backups to keep (the newest).")

    @field_validator("to")
    @classmethod
    def _check_to(cls, value: str | None) -> str | None:
        if value:
            parse_location(value)
        return value or None


class PeriodicBackup:
    """Backs `data_dir` up every `settings.interval` seconds in a daemon thread."""

    def __init__(self, data_dir: Path, settings: BackupSettings) -> None:
        assert settings.to
        self.data_dir, self.settings = data_dir, settings
        self.target = open_target(settings.to)  # a bad location fails at start-up
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="periodic-backup", daemon=True)
        self.rounds = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.wait(self.settings.interval):
            self.run_once()

    def run_once(self) -> None:
        try:
            summary = backup(
                self.data_dir, self.target, keep=self.settings.keep, skip_unchanged=True
            )
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            log.error("periodic backup to %s failed: %s", self.target.describe(), exc)
            return
        self.rounds += 1
        if summary.skipped:
            log.info("periodic backup: nothing changed since the last one")
        else:
            log.warning(  # shown at `up`'s default log level
                "backed up %d files (%d reused) to %s",
                summary.files,
                summary.reused,
                summary.location,
            )
