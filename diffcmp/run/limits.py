"""The limits of a case run in a worker process (:mod:`~diffcmp.run.isolation`): its default
time limit and its memory limit, and the default minimum measured time per phase, in a module of
their own so that reading settings (:mod:`diffcmp.config`, the pytest plugin in every session)
imports no engine, nor NumPy."""

from __future__ import annotations

import os
import resource

#: Seconds a case may take, from loading its file to its last timing (``--timeout``).
DEFAULT_TIMEOUT_S = 300.0
#: Default minimum total measured time per phase (``--min-time``; :mod:`~diffcmp.run.timing`).
MIN_TIME_S = 0.2

#: The default memory limit is this fraction of the machine's memory (at least ``MIN_MEMORY``).
MEMORY_FRACTION = 0.5
MIN_MEMORY = 2 * 2**30


def default_memory_limit() -> int | None:
    """Half the machine's physical memory, at least 2 GiB; ``None`` where it is unknown."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    return max(int(total * MEMORY_FRACTION), MIN_MEMORY)


def data_in_use() -> int | None:
    """Bytes this process has mapped for writing (what ``RLIMIT_DATA`` counts: Linux's
    ``VmData``), or ``None`` where ``/proc`` does not say."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def limit_memory(limit: int) -> None:
    """Let the process map ``limit`` more bytes than it holds now (``RLIMIT_DATA``)."""
    limit += data_in_use() or 0
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


__all__ = ["DEFAULT_TIMEOUT_S", "MEMORY_FRACTION", "MIN_MEMORY", "MIN_TIME_S", "data_in_use",
           "default_memory_limit", "limit_memory"]
