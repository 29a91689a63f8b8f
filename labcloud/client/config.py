"""Where the SDK and the CLI keep your sessions: one JSON file, readable by you only.

The file is `<config dir>/credentials.json` (mode 0600, its folder 0700). The
config dir is `$LABCLOUD_CONFIG_DIR` if set, else the platform's usual place:
`$XDG_CONFIG_HOME/labcloud` or `~/.config/labcloud` on Linux,
`~/Library/Application Support/labcloud` on macOS, `%APPDATA%\\labcloud` on
Windows. It holds one session (token, expiry, user name) per server URL and the
URL used last. Passwords are never stored.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ENV_URL = "LABCLOUD_URL"
ENV_TOKEN = "LABCLOUD_TOKEN"
ENV_CONFIG_DIR = "LABCLOUD_CONFIG_DIR"
DEFAULT_URL = "http://127.0.0.1:8000"
CREDENTIALS_FILE = "credentials.json"


def config_dir() -> Path:
    """The folder of labcloud's client configuration (not created here)."""
    if override := os.environ.get(ENV_CONFIG_DIR):
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(base) / "labcloud"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "labcloud"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "labcloud"


def normalize_url(url: str) -> str:
    """`host:8000/` → `http://host:8000`: a scheme, and no trailing slash."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    return url.rstrip("/")


@dataclass
class Session:
    """A login on one server: the bearer token and when it stops working."""

    url: str
    token: str
    username: str | None = None
    expires_at: float | None = None  # seconds since the epoch
    method: str = "local"  # how it was obtained: "local" (/token), "cognito", "token"

    def expired(self, margin_s: float = 0) -> bool:
        return self.expires_at is not None and time.time() + margin_s >= self.expires_at


class CredentialStore:
    """The sessions file; every write replaces it atomically with mode 0600."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / CREDENTIALS_FILE

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable: behave as logged out; the next login rewrites it
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        # mkstemp creates the file with mode 0600 (os.open with O_EXCL), before any
        # byte of the token is written; os.replace keeps that mode.
        fd, tmp = tempfile.mkstemp(prefix=".credentials-", dir=folder)
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(data, out, indent=2, sort_keys=True)
                out.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def default_url(self) -> str | None:
        """The server URL of the last login, if any."""
        url = self._load().get("url")
        return str(url) if url else None

    def get(self, url: str) -> Session | None:
        """The stored session for `url`, or None."""
        entry = (self._load().get("sessions") or {}).get(normalize_url(url))
        if not isinstance(entry, dict) or not entry.get("token"):
            return None
        fields = {k: entry.get(k) for k in ("token", "username", "expires_at", "method")}
        return Session(url=normalize_url(url), **{k: v for k, v in fields.items() if v is not None})

    def save(self, session: Session, make_default: bool = True) -> None:
        """Store `session` (replacing the one for its URL) and make its URL the default."""
        data = self._load()
        sessions = data.setdefault("sessions", {})
        entry = asdict(session)
        url = normalize_url(entry.pop("url"))
        sessions[url] = entry
        if make_default:
            data["url"] = url
        self._write(data)

    def remove(self, url: str) -> bool:
        """Forget the session for `url`; whether there was one."""
        data = self._load()
        found = data.get("sessions", {}).pop(normalize_url(url), None) is not None
        if found:
            self._write(data)
        return found


def resolve_url(flag: str | None = None, store: CredentialStore | None = None) -> str:
    """The server URL: the flag, else $LABCLOUD_URL, else the last login's, else the
    local default (`labcloud up`)."""
    chosen = flag or os.environ.get(ENV_URL) or (store or CredentialStore()).default_url()
    return normalize_url(chosen or DEFAULT_URL)
