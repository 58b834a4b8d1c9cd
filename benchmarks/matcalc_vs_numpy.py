"""Is the vectorised symbolic gradient (the ``matcalc`` engine) as fast as NumPy written by hand?

Least squares ``sum((X @ w - y)**2)`` with X of 200,000 x 5 (issue 11): the hand-written
gradient is ``2 * (X.T @ (X @ w - y))``, which reads X twice from memory, the floor for any
method (written ``2 * X.T @ (...)``, Python scales all of X by 2 first: several times slower).
Quote figures from a quiet machine; ``OPENBLAS_NUM_THREADS=1`` keeps BLAS's thread pool from
adding noise. Timed side by side in one run, in alternating rounds, with diffcmp's own
:func:`diffcmp.run.timing.measure`:

* ``hand``: ``2 * (X.T @ (X @ w - y))`` (the gradient alone);
* ``matcalc``: the engine's ``grad`` as ``diffcmp run`` times it (the loss and the gradient);
* ``jax``: ``jax.jit(jax.grad(loss))`` written by hand, float64;
* ``torch``: ``torch.autograd.grad`` written by hand, float64, one thread.

Each ratio is the median over rounds of method / hand. Target for ``matcalc``: at most 1.2.
The gradients are checked equal first. Run from the repository root:
``python benchmarks/matcalc_vs_numpy.py [--rounds N] [--rows N]``.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

import diffcmp
from diffcmp.engines import get_engine
from diffcmp.run.timing import measure
from diffcmp.symbolic.problem import lower

TARGET = 1.2


def main() -> None:
    """Print each method's median time and its ratio to the hand-written gradient."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--min-time", type=float, default=0.3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.rows, 5))
    y = x @ rng.standard_normal(5) + rng.standard_normal(args.rows)
    w = rng.standard_normal(5)

    case = diffcmp.Case(name="least_squares", loss="sum((X @ w - y)**2)", params={"w": w},
                        data={"X": x, "y": y})
    prepared = get_engine("matcalc").prepare(lower(case))
    inputs = prepared.inputs(w)
    print("matcalc's gradient:", diffcmp.compare(case.loss, {"w": w}, {"X": x[:3], "y": y[:3]},
                                                 engines=["matcalc"], timing=False)
          .expressions["formula"].iloc[0])

    torch.set_num_threads(1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    wt = torch.from_numpy(w.copy()).requires_grad_(True)

    def torch_grad() -> Any:
        return torch.autograd.grad(torch.sum((xt @ wt - yt) ** 2), wt)[0]

    with jax.enable_x64(True):
        xj, yj = jnp.asarray(x), jnp.asarray(y)
        jax_grad = jax.jit(jax.grad(lambda v: jnp.sum((xj @ v - yj) ** 2)))
        wj = jnp.asarray(w)

        def jax_call() -> Any:
            return jax_grad(wj).block_until_ready()

        methods: dict[str, Callable[[], Any]] = {
            "hand": lambda: 2 * (x.T @ (x @ w - y)),
            "matcalc": lambda: prepared.grad(inputs),
            "jax": jax_call,
            "torch": torch_grad,
        }
        truth = 2 * x.T @ (x @ w - y)
        np.testing.assert_allclose(prepared.read(prepared.grad(inputs))[1], truth, rtol=1e-9)
        np.testing.assert_allclose(np.asarray(jax_call()), truth, rtol=1e-9)
        np.testing.assert_allclose(torch_grad().numpy(), truth, rtol=1e-9)
        times: dict[str, list[float]] = {name: [] for name in methods}
        for _ in range(args.rounds):
            for name, call in methods.items():
                times[name].append(measure(call, args.min_time).median_s)
    hand = times["hand"]
    print(f"X {args.rows:,} x 5, {args.rounds} rounds, median per call and ratio to hand:")
    for name, values in times.items():
        ratio = statistics.median(v / h for v, h in zip(values, hand, strict=True))
        mark = f"  (target <= {TARGET})" if name == "matcalc" else ""
        print(f"  {name:8} {statistics.median(values) * 1e3:8.3f} ms   {ratio:5.2f}x{mark}")


if __name__ == "__main__":
    main()
