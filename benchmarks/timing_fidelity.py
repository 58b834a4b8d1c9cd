"""Does diffcmp report the time a gradient really takes?

For ``torch`` and ``jax`` on three cases of different sizes, this prepares the engine exactly as
``diffcmp run`` does, takes the ``grad`` median diffcmp reports (through the runner's own timing
code), and measures the same callable, in the same process, with two independent timers:
``torch.utils.benchmark.Timer(...).blocked_autorange()`` and the standard library's ``timeit``
(``autorange`` for the number of calls, best of 5 repeats, as ``python -m timeit`` does). The
measurements alternate in rounds (in a rotating order), so a change in the machine's load hits
all of them alike; each ratio is the median over rounds of diffcmp / independent. Target: every
ratio within 0.9 to 1.1.

Run from the repository root: ``python benchmarks/timing_fidelity.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.benchmark import Timer

import diffcmp
from diffcmp.engines import get_engine
from diffcmp.run.evaluate import _time  # the code path diffcmp run times with
from diffcmp.run.rows import CaseResult
from diffcmp.run.timing import MIN_TIME_S
from diffcmp.symbolic.problem import lower

ROOT = Path(__file__).resolve().parent.parent
TARGET = (0.9, 1.1)


def cases() -> list[diffcmp.Case]:
    """Small (2 parameters), medium (13, a tanh network) and large (200 x 20 least squares)."""
    rng = np.random.default_rng(0)
    big = diffcmp.Case(name="least_squares_200x20", loss="sum((X @ w - y)**2) / 2",
                       params={"w": rng.standard_normal(20) * 0.1},
                       data={"X": rng.standard_normal((200, 20)), "y": rng.standard_normal(200)})
    return [diffcmp.load_case(ROOT / "cases" / "testfn_rosenbrock.toml"),
            diffcmp.load_case(ROOT / "cases" / "ml_mlp_tanh.toml"), big]


def diffcmp_grad(engine: str, prepared: Any, point: np.ndarray, min_time: float) -> float:
    """The grad median diffcmp reports for this prepared engine."""
    result = CaseResult("fidelity")
    _time(result, engine, prepared, point, min_time)
    (row,) = [r for r in result.timing if r["phase"] == "grad"]
    return row["median_s"]


def torch_timer(grad: Any, inputs: Any, min_time: float) -> float:
    """Median per-call time from torch.utils.benchmark's blocked_autorange (1 thread)."""
    timer = Timer("grad(inputs)", globals={"grad": grad, "inputs": inputs}, num_threads=1)
    return timer.blocked_autorange(min_run_time=min_time).median


def stdlib_timeit(grad: Any, inputs: Any) -> float:
    """``python -m timeit``'s recipe: autorange's number of calls, best of 5 repeats."""
    timer = timeit.Timer("grad(inputs)", globals={"grad": grad, "inputs": inputs})
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=5, number=number)) / number


def rounds(engine: str, prepared: Any, point: np.ndarray, count: int,
           min_time: float) -> dict[str, list[float]]:
    """``count`` rounds of the three measurements, in a rotating order (none always first)."""
    inputs = prepared.inputs(point)
    measurements: dict[str, Callable[[], float]] = {
        "diffcmp": lambda: diffcmp_grad(engine, prepared, point, min_time),
        "timer": lambda: torch_timer(prepared.grad, inputs, min_time),
        "timeit": lambda: stdlib_timeit(prepared.grad, inputs)}
    order = list(measurements)
    got: dict[str, list[float]] = {name: [] for name in order}
    for k in range(count):
        for name in order[k % 3:] + order[:k % 3]:
            got[name].append(measurements[name]())
    return got


def main(argv: list[str] | None = None) -> int:
    """Print diffcmp's grad median beside the independent ones, and their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (default 7)")
    parser.add_argument("--min-time", type=float, default=MIN_TIME_S,
                        help=f"diffcmp's --min-time and the Timer's min_run_time "
                        f"(default {MIN_TIME_S})")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores; {args.rounds} alternating rounds, median of each")
    header = (f"{'case':22} {'engine':6} {'diffcmp':>10} {'Timer':>10} {'ratio':>6} "
              f"{'timeit':>10} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    ratios = []
    for case in cases():
        problem = lower(case)
        for engine in ("torch", "jax"):
            prepared = get_engine(engine, threads=1).prepare(problem)
            got = rounds(engine, prepared, problem.point, args.rounds, args.min_time)
            ours, blocked, best = got["diffcmp"], got["timer"], got["timeit"]
            r_blocked = [a / b for a, b in zip(ours, blocked, strict=True)]
            r_best = [a / b for a, b in zip(ours, best, strict=True)]
            pair = (statistics.median(r_blocked), statistics.median(r_best))
            ratios += pair
            print(f"{case.name:22} {engine:6} {statistics.median(ours) * 1e6:8.1f}us "
                  f"{statistics.median(blocked) * 1e6:8.1f}us {pair[0]:6.3f} "
                  f"{statistics.median(best) * 1e6:8.1f}us {pair[1]:6.3f}")
    inside = all(TARGET[0] <= r <= TARGET[1] for r in ratios)
    print(f"\nratios {min(ratios):.3f} .. {max(ratios):.3f}; target {TARGET[0]} .. {TARGET[1]}: "
          f"{'met' if inside else 'MISSED'}")
    return 0 if inside else 1


if __name__ == "__main__":
    sys.exit(main())
