"""``fd-complex``: the complex-step derivative ``Im f(x + ih) / h``, exact to rounding.

No subtraction, so no cancellation: with ``h = 1e-30`` the truncation error ``O(h^2)`` is far
below rounding (Squire & Trapp 1998; Martins, Sturdza & Alonso 2003). It needs the loss to be
analytic all the way down; losses with ``abs``, ``max``, ``where``... are ``unsupported``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..problem import Problem
from .base import Engine, Prepared
from .fd_central import loss_on_flat
from .numpy_ops import COMPLEX_OPS

STEP = 1e-30


class ComplexStepEngine(Engine):
    """Complex step, one complex loss evaluation per gradient component."""

    name = "fd-complex"
    tolerance = 1e-10
    tolerance_source = ("complex step is exact to rounding for analytic losses "
                        "(Martins, Sturdza & Alonso 2003)")
    summary = "complex-step derivative Im f(x + ih) / h, h = 1e-30 (analytic losses only)"

    def prepare(self, problem: Problem) -> Prepared:
        """Build the loss over analytic complex NumPy ops (refused for non-analytic ones)."""
        prepared = Prepared(inputs=lambda x: np.array(x, dtype=np.complex128), loss=None,
                            grad=None, read=lambda out: (float(out[0]), np.asarray(out[1])))
        with prepared.step("build"):
            f = loss_on_flat(problem, COMPLEX_OPS)

        def loss(x: np.ndarray) -> Any:
            with np.errstate(all="ignore"):
                return f(x).real

        def grad(x: np.ndarray) -> tuple[Any, np.ndarray]:
            with np.errstate(all="ignore"):
                value = f(x).real
                out = np.empty(x.size)
                for i in range(x.size):
                    stepped = x.copy()
                    stepped[i] += 1j * STEP
                    out[i] = f(stepped).imag / STEP
            return value, out

        with prepared.step("first call"):
            loss(problem.point.astype(np.complex128))
        prepared.loss, prepared.grad = loss, grad
        return prepared
