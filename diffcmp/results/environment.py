"""The environment a run ran in: versions of Python and the engines' libraries, the CPU, threads,
dtype and how busy other work kept the machine.

How busy the machine was must not count diffcmp's own work: the load average at the end of a run
mostly measures the run itself (its worker, its thread pools). So a run takes a :class:`Usage`
snapshot as it starts, and :func:`environment` records, beside the load averages before and
after, ``other_cpu``: the cores that other processes kept busy meanwhile, the machine's busy CPU
time (``/proc/stat``) less this process's and its workers' own, over the wall time.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

#: Runs shorter than this get no ``other_cpu``: the clock ticks of ``/proc/stat`` are too coarse.
MIN_USAGE_WALL_S = 1.0


@dataclass(frozen=True)
class Usage:
    """A snapshot of CPU use (:func:`usage`): the monotonic clock, the CPU seconds of this
    process and its finished child processes, the CPU seconds the whole machine has been busy
    (``None`` where the OS does not say) and the load averages."""

    wall: float
    own_cpu: float
    busy_cpu: float | None
    load_avg: list[float] | None


def usage() -> Usage:
    """CPU use now; take one as a run starts, for :func:`environment`."""
    own = sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                resource.getrusage(resource.RUSAGE_CHILDREN)))
    return Usage(time.monotonic(), own, _busy_cpu(), _load_avg())


def other_cpu(start: Usage, end: Usage) -> float | None:
    """Cores other processes kept busy, on average, between two snapshots: the machine's busy
    CPU time less this process's and its children's (workers are reaped before ``end``), over
    the wall time; ``None`` when unknown or the span is under ``MIN_USAGE_WALL_S``."""
    wall = end.wall - start.wall
    if start.busy_cpu is None or end.busy_cpu is None or wall < MIN_USAGE_WALL_S:
        return None
    other = (end.busy_cpu - start.busy_cpu) - (end.own_cpu - start.own_cpu)
    return round(max(other / wall, 0.0), 2)


def environment(threads: int = 1, since: Usage | None = None,
                device: str = "cpu") -> dict[str, Any]:
    """Versions of Python and the engines' libraries, the CPU, threads and dtype, and the load:
    ``load_avg`` now and, given the snapshot ``since`` taken as the run started,
    ``load_avg_before`` and ``other_cpu`` (:func:`other_cpu`); on ``device="cuda"`` the GPU's
    name (``gpu``, as PyTorch reports it)."""
    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    env = {
        "python": platform.python_version(), "platform": platform.platform(),
        "cpu": _cpu_name(), "cpu_count": os.cpu_count(), "torch_threads": threads,
        "dtype": "float64", "load_avg": _load_avg(), **{p: version(p) for p in
                               ("diffcmp", "sympy", "mpmath", "numpy", "torch", "jax", "pandas")},
    }
    if device == "cuda":
        env["gpu"] = _gpu_name()
    if since is not None:
        env["load_avg_before"] = since.load_avg
        env["other_cpu"] = other_cpu(since, usage())
    return env


def _gpu_name() -> str:
    """The first CUDA device's name as PyTorch reports it (``?`` where it cannot say)."""
    try:
        import torch

        return str(torch.cuda.get_device_name(0))
    except Exception:  # no CUDA, or a driver that will not say: the report says "?"
        return "?"


def _load_avg() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (how busy the machine was), where the OS has them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _busy_cpu() -> float | None:
    """CPU seconds the machine has spent busy since it booted, all cores together (Linux's
    ``/proc/stat``: user, nice, system, irq, softirq, steal), or ``None``."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
        if fields[0] != "cpu":
            return None
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
