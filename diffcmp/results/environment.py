"""The environment a run ran in: versions of Python and the engines' libraries, the CPU, threads,
dtype and how busy the machine was."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any


def environment(threads: int = 1) -> dict[str, Any]:
    """Versions of Python and the engines' libraries, the CPU, threads and dtype."""
    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "python": platform.python_version(), "platform": platform.platform(),
        "cpu": _cpu_name(), "cpu_count": os.cpu_count(), "torch_threads": threads,
        "dtype": "float64", "load_avg": _load_avg(), **{p: version(p) for p in
                               ("diffcmp", "sympy", "mpmath", "numpy", "torch", "jax", "pandas")},
    }


def _load_avg() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (how busy the machine was), where the OS has them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
