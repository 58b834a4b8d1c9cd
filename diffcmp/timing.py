"""Timing: warm, blocked, repeated, and summarised robustly.

A phase is timed after a warm-up call, in blocks of calls sized so that one block lasts at least
``BLOCK_S`` (far above ``time.perf_counter``'s resolution), until at least ``min_time`` seconds of
blocks have run. Each block gives one per-call time; the summary is their median and
interquartile range, so one outlier (a page fault, a busy neighbour) cannot drag it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Shortest block of calls: 1 ms, a million times perf_counter's resolution on Linux.
BLOCK_S = 1e-3
#: Default minimum total measured time per phase.
MIN_TIME_S = 0.2
#: Never more than this many blocks (keeps very fast functions from taking long to summarise).
MAX_BLOCKS = 1000


@dataclass(frozen=True)
class Measurement:
    """Per-call time of one phase: median and IQR over blocks, and the number of calls."""

    median_s: float
    iqr_s: float
    runs: int
    total_s: float


def block_size(call: Callable[[], Any], block_s: float = BLOCK_S) -> int:
    """The number of calls that makes one block last at least ``block_s``."""
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            call()
        elapsed = time.perf_counter() - start
        if elapsed >= block_s:
            return n
        n = max(2 * n, int(n * block_s / max(elapsed, 1e-9) * 1.2))


def measure(call: Callable[[], Any], min_time: float = MIN_TIME_S,
            block_s: float = BLOCK_S) -> Measurement:
    """Time ``call()`` (already prepared; it must wait for its own result) as described above."""
    call()  # warm-up: caches, allocator, lazy initialisation
    n = block_size(call, block_s)
    per_call: list[float] = []
    total = 0.0
    while (total < min_time or len(per_call) < 3) and len(per_call) < MAX_BLOCKS:
        start = time.perf_counter()
        for _ in range(n):
            call()
        elapsed = time.perf_counter() - start
        per_call.append(elapsed / n)
        total += elapsed
    q1, median, q3 = np.percentile(per_call, [25, 50, 75])
    return Measurement(float(median), float(q3 - q1), n * len(per_call), total)
