"""Is diffcmp's gradient as fast as the same loss written by hand in each framework?

Two losses: least squares ``sum((X @ w - y)**2) / 2`` with a 200 x 20 design matrix, and a small
MLP (64 examples, 8 inputs, 16 tanh units, one output; 161 parameters) with half mean squared
error. For ``torch`` and ``jax``, diffcmp's engine is prepared as ``diffcmp run`` prepares it and
its ``grad`` is timed through the runner's own timing code; the hand-written version is what a
user would write (``torch.autograd.grad`` on tensors; ``jax.jit(jax.value_and_grad(loss))`` with
x64 enabled), timed with the same :func:`diffcmp.run.timing.measure`. Both gradients are checked
equal first. The two alternate in rounds and each ratio is the median over rounds of
diffcmp / hand-written. Target: at most 1.5 (the engines run array code, not one op per
element).

Run from the repository root: ``python benchmarks/vs_handwritten.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

import diffcmp
from diffcmp.engines import get_engine
from diffcmp.run.evaluate import _time  # the code path diffcmp run times with
from diffcmp.run.rows import CaseResult
from diffcmp.run.timing import MIN_TIME_S, measure
from diffcmp.symbolic.problem import lower

TARGET = 1.5
LEAST_SQUARES = "sum((X @ w - y)**2) / 2"
MLP = "mean((tanh(X @ W1.T + b1) @ w2 + b2 - y)**2) / 2"


def least_squares_case() -> diffcmp.Case:
    """200 x 20 least squares, seeded."""
    rng = np.random.default_rng(0)
    return diffcmp.Case(name="least_squares_200x20", loss=LEAST_SQUARES,
                        params={"w": rng.standard_normal(20) * 0.1},
                        data={"X": rng.standard_normal((200, 20)),
                              "y": rng.standard_normal(200)})


def mlp_case() -> diffcmp.Case:
    """A 8-16-1 tanh MLP on 64 examples, seeded."""
    rng = np.random.default_rng(1)
    return diffcmp.Case(name="mlp_8x16x1", loss=MLP,
                        params={"W1": rng.standard_normal((16, 8)) * 0.3,
                                "b1": rng.standard_normal(16) * 0.1,
                                "w2": rng.standard_normal(16) * 0.3, "b2": 0.05},
                        data={"X": rng.standard_normal((64, 8)), "y": rng.standard_normal(64)})


def torch_by_hand(case: diffcmp.Case) -> Callable[[], Any]:
    """The loss and gradient as a PyTorch user writes them."""
    data = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in case.data.items()}
    params = {k: torch.from_numpy(np.array(v, dtype=np.float64)).requires_grad_(True)
              for k, v in case.params.items()}
    x, y = data["X"], data["y"]
    if case.name.startswith("least_squares"):
        w = params["w"]

        def loss() -> torch.Tensor:
            return ((x @ w - y) ** 2).sum() / 2
    else:
        w1, b1, w2, b2 = params["W1"], params["b1"], params["w2"], params["b2"]

        def loss() -> torch.Tensor:
            return ((torch.tanh(x @ w1.T + b1) @ w2 + b2 - y) ** 2).mean() / 2

    leaves = list(params.values())

    def grad() -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        value = loss()
        return value.detach(), torch.autograd.grad(value, leaves)

    return grad


def jax_by_hand(case: diffcmp.Case) -> Callable[[], Any]:
    """The loss and gradient as a JAX user writes them (x64 enabled for the whole script)."""
    data = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in case.data.items()}
    params = tuple(jnp.asarray(v, dtype=jnp.float64) for v in case.params.values())
    x, y = data["X"], data["y"]
    if case.name.startswith("least_squares"):
        def loss(params: tuple[Any, ...], x: Any, y: Any) -> Any:
            (w,) = params
            return jnp.sum((x @ w - y) ** 2) / 2
    else:
        def loss(params: tuple[Any, ...], x: Any, y: Any) -> Any:
            w1, b1, w2, b2 = params
            return jnp.mean((jnp.tanh(x @ w1.T + b1) @ w2 + b2 - y) ** 2) / 2

    step = jax.jit(jax.value_and_grad(loss))
    jax.block_until_ready(step(params, x, y))  # compile outside the timing, as diffcmp does
    return lambda: jax.block_until_ready(step(params, x, y))


def flat(out: Any) -> np.ndarray:
    """Loss and gradient, from either framework, as one float64 vector."""
    value, grads = out
    parts = [np.asarray(value, dtype=np.float64).ravel()]
    parts += [np.asarray(g.detach() if isinstance(g, torch.Tensor) else g,
                         dtype=np.float64).ravel() for g in grads]
    return np.concatenate(parts)


def diffcmp_grad(engine: str, prepared: Any, point: np.ndarray, min_time: float) -> float:
    """The grad median diffcmp reports for this prepared engine."""
    result = CaseResult("vs_handwritten")
    _time(result, engine, prepared, point, min_time)
    (row,) = [r for r in result.timing if r["phase"] == "grad"]
    return row["median_s"]


def main(argv: list[str] | None = None) -> int:
    """Print diffcmp's grad median beside the hand-written one, and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--min-time", type=float, default=MIN_TIME_S,
                        help=f"minimum measured time per phase (default {MIN_TIME_S})")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, jax {jax.__version__}, load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {args.rounds} alternating "
          "rounds, median of each")
    header = f"{'case':22} {'engine':6} {'diffcmp':>10} {'by hand':>10} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    ratios = []
    for case in (least_squares_case(), mlp_case()):
        problem = lower(case)
        for engine, by_hand in (("torch", torch_by_hand), ("jax", jax_by_hand)):
            prepared = get_engine(engine, threads=1).prepare(problem)
            hand = by_hand(case)
            ours_out = flat(prepared.grad(prepared.inputs(problem.point)))
            if not np.allclose(ours_out, flat(hand()), rtol=1e-12, atol=1e-12):
                print(f"{case.name} {engine}: the hand-written gradient differs", file=sys.stderr)
                return 2
            ours, theirs, ratio = [], [], []
            for _ in range(args.rounds):
                ours.append(diffcmp_grad(engine, prepared, problem.point, args.min_time))
                theirs.append(measure(hand, args.min_time).median_s)
                ratio.append(ours[-1] / theirs[-1])
            ratios.append(statistics.median(ratio))
            print(f"{case.name:22} {engine:6} {statistics.median(ours) * 1e6:8.1f}us "
                  f"{statistics.median(theirs) * 1e6:8.1f}us {ratios[-1]:6.3f}")
    met = all(r <= TARGET for r in ratios)
    print(f"\nratios {min(ratios):.3f} .. {max(ratios):.3f}; target <= {TARGET}: "
          f"{'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
