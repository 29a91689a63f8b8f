"""What this machine offers (CPU, memory, GPUs) and the budget jobs draw from.

Probing reads the kernel (CPU affinity, /proc/meminfo, cgroup limits) and
``nvidia-smi``; every value can be overridden from the settings. The
:class:`Resources` budget lets the loop run as many jobs at once as fit.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from shared.jobs.specs import JobSpecs

log = logging.getLogger(__name__)

NVIDIA_SMI_QUERY = "name,memory.total,compute_cap"
_NVIDIA_SMI_TIMEOUT_S = 20

#: Compute capability major (or major.minor) → architecture name, as users write it.
_ARCHITECTURES: dict[str, str] = {
    "3": "kepler",
    "5": "maxwell",
    "6": "pascal",
    "7.0": "volta",
    "7.2": "volta",
    "7.5": "turing",
    "8.0": "ampere",
    "8.6": "ampere",
    "8.7": "ampere",
    "8.9": "ada",
    "9": "hopper",
    "10": "blackwell",
    "12": "blackwell",
}


@dataclass(frozen=True)
class Gpu:
    """One GPU; ``index`` is its nvidia-smi / CUDA_VISIBLE_DEVICES index."""

    index: int
    model: str
    memory_mb: int
    archi: str | None = None


@dataclass(frozen=True)
class Machine:
    """The resources this worker offers in total."""

    cpu_cores: int
    memory_mb: int
    gpus: tuple[Gpu, ...] = ()


@dataclass(frozen=True)
class Capacity:
    """What the worker advertises in ``GET /jobs``: room for one more job."""

    cpu_cores: int
    memory_mb: int
    gpu_model: str | None = None
    gpu_archi: str | None = None
    gpu_mem_mb: int = 0
    gpus: int = 0  # GPUs free now


@dataclass(frozen=True)
class Needs:
    """What one job takes from the budget while it runs."""

    cpu_cores: int = 1
    memory_mb: int = 0
    gpus: int = 0
    gpu_model: str | None = None
    gpu_archi: str | None = None
    gpu_mem_mb: int = 0


@dataclass(frozen=True)
class Grant:
    """A reservation: hand it back to :meth:`Resources.release` when the job ends."""

    needs: Needs
    gpu_indices: tuple[int, ...] = ()


def job_needs(spec: JobSpecs) -> Needs:
    """A job's needs: its hardware request, 1 core and 0 MB when it names none.

    A job that names a GPU model, architecture or GPU memory needs at least one
    GPU even if its entrypoint did not count GPUs.
    """
    hw = spec.hardware
    wants_gpu = bool(hw.gpu_model or hw.gpu_archi or hw.gpu_mem)
    return Needs(
        cpu_cores=hw.cpu_cores or 1,
        memory_mb=hw.memory or 0,
        gpus=max(spec.handler.gpus, 1 if wants_gpu else 0),
        gpu_model=hw.gpu_model,
        gpu_archi=hw.gpu_archi,
        gpu_mem_mb=hw.gpu_mem or 0,
    )


# --- probing ---------------------------------------------------------------


def cpu_count(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = (cgroup_root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            # A container limited to 1.5 CPUs can keep 2 busy only half the time.
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def total_memory_mb(meminfo: str | None = None, cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """Total memory in MB: MemTotal from /proc/meminfo, capped by a cgroup memory limit."""
    if meminfo is None:
        try:
            meminfo = Path("/proc/meminfo").read_text()
        except OSError:
            meminfo = ""
    total = 0
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            total = int(line.split()[1]) // 1024  # kB
            break
    for limit_file in ("memory.max", "memory/memory.limit_in_bytes"):  # cgroup v2, v1
        try:
            raw = (cgroup_root / limit_file).read_text().strip()
        except OSError:
            continue
        if raw.isdigit():
            limit = int(raw) // (1024 * 1024)
            total = min(total, limit) if total else limit
        break
    return total


def archi_from_compute_cap(cap: str) -> str | None:
    """Architecture name for a compute capability like ``"8.6"``; None if unknown."""
    cap = cap.strip()
    return _ARCHITECTURES.get(cap) or _ARCHITECTURES.get(cap.split(".")[0])


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """Parse the output of ``nvidia-smi --query-gpu=name,memory.total[,compute_cap]``.

    (with ``--format=csv,noheader,nounits``: one ``name, MB, major.minor`` line per GPU.)

    Unreadable values (``[N/A]``) become 0 MB / unknown architecture instead of
    failing the whole probe.
    """
    gpus: list[Gpu] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        # GPU names contain no commas; split from the right anyway to be safe.
        fields = [f.strip() for f in line.rsplit(",", 2)]
        if len(fields) == 2:  # an nvidia-smi too old for compute_cap
            fields.append("")
        name, mem, cap = fields
        try:
            mem_mb = int(float(mem))
        except ValueError:
            mem_mb = 0
        gpus.append(
            Gpu(
                index=len(gpus),
                model=name,
                memory_mb=mem_mb,
                archi=archi_from_compute_cap(cap) if cap else None,
            )
        )
    return gpus


def probe_gpus(run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> list[Gpu]:
    """The NVIDIA GPUs nvidia-smi sees; none when it is missing or fails."""
    if shutil.which("nvidia-smi") is None:
        return []
    for query in (NVIDIA_SMI_QUERY, "name,memory.total"):  # old drivers lack compute_cap
        try:
            proc = run(
                ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=_NVIDIA_SMI_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("nvidia-smi failed: %s; offering no GPUs", exc)
            return []
        if proc.returncode == 0:
            return parse_nvidia_smi(proc.stdout)
    log.warning(
        "nvidia-smi exited with %s: %s; offering no GPUs",
        proc.returncode,
        proc.stderr.strip()[:200],
    )
    return []


def probe(
    *,
    cpu_cores: int | None = None,
    memory_mb: int | None = None,
    gpu_count: int | None = None,
    gpu_model: str | None = None,
    gpu_archi: str | None = None,
    gpu_mem_mb: int | None = None,
    gpus: Sequence[Gpu] | None = None,
) -> Machine:
    """Probe the machine, then apply the overrides (None = keep the probed value).

    ``gpu_count`` larger than the probed count adds GPUs described by the
    ``gpu_*`` overrides (e.g. for a machine where nvidia-smi is not on PATH).
    """
    if gpus is None:
        gpus = [] if gpu_count == 0 else probe_gpus()
    found = list(gpus)
    count = len(found) if gpu_count is None else gpu_count
    while len(found) < count:
        found.append(Gpu(index=len(found), model=gpu_model or "unknown", memory_mb=0))
    chosen = tuple(
        replace(
            g,
            model=gpu_model or g.model,
            archi=gpu_archi or g.archi,
            memory_mb=g.memory_mb if gpu_mem_mb is None else gpu_mem_mb,
        )
        for g in found[:count]
    )
    return Machine(
        cpu_cores=cpu_cores or cpu_count(),
        memory_mb=total_memory_mb() if memory_mb is None else memory_mb,
        gpus=chosen,
    )


# --- the budget --------------------------------------------------------------


class Resources:
    """Thread-safe budget of cores, memory, GPUs and job slots."""

    def __init__(self, machine: Machine, max_jobs: int) -> None:
        self.machine = machine
        self.max_jobs = max_jobs
        self._cond = threading.Condition()
        self._cpu = machine.cpu_cores
        self._mem = machine.memory_mb
        self._free_gpus = {g.index: g for g in machine.gpus}
        self._jobs = 0

    @property
    def running(self) -> int:
        """Jobs holding a grant."""
        with self._cond:
            return self._jobs

    def capacity(self) -> Capacity | None:
        """What to advertise for the next job, or None when not even a 1-core job fits."""
        with self._cond:
            if self._jobs >= self.max_jobs or self._cpu < 1:
                return None
            # Advertise the biggest free GPU: any job one of them can run matches.
            best = max(self._free_gpus.values(), key=lambda g: g.memory_mb, default=None)
            return Capacity(
                cpu_cores=self._cpu,
                memory_mb=self._mem,
                gpu_model=best.model if best else None,
                gpu_archi=best.archi if best else None,
                gpu_mem_mb=best.memory_mb if best else 0,
                gpus=len(self._free_gpus),
            )

    def never_fits(self, needs: Needs) -> str | None:
        """Why ``needs`` exceeds the whole machine, or None if it can fit once others finish."""
        m = self.machine
        if needs.cpu_cores > m.cpu_cores:
            return f"needs {needs.cpu_cores} CPU cores; this worker has {m.cpu_cores}"
        if needs.memory_mb > m.memory_mb:
            return f"needs {needs.memory_mb} MB of memory; this worker has {m.memory_mb} MB"
        usable = len(_matching(m.gpus, needs))
        if needs.gpus > usable:
            what = _gpu_words(needs)
            return f"needs {needs.gpus} GPU(s){what}; this worker has {usable} such GPU(s)"
        return None

    def try_reserve(self, needs: Needs) -> Grant | None:
        """Take ``needs`` from the budget now, or return None if it does not fit now."""
        with self._cond:
            return self._take(needs)

    def reserve(
        self, needs: Needs, give_up: Callable[[], bool], poll_s: float = 0.5
    ) -> Grant | None:
        """Wait until ``needs`` fits and take it; None once ``give_up()`` is true."""
        with self._cond:
            while True:
                grant = self._take(needs)
                if grant is not None or give_up():
                    return grant
                self._cond.wait(poll_s)

    def release(self, grant: Grant) -> None:
        """Give a grant's resources back (and wake jobs waiting for them)."""
        with self._cond:
            self._cpu += grant.needs.cpu_cores
            self._mem += grant.needs.memory_mb
            for index in grant.gpu_indices:
                self._free_gpus[index] = next(g for g in self.machine.gpus if g.index == index)
            self._jobs -= 1
            self._cond.notify_all()

    def _take(self, needs: Needs) -> Grant | None:
        if self._jobs >= self.max_jobs:
            return None
        if needs.cpu_cores > self._cpu or needs.memory_mb > self._mem:
            return None
        gpus = _matching(self._free_gpus.values(), needs)[: needs.gpus]
        if len(gpus) < needs.gpus:
            return None
        self._cpu -= needs.cpu_cores
        self._mem -= needs.memory_mb
        for g in gpus:
            del self._free_gpus[g.index]
        self._jobs += 1
        return Grant(needs, tuple(sorted(g.index for g in gpus)))


def _matching(gpus: Iterable[Gpu], needs: Needs) -> list[Gpu]:
    # Smallest suitable GPUs first, so big ones stay free for big jobs.
    ok = [
        g
        for g in gpus
        if (needs.gpu_model is None or g.model == needs.gpu_model)
        and (needs.gpu_archi is None or g.archi == needs.gpu_archi)
        and g.memory_mb >= needs.gpu_mem_mb
    ]
    return sorted(ok, key=lambda g: (g.memory_mb, g.index))


def _gpu_words(needs: Needs) -> str:
    parts = [
        f"model {needs.gpu_model}" if needs.gpu_model else "",
        f"architecture {needs.gpu_archi}" if needs.gpu_archi else "",
        f"≥ {needs.gpu_mem_mb} MB" if needs.gpu_mem_mb else "",
    ]
    words = ", ".join(p for p in parts if p)
    return f" ({words})" if words else ""
