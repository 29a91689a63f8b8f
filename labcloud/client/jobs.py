"""Applications and jobs: submit, list, wait, follow the log, cancel, delete, download."""

from __future__ import annotations

import builtins
import datetime as dt
import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from labcloud.client.errors import ConnectionFailed, NotFoundError
from labcloud.client.files import Files, ProgressCallback
from labcloud.client.http import Connection
from labcloud.client.models import Entrypoint, Job, JobLog, LogEvent, StatusChange
from labcloud.client.sse import log_event, parse_sse

OUTPUT_KINDS = ("output", "log", "artifact")
PAGE = 1000
JobRef = int | str | Job


def input_id(path: str, folder: str) -> str:
    """An input path as the API wants it, relative to `folder` (`data/exp1/` → `exp1/`)."""
    path = path.replace("\\", "/").lstrip("/")
    return path[len(folder) + 1 :] if path.startswith(folder + "/") else path


def default_job_name(application: str, entrypoint: str) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{application}-{entrypoint}-{stamp}-{secrets.token_hex(2)}"


class Jobs:
    """The `/jobs` part of the API (reach it as `client.jobs`)."""

    def __init__(self, conn: Connection, files: Files) -> None:
        self._conn = conn
        self._files = files

    def applications(self) -> list[Entrypoint]:
        """Every runnable application → version → entrypoint of the catalogue."""
        return Entrypoint.from_catalogue(self._conn.json("GET", "/jobs/applications"))

    def submit(
        self,
        application: str,
        version: str,
        entrypoint: str,
        *,
        name: str | None = None,
        config: str | None = None,
        data: Sequence[str] = (),
        artifacts: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        hardware: Mapping[str, Any] | None = None,
        environment: str | None = None,
        priority: int = 0,
    ) -> Job:
        """Queue a job and return it (status `queued`).

        `config` is a file or folder below your `config/` folder, `data` and
        `artifacts` below `data/` and `artifact/` (a leading `data/` etc. is
        accepted). `env` may only name the entrypoint's allowed variables.
        `hardware` takes `cpu_cores`, `memory` (MB), `gpu_model`, `gpu_archi`,
        `gpu_mem` (MB); `environment` is `local`, `cloud` or None for any.
        The job's name, unique among your jobs, names its output folders.
        """
        body = {
            "job_name": name or default_job_name(application, entrypoint),
            "environment": environment,
            "priority": priority,
            "application": {
                "application": application,
                "version": version,
                "entrypoint": entrypoint,
            },
            "attributes": {
                "files_down": {
                    "config_id": input_id(config, "config") if config else None,
                    "data_ids": [input_id(d, "data") for d in data],
                    "artifact_ids": [input_id(a, "artifact") for a in artifacts],
                },
                "env_vars": dict(env or {}),
            },
            "hardware": {k: v for k, v in (hardware or {}).items() if v is not None} or None,
        }
        return Job.from_json(self._conn.json("POST", "/jobs", json=body))

    def list(self, *, limit: int = 100, offset: int = 0) -> list[Job]:
        """Your jobs, newest first."""
        answer = self._conn.json("GET", "/jobs", params={"limit": limit, "offset": offset})
        return [Job.from_json(item) for item in answer]

    def iter_all(self) -> Iterator[Job]:
        """All your jobs, newest first, page by page."""
        offset = 0
        while True:
            page = self.list(limit=PAGE, offset=offset)
            yield from page
            if len(page) < PAGE:
                return
            offset += PAGE

    def get(self, job: JobRef) -> Job:
        """A job by id, by name, or a fresh copy of a Job. NotFoundError if it is not yours."""
        if isinstance(job, Job):
            job = job.id
        if isinstance(job, str) and not job.isdigit():
            return self._by_name(job)
        try:
            return Job.from_json(self._conn.json("GET", f"/jobs/{int(job)}"))
        except NotFoundError:
            if isinstance(job, str):  # a job may be named "2024"
                return self._by_name(job)
            raise

    def _by_name(self, name: str) -> Job:
        found = next((j for j in self.iter_all() if j.name == name), None)
        if found is None:
            raise NotFoundError(f"you have no job with the id or name '{name}'", status_code=404)
        return found

    def _id(self, job: JobRef) -> int:
        if isinstance(job, Job):
            return job.id
        if isinstance(job, int):
            return job
        return self.get(job).id

    def wait(
        self,
        job: JobRef,
        *,
        callback: Callable[[Job], None] | None = None,
        poll_interval: float = 1.0,
        max_interval: float = 10.0,
        timeout: float | None = None,
    ) -> Job:
        """Poll until the job has ended and return it. `callback(job)` is called once at
        the start and on every status change. TimeoutError after `timeout` seconds."""
        job_id = self._id(job)
        deadline = None if timeout is None else time.monotonic() + timeout
        interval, last = poll_interval, None
        while True:
            current = self.get(job_id)
            if current.status != last:
                last, interval = current.status, poll_interval
                if callback:
                    callback(current)
            if current.is_terminal:
                return current
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {current.status} after {timeout} s")
            time.sleep(interval if deadline is None else min(interval, deadline - time.monotonic()))
            interval = min(max_interval, interval * 1.5)

    def statuses(self, job: JobRef) -> builtins.list[StatusChange]:
        """The job's status history, oldest first."""
        answer = self._conn.json("GET", f"/jobs/{self._id(job)}/statuses")
        return [StatusChange.from_json(item) for item in answer]

    def log(self, job: JobRef) -> JobLog:
        """The job's console log so far (`truncated`: only its tail is kept)."""
        answer = self._conn.json("GET", f"/jobs/{self._id(job)}/logs")
        return JobLog(
            job_id=int(answer.get("job_id", self._id(job))),
            status=str(answer.get("status", "")),
            text=str(answer.get("log") or ""),
            truncated=bool(answer.get("truncated")),
        )

    def follow(
        self, job: JobRef, *, read_timeout: float | None = None, reconnects: int = 5
    ) -> Iterator[LogEvent]:
        """The job's log as it is written, and its status changes, until it ends (the
        last event is `end`). A job that has already ended gives its log, then `end`.

        A stream that breaks off is resumed where it stopped (`Last-Event-ID`), up to
        `reconnects` times in a row. `read_timeout`: treat that many seconds without
        a byte as a broken stream (None: wait as long as the job runs)."""
        job_id = self._id(job)
        timeout = httpx.Timeout(30.0, read=read_timeout)
        last_id: str | None = None
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = last_id
            try:
                with self._conn.stream(
                    "GET", f"/jobs/{job_id}/logs/stream", headers=headers, timeout=timeout
                ) as response:
                    for sse in parse_sse(response.iter_lines()):
                        event = log_event(sse)
                        if sse.id is not None:
                            last_id = sse.id
                        if event is None:
                            continue
                        failures = 0
                        yield event
                        if event.kind == "end":
                            return
            except ConnectionFailed:
                pass
            # Broken off before `end`: resume where it stopped, a few times in a row.
            failures += 1
            if failures > reconnects:
                current = self.get(job_id)
                if current.is_terminal:
                    yield LogEvent("end", status=current.status)
                    return
                raise ConnectionFailed(f"the log stream of job {job_id} keeps breaking off")
            time.sleep(min(0.25 * 2**failures, 5))

    def cancel(self, job: JobRef) -> Job:
        """Ask for the job to stop; it turns `canceled` once the worker side has stopped it
        (a job that has already ended stays as it is)."""
        return Job.from_json(self._conn.json("POST", f"/jobs/{self._id(job)}/cancel"))

    def delete(self, job: JobRef) -> None:
        """Delete the job and its outputs (stopping it first if it still runs)."""
        self._conn.request("DELETE", f"/jobs/{self._id(job)}")

    def download(
        self,
        job: JobRef,
        dest: str | os.PathLike[str] = ".",
        *,
        kinds: Sequence[str] = OUTPUT_KINDS,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """Download the job's results into `dest/<job name>/`, laid out as the application
        wrote them (e.g. `output/…`, `log/…`, `model/…`). Returns that folder."""
        found = job if isinstance(job, Job) else self.get(job)
        target = Path(dest) / found.name
        target.mkdir(parents=True, exist_ok=True)
        for kind in kinds:
            remote = found.paths_out.get(kind) or f"{kind}/{found.name}"
            entry = self._files.stat(remote)
            if entry is not None and entry.is_dir:
                self._files.download_folder_into(remote, target, progress=progress)
        return target
