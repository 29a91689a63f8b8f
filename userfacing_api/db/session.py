"""Opening the user database and bringing its schema up to date."""

from __future__ import annotations

from pathlib import Path

from shared import db

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "labcloud_user_schema_version"


def upgrade(url: str) -> None:
    """Apply the user API's migrations to `url`."""
    db.upgrade(url, MIGRATIONS, VERSION_TABLE)
