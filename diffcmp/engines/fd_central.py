"""``fd-central``: central differences of the float64 loss, ``2n`` loss evaluations.

Step ``h = cbrt(eps) * max(1, |x_i|)`` per component, which balances truncation error
(``O(h^2)``) against rounding (``O(eps / h)``), rounded to the nearest power of two so that
``x + h`` and ``x - h`` carry no representation error of their own (a quadratic's difference
quotient is then exact: the tutorial's ``-2`` comes out as ``-2.0``); the difference is divided
by the step actually taken, ``(x + h) - (x - h)``, not by ``2h``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..problem import Problem
from .base import Engine, Prepared
from .numpy_ops import OPS

STEP_SCALE = float(np.cbrt(np.finfo(np.float64).eps))


def step(x: float) -> float:
    """``cbrt(eps) * max(1, |x|)`` rounded to the nearest power of two."""
    return 2.0 ** round(math.log2(STEP_SCALE * max(1.0, abs(x))))


def loss_on_flat(problem: Problem, ops: Any) -> Any:
    """``f(x)`` for a flat parameter vector, over NumPy ``ops`` (data bound once)."""
    function = problem.loss_function(ops)
    data = dict(problem.data_values)

    def f(x: np.ndarray) -> Any:
        return function({**data, **problem.split(x)})

    return f


class CentralDifferenceEngine(Engine):
    """Central differences with a relative step; the baseline every AD user knows."""

    name = "fd-central"
    tolerance = 1e-6
    tolerance_source = ("central differences with h = cbrt(eps): error O(eps^(2/3)) ~ 4e-11 "
                        "times the scale of f''', so 1e-6 leaves room for curvature "
                        "(Nocedal & Wright, Numerical Optimization, sec. 8.1)")
    summary = ("central differences of the float64 loss, step cbrt(eps) * max(1, |x|) "
               "(nearest power of two)")

    def prepare(self, problem: Problem) -> Prepared:
        """Build the float64 loss over NumPy ops; the gradient costs 2n loss calls."""
        prepared = Prepared(inputs=lambda x: np.array(x, dtype=np.float64), loss=None,
                            grad=None, read=lambda out: (float(out[0]), np.asarray(out[1])))
        with prepared.step("build"):
            f = loss_on_flat(problem, OPS)

        def loss(x: np.ndarray) -> Any:
            with np.errstate(all="ignore"):
                return f(x)

        def grad(x: np.ndarray) -> tuple[Any, np.ndarray]:
            with np.errstate(all="ignore"):
                value = f(x)
                out = np.empty(x.size)
                for i in range(x.size):
                    h = step(x[i])
                    up, down = x.copy(), x.copy()
                    up[i] += h
                    down[i] -= h
                    out[i] = (f(up) - f(down)) / (up[i] - down[i])
            return value, out

        with prepared.step("first call"):
            loss(problem.point)
        prepared.loss, prepared.grad = loss, grad
        return prepared
