"""Forward mode against reverse mode on a scalar loss: ``torch`` beside ``torch-fwd``, ``jax``
beside ``jax-fwd``, at growing numbers of parameters n.

A scalar loss of n parameters has a 1 x n Jacobian. Reverse mode gets it in one backward pass,
a constant few losses whatever n; forward mode (``jacfwd``) pushes one tangent per parameter,
n JVPs, so its gradient costs about n losses: its log-log exponent in n is about one above
reverse mode's where neither is dominated by per-call overhead (small n: both flat) or by memory
(large n: forward mode's n x n tangents leave the cache and its slope steepens). Two losses,
seeded:

* ``sum_of_squares``: ``sum(w**2)``, n parameters;
* ``logistic``: logistic regression ``sum(softplus(-y * (X @ w)))``, X of 100 x n (standard
  normal), labels y in {-1, +1}.

Each engine is prepared as ``diffcmp run`` prepares it (one thread for PyTorch, local x64 for
JAX), the two modes' gradients are checked equal first, and ``loss`` and ``grad`` are timed with
diffcmp's own :func:`diffcmp.run.timing.measure`, the two modes side by side in one run. It
prints each median, the ratio forward / reverse, each mode's grad / loss, and each engine's
fitted exponent (least squares over all sizes, and the slope between the two largest). No speed
is asserted; quote figures from a quiet machine.

Run from the repository root:
``python benchmarks/forward_vs_reverse.py [--sizes 10 100 1000] [--min-time S]``.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys

import jax
import numpy as np
import torch

import diffcmp
from diffcmp.engines import get_engine
from diffcmp.results.sweep import fit_exponent
from diffcmp.run.timing import MIN_TIME_S, measure
from diffcmp.symbolic.problem import lower

#: Reverse engine -> its forward twin.
PAIRS = (("torch", "torch-fwd"), ("jax", "jax-fwd"))
ROWS = 100


def sum_of_squares(n: int) -> diffcmp.Case:
    """``sum(w**2)`` over n parameters, w uniform in [-1, 1)."""
    rng = np.random.default_rng(0)
    return diffcmp.Case(name=f"sum_of_squares_{n}", loss="sum(w**2)",
                        params={"w": rng.uniform(-1, 1, n)})


def logistic(n: int) -> diffcmp.Case:
    """Logistic regression with n features on ``ROWS`` examples."""
    rng = np.random.default_rng(1)
    return diffcmp.Case(name=f"logistic_{n}", loss="sum(softplus(-y * (X @ w)))",
                        params={"w": rng.standard_normal(n) * 0.1},
                        data={"X": rng.standard_normal((ROWS, n)),
                              "y": rng.choice([-1.0, 1.0], ROWS)})


def time_engine(name: str, case: diffcmp.Case, min_time: float) -> tuple[float, float,
                                                                         np.ndarray]:
    """The loss and grad medians (seconds) of engine ``name`` on ``case``, and its gradient."""
    problem = lower(case)
    engine = get_engine(name, threads=1)
    with engine.running():
        prepared = engine.prepare(problem)
        inputs = prepared.inputs(problem.point)
        _, grad = prepared.read(prepared.grad(inputs))
        loss_s = measure(functools.partial(prepared.loss, inputs), min_time).median_s
        grad_s = measure(functools.partial(prepared.grad, inputs), min_time).median_s
    return loss_s, grad_s, grad


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:10.1f}us"


def main(argv: list[str] | None = None) -> int:
    """Time both modes of both frameworks at every size; print the table and the exponents."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000],
                        help="numbers of parameters n (default 10 100 1000)")
    parser.add_argument("--min-time", type=float, default=MIN_TIME_S,
                        help=f"minimum measured time per phase (default {MIN_TIME_S})")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, jax {jax.__version__}, load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; PyTorch on 1 thread; median "
          "per call")
    header = (f"{'loss':15} {'n':>5} {'reverse':9} {'grad':>12} {'forward':9} {'grad':>12} "
              f"{'fwd/rev':>8} {'rev grad/loss':>14} {'fwd grad/loss':>14}")
    print(header)
    print("-" * len(header))
    grads: dict[tuple[str, str], list[float]] = {}
    for make in (sum_of_squares, logistic):
        for n in args.sizes:
            case = make(n)
            for reverse, forward in PAIRS:
                rev_loss, rev_grad, rev_g = time_engine(reverse, case, args.min_time)
                fwd_loss, fwd_grad, fwd_g = time_engine(forward, case, args.min_time)
                if not np.allclose(rev_g, fwd_g, rtol=1e-12, atol=1e-12):
                    print(f"{case.name}: {forward}'s gradient differs from {reverse}'s",
                          file=sys.stderr)
                    return 2
                grads.setdefault((make.__name__, reverse), []).append(rev_grad)
                grads.setdefault((make.__name__, forward), []).append(fwd_grad)
                print(f"{make.__name__:15} {n:5} {reverse:9} {_us(rev_grad)} {forward:9} "
                      f"{_us(fwd_grad)} {fwd_grad / rev_grad:8.1f} {rev_grad / rev_loss:14.1f} "
                      f"{fwd_grad / fwd_loss:14.1f}")
    sizes = args.sizes
    print(f"\nfitted exponent of grad time in n (log-log least squares over n = "
          f"{', '.join(map(str, sizes))}; in brackets, the slope between the two largest):")
    for make in (sum_of_squares, logistic):
        for reverse, forward in PAIRS:
            fitted = {}
            for engine in (reverse, forward):
                times = grads[(make.__name__, engine)]
                top = (math.log(times[-1] / times[-2]) / math.log(sizes[-1] / sizes[-2])
                       if len(sizes) > 1 else math.nan)
                fitted[engine] = (fit_exponent(sizes, times), top)
            (rev, rev_top), (fwd, fwd_top) = fitted[reverse], fitted[forward]
            print(f"  {make.__name__:15} {reverse:6} {rev:5.2f} ({rev_top:5.2f})   {forward:9} "
                  f"{fwd:5.2f} ({fwd_top:5.2f})   forward - reverse {fwd - rev:+5.2f} "
                  f"({fwd_top - rev_top:+5.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
