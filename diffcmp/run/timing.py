"""Timing: warm, blocked, repeated, and summarised robustly.

A phase is timed after a warm-up call, in blocks of calls sized so that one block lasts at least
``BLOCK_S`` (far above ``time.perf_counter``'s resolution and the cost of reading it), until at
least ``min_time`` seconds of blocks have run and at least ``MIN_BLOCKS`` blocks. Each block gives
one per-call time (block time / calls); the summary is their median and interquartile range, so
an outlier (a page fault, a busy neighbour) cannot drag it. As :mod:`timeit` does, the garbage
collector is paused while blocks run.

The callable must do all the work of the phase and wait for its own result (JAX's
``block_until_ready``); everything that prepares it (derivation, ``lambdify``, tracing,
compiling, the first call) happens before and is reported as its own ``prepare`` steps.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DiffcmpError
from .limits import MIN_TIME_S  # re-exported: the default minimum measured time per phase

#: Shortest block of calls: 0.1 ms, 1e5 times perf_counter's resolution on Linux and over a
#: thousand times the cost of reading the clock twice. Short blocks keep the median honest on a
#: shared machine: a block the scheduler interrupts is an outlier, not the norm.
BLOCK_S = 1e-4
#: At least this many blocks (so that the median and IQR mean something) ...
MIN_BLOCKS = 3
#: ... and never more than this many (a bound on memory and summarising time).
MAX_BLOCKS = 100_000

Clock = Callable[[], float]


@dataclass(frozen=True)
class Measurement:
    """Per-call time of one phase: median and IQR over blocks, the calls and time measured."""

    median_s: float
    iqr_s: float
    runs: int
    total_s: float
    blocks: int = 1

    @property
    def relative_iqr(self) -> float:
        """IQR / median: the spread of the measurement (0 when the median is 0)."""
        return self.iqr_s / self.median_s if self.median_s > 0 else 0.0


def clock_resolution() -> float:
    """The resolution of ``time.perf_counter`` in seconds, as the OS reports it."""
    return time.get_clock_info("perf_counter").resolution


def default_block_s() -> float:
    """``BLOCK_S``, or ten thousand times the clock's resolution on a coarse clock."""
    return max(BLOCK_S, 10_000 * clock_resolution())


def _run_block(call: Callable[[], Any], n: int, clock: Clock) -> float:
    start = clock()
    for _ in range(n):
        call()
    return clock() - start


def block_size(call: Callable[[], Any], block_s: float = BLOCK_S,
               clock: Clock = time.perf_counter) -> tuple[int, float]:
    """The number of calls ``n`` that makes one block last at least ``block_s``.

    Returns ``(n, seconds)``: the last trial ran exactly ``n`` calls in ``seconds``, so it is a
    valid block and the caller may keep it.
    """
    n = 1
    while True:
        elapsed = _run_block(call, n, clock)
        if elapsed >= block_s:
            return n, elapsed
        # aim 20% past the target from the rate just seen, at least doubling
        n = max(2 * n, int(n * block_s / max(elapsed, 1e-9) * 1.2))


def measure(call: Callable[[], Any], min_time: float = MIN_TIME_S, block_s: float | None = None,
            *, clock: Clock = time.perf_counter, max_blocks: int = MAX_BLOCKS) -> Measurement:
    """Time ``call()`` (already prepared; it must wait for its own result) as described above.

    ``min_time`` is the least total time of the measured blocks (warm-up and sizing excluded);
    ``block_s`` the least duration of one block (default :func:`default_block_s`). Raises
    :class:`~diffcmp.errors.DiffcmpError` for a non-positive ``min_time`` or ``block_s``.
    """
    if not min_time > 0:
        raise DiffcmpError(f"min_time must be positive, got {min_time}")
    block_s = default_block_s() if block_s is None else block_s
    if not block_s > 0:
        raise DiffcmpError(f"block_s must be positive, got {block_s}")
    call()  # warm-up: caches, allocator, lazy initialisation
    enabled = gc.isenabled()
    gc.disable()
    try:
        n, first = block_size(call, block_s, clock)
        blocks = [first]
        while (sum(blocks) < min_time or len(blocks) < MIN_BLOCKS) and len(blocks) < max_blocks:
            blocks.append(_run_block(call, n, clock))
    finally:
        if enabled:
            gc.enable()
    per_call = np.asarray(blocks) / n
    q1, median, q3 = np.percentile(per_call, [25, 50, 75])
    return Measurement(float(median), float(q3 - q1), n * len(blocks), float(sum(blocks)),
                       len(blocks))


__all__ = ["BLOCK_S", "MAX_BLOCKS", "MIN_BLOCKS", "MIN_TIME_S", "Measurement", "block_size",
           "clock_resolution", "default_block_s", "measure"]
