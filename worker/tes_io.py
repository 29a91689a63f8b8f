"""Byte moving for TES tasks: executors' output streams, http(s) inputs and outputs."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import socket
import stat
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from worker.runners import Runner

#: Characters of each executor's stdout and stderr kept for the TES view.
STREAM_TAIL_CHARS = 10_000
_HTTP_TIMEOUT = httpx.Timeout(300.0, connect=20.0)
_CHUNK = 1 << 20
# What engines say when argv[0] does not exist or cannot be run: the shell's codes.
_NOT_FOUND = ("executable file not found", "no such file or directory", "not found in $path")


def save_streams(
    runner: Runner[Any], handle: Any, stdout: Path | None, stderr: Path | None
) -> dict[str, str]:
    """Write a finished container's stdout and stderr to the host files the executor
    names (whole, streamed), and return the tail of each."""
    container = getattr(handle, "container", None)
    if container is None:  # not a container run: only the combined log is there
        text = runner.logs(handle, tail_chars=None)
        for dest, data in ((stdout, text), (stderr, "")):
            if dest is not None:
                with open_for_writing(dest) as f:
                    f.write(data.encode("utf-8", errors="replace"))
        return {"stdout": text[-STREAM_TAIL_CHARS:], "stderr": ""}
    tails = {}
    for name, dest in (("stdout", stdout), ("stderr", stderr)):
        chunks = container.logs(
            stdout=name == "stdout", stderr=name == "stderr", stream=True, follow=False
        )
        tails[name] = _drain(chunks, dest)
    return tails


def open_for_writing(path: Path) -> Any:
    """``path`` opened for writing, never through a symlink the executors planted there
    (its folders are checked by the caller, with :func:`worker.staging.inside`)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o644)
    # whatever the umask: a later executor may run as another user (a file an executor
    # made keeps its owner's modes)
    with contextlib.suppress(PermissionError):
        os.fchmod(fd, 0o644)
    return os.fdopen(fd, "wb")


def _drain(chunks: Any, dest: Path | None) -> str:
    kept: deque[bytes] = deque()
    size = 0
    out = open_for_writing(dest) if dest is not None else None
    try:
        for chunk in chunks:
            if out is not None:
                out.write(chunk)
            kept.append(chunk)
            size += len(chunk)
            while size - len(kept[0]) >= STREAM_TAIL_CHARS * 4:
                size -= len(kept.popleft())
    finally:
        if out is not None:
            out.close()
    return b"".join(kept).decode("utf-8", errors="replace")[-STREAM_TAIL_CHARS:]


def launch_exit_code(exc: Exception) -> int | None:
    """127/126 when the engine could not run argv[0] (what a shell would answer)."""
    text = str(getattr(exc, "explanation", None) or exc).lower()
    if any(m in text for m in _NOT_FOUND):
        return 127
    if "permission denied" in text:
        return 126
    return None


class HttpFailed(Exception):
    """An http(s) input or output answered with an error status, or may not be fetched."""


def shown(url: str) -> str:
    """``url`` without credentials or query (presigned URLs carry secrets there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _refuse_internal(allow_loopback: bool) -> Any:
    """An httpx request hook: no request (nor redirect) to this host's own or link-local
    addresses. The worker runs on the host network: loopback reaches its metrics and
    any co-located API, link-local the cloud's instance metadata (credentials)."""

    def check(request: httpx.Request) -> None:
        host = request.url.host
        try:
            infos = socket.getaddrinfo(host, request.url.port or 443, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise HttpFailed(f"{shown(str(request.url))}: cannot resolve {host}: {exc}") from None
        for info in infos:
            ip = ipaddress.ip_address(info[4][0])
            if ip.is_loopback and allow_loopback:
                continue
            if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
                raise HttpFailed(
                    f"{shown(str(request.url))}: {host} is an address of the worker's own host "
                    "or network link; tasks may not fetch from or send to it"
                )

    return check


def _client(allow_loopback: bool) -> httpx.Client:
    return httpx.Client(
        timeout=_HTTP_TIMEOUT,
        follow_redirects=True,
        event_hooks={"request": [_refuse_internal(allow_loopback)]},  # redirects too
    )


def http_download(url: str, dest: Path, *, allow_loopback: bool = False) -> None:
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        with _client(allow_loopback) as http, http.stream("GET", url) as r:
            if r.status_code >= 400:
                raise HttpFailed(f"GET {shown(url)}: HTTP {r.status_code}")
            with open(tmp, "wb") as f:
                for chunk in r.iter_bytes(_CHUNK):
                    f.write(chunk)
        os.replace(tmp, dest)
    except httpx.HTTPError as exc:
        raise HttpFailed(f"GET {shown(url)}: {type(exc).__name__}") from None
    finally:
        tmp.unlink(missing_ok=True)


def http_upload(url: str, path: Path, *, allow_loopback: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        with os.fdopen(fd, "rb") as f, _client(allow_loopback) as http:
            r = http.put(url, content=_chunks(f))
    except httpx.HTTPError as exc:
        raise HttpFailed(f"PUT {shown(url)}: {type(exc).__name__}") from None
    if r.status_code >= 400:
        raise HttpFailed(f"PUT {shown(url)}: HTTP {r.status_code}")


def _chunks(f: Any) -> Any:
    while chunk := f.read(_CHUNK):
        yield chunk


def link_or_copy(src: Path, dst: Path) -> None:
    if not stat.S_ISREG(os.lstat(src).st_mode):
        raise OSError(f"{src.name} is not a regular file")
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copyfile(src, dst, follow_symlinks=False)
