"""Where sessions are kept: the config folder, the 0600 file, the server URL's sources."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from labcloud.client.config import (
    CredentialStore,
    Session,
    config_dir,
    normalize_url,
    resolve_url,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("LABCLOUD_URL", "LABCLOUD_TOKEN", "LABCLOUD_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)


@pytest.mark.skipif(sys.platform != "linux", reason="the Linux layout")
def test_config_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert config_dir() == tmp_path / "home" / ".config" / "labcloud"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "xdg" / "labcloud"
    monkeypatch.setenv("LABCLOUD_CONFIG_DIR", str(tmp_path / "mine"))
    assert config_dir() == tmp_path / "mine"


def test_sessions_file_is_private(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "cfg" / "credentials.json")
    store.save(Session("http://a.example:8000/", "tok-a", username="ada", expires_at=123.0))
    mode = stat.S_IMODE(store.path.stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) & 0o077 == 0
    again = store.get("http://a.example:8000")
    assert again == Session("http://a.example:8000", "tok-a", "ada", 123.0, "local")
    assert store.default_url() == "http://a.example:8000"


def test_one_session_per_server(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    store.save(Session("http://a", "tok-a"))
    store.save(Session("http://b", "tok-b"))
    assert store.get("http://a").token == "tok-a"  # type: ignore[union-attr]
    assert store.default_url() == "http://b"
    assert store.remove("http://b") and not store.remove("http://b")
    assert store.get("http://b") is None and store.get("http://a") is not None
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_a_damaged_file_reads_as_logged_out(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text("{not json")
    store = CredentialStore(path)
    assert store.get("http://a") is None and store.default_url() is None
    store.save(Session("http://a", "tok"))
    assert store.get("http://a") is not None


def test_url_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    assert resolve_url(None, store) == "http://127.0.0.1:8000"
    store.save(Session("http://from-login:8000", "tok"))
    assert resolve_url(None, store) == "http://from-login:8000"
    monkeypatch.setenv("LABCLOUD_URL", "from-env:9000/")
    assert resolve_url(None, store) == "http://from-env:9000"
    assert resolve_url("https://flag.example/", store) == "https://flag.example"


def test_expiry() -> None:
    assert not Session("u", "t").expired()
    assert Session("u", "t", expires_at=1.0).expired()
    assert normalize_url(" host:1/ ") == "http://host:1"
