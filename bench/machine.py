"""The machine a run measured on, for the results file and docs/benchmarks.md."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa

from tests.support.databases import PG_ADMIN_URL

PACKAGES = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "psycopg", "httpx", "pydantic")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _disk(path: Path) -> dict[str, Any]:
    """The file system `path` is on: device, type, size."""
    best = None
    for part in psutil.disk_partitions(all=True):
        if str(path.resolve()).startswith(part.mountpoint) and (
            best is None or len(part.mountpoint) > len(best.mountpoint)
        ):
            best = part
    usage = psutil.disk_usage(str(path))
    rotational = None
    if best is not None:
        dev = Path(best.device).name
        flag = Path(f"/sys/block/{dev}/queue/rotational")
        if flag.exists():
            rotational = flag.read_text().strip() == "1"
    return {
        "path": str(path),
        "device": best.device if best else None,
        "fstype": best.fstype if best else None,
        "size_gb": round(usage.total / 1e9),
        "rotational": rotational,
    }


def _postgres_version() -> str | None:
    engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql("SHOW server_version").scalar())
    except Exception:  # noqa: BLE001 - not there
        return None
    finally:
        engine.dispose()


def _git() -> dict[str, Any]:
    """The commit measured, and the files changed on top of it (the tree may be dirty)."""
    repo = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
        return done.stdout.rstrip() if done.returncode == 0 else ""

    changed = [
        line[3:] for line in git("status", "--porcelain").splitlines() if "bench/" not in line
    ]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or None, "changed": changed}


def describe(tmp: Path) -> dict[str, Any]:
    """Cores, memory, disk, OS, Python, databases and library versions."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "disk": _disk(tmp),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "postgres": _postgres_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "git": _git(),
    }
