"""Run a job as a plain host process (no container): for workstations without Docker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from worker.runners.base import LOG_TAIL_CHARS, MAX_LOG_BYTES, Capability, RunSpec, tail_text

#: Host variables a job may see; everything else (tokens, cloud credentials the
#: worker itself holds) is withheld from the job.
DEFAULT_PASSTHROUGH_ENV: tuple[str, ...] = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR",
    "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
)  # fmt: skip

#: Seconds to wait for the process to be reaped after SIGKILL.
_REAP_TIMEOUT_S = 10.0


@dataclass
class ProcessHandle:
    """One running job process; its process group id equals ``popen.pid``."""

    popen: subprocess.Popen[bytes]
    log_file: IO[bytes]
    log_path: Path
    private_dir: Path  # runner-owned temp dir holding the log (outside files_dir)


class ProcessRunner:
    """Runs ``sh -c <command>`` in its own session with ``cwd=files_dir``.

    ``enforce_memory_limit`` applies ``spec.memory_mb`` as a virtual-memory
    rlimit (``ulimit -v``). It is off by default because address-space limits
    are far stricter than container RSS limits (thread stacks, allocator arenas
    and CUDA reserve lots of address space) and break ordinary programs.
    CPU requests are not enforced for plain processes; GPUs only through
    ``CUDA_VISIBLE_DEVICES`` (see :meth:`build_env`).
    """

    capabilities: frozenset[Capability] = frozenset()  # `sh -c` in the job dir, nothing more

    def __init__(
        self,
        *,
        passthrough_env: Iterable[str] = DEFAULT_PASSTHROUGH_ENV,
        enforce_memory_limit: bool = False,
        log_dir: str | Path | None = None,
    ) -> None:
        self._passthrough_env = tuple(passthrough_env)
        self._enforce_memory_limit = enforce_memory_limit
        self._log_dir = Path(log_dir) if log_dir is not None else None

    def build_env(self, spec: RunSpec, host_env: Mapping[str, str] | None = None) -> dict[str, str]:
        """Return the job's environment: filtered host env + ``spec.env`` + ``FILES_DIR``.

        A plain process sees every GPU of the host, so ``CUDA_VISIBLE_DEVICES``
        shows it only ``spec.gpu_ids``, or none when it asked for no GPU; the
        job's own env cannot widen that. A GPU count without ids (no reservation
        was made) keeps the host's value.
        """
        host_env = os.environ if host_env is None else host_env
        env = {
            k: v for k, v in host_env.items() if k in self._passthrough_env or k.startswith("LC_")
        }
        env.update(spec.env)
        if spec.gpu_ids or not spec.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(spec.gpu_ids)
        # `python` in the job must be the worker's interpreter (its venv has the app deps).
        python_dir = os.path.dirname(sys.executable)
        path = env.get("PATH") or os.defpath
        env["PATH"] = f"{python_dir}{os.pathsep}{path}" if python_dir else path
        env["FILES_DIR"] = str(spec.files_dir)
        return env

    def start(self, spec: RunSpec) -> ProcessHandle:
        """Start the command; raises ``FileNotFoundError`` if ``files_dir`` is missing."""
        if not spec.files_dir.is_dir():
            raise FileNotFoundError(f"files_dir {spec.files_dir} does not exist")
        if self._log_dir is not None:
            self._log_dir.mkdir(parents=True, exist_ok=True)
        private_dir = Path(tempfile.mkdtemp(prefix="labcloud-run-", dir=self._log_dir))
        log_path = private_dir / "output.log"
        log_file = open(log_path, "wb")  # noqa: SIM115 - closed in cleanup()
        argv = ["sh", "-c", spec.command]
        if self._enforce_memory_limit and spec.memory_mb:
            # Set the limit in a wrapper shell instead of preexec_fn, which is
            # unsafe when the worker runs threads (heartbeats).
            argv = ["sh", "-c", 'ulimit -v "$1" || exit 125; exec sh -c "$2"', "sh",
                    str(spec.memory_mb * 1024), spec.command]  # fmt: skip
        try:
            popen = subprocess.Popen(
                argv,
                cwd=spec.files_dir,
                env=self.build_env(spec),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                # Own session/process group so kill() reaches every descendant.
                start_new_session=True,
            )
        except BaseException:
            log_file.close()
            shutil.rmtree(private_dir, ignore_errors=True)
            raise
        return ProcessHandle(popen, log_file, log_path, private_dir)

    def poll(self, handle: ProcessHandle) -> int | None:
        """Return the shell's exit code (128+N when killed by signal N) or None."""
        code = handle.popen.poll()
        return _shell_code(code) if code is not None else None

    def logs(self, handle: ProcessHandle, tail_chars: int | None = LOG_TAIL_CHARS) -> str:
        """Return the tail (or the bounded whole) of the combined log."""
        handle.log_file.flush()
        try:
            with open(handle.log_path, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                # Reading 4 bytes per char is enough for any UTF-8 tail.
                want = MAX_LOG_BYTES if tail_chars is None else min(MAX_LOG_BYTES, 4 * tail_chars)
                f.seek(max(0, size - want))
                data = f.read()
        except FileNotFoundError:  # already cleaned up
            return ""
        return tail_text(data, tail_chars)

    def kill(self, handle: ProcessHandle) -> None:
        """SIGKILL the whole process group and reap the shell."""
        _kill_group(handle.popen.pid)
        try:
            handle.popen.wait(timeout=_REAP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass  # unkillable (D state); cleanup() will try again

    def cleanup(self, handle: ProcessHandle) -> None:
        """Kill leftovers (e.g. background children of an exited shell), drop the log."""
        _kill_group(handle.popen.pid)
        if handle.popen.poll() is None:
            try:
                handle.popen.wait(timeout=_REAP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        handle.log_file.close()
        shutil.rmtree(handle.private_dir, ignore_errors=True)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # group already gone (PermissionError: pgid reused by another user)


def _shell_code(returncode: int) -> int:
    # Popen reports death by signal N as -N; report it like a shell/docker does (128+N).
    return 128 - returncode if returncode < 0 else returncode
