"""``fd-complex``: the complex-step derivative ``Im f(x + ih) / h``, exact to rounding.

No subtraction, so no cancellation: with ``h = 1e-30`` the truncation error ``O(h^2)`` is far
below rounding (Squire & Trapp 1998; Martins, Sturdza & Alonso 2003). It needs the loss to be
analytic all the way down; losses with ``abs``, ``max``, ``where``... are ``unsupported``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..grading.grade import Floors
from ..ops.numpy import COMPLEX_OPS
from .fd_central import UNIT_ROUNDOFF, step
from .perturbation import PerturbationEngine

STEP = 1e-30


class ComplexStepEngine(PerturbationEngine):
    """Complex step, one complex loss evaluation per gradient component."""

    name = "fd-complex"
    ops = COMPLEX_OPS
    point_type = np.complex128

    def second_floors(self, floors: Floors, first: Floors, x: np.ndarray, tolerance: float,
                      phase: str, v: np.ndarray) -> Floors:
        """The product's floors, raised by the differences' own rounding: each complex-step
        gradient component ``i`` is off by up to ``u * G_i`` (``G`` its rounding bound), so the
        difference quotient by ``u G_i / h_j``; four times that passes at ``tolerance``."""
        if floors.grad is None or first.grad is None or not tolerance > 0:
            return floors
        n = x.size
        grad = first.for_grad(n)
        if phase == "hessian":
            steps = np.array([step(value) for value in x])
            rounding = (4 * UNIT_ROUNDOFF * grad[:, None] / steps[None, :]).ravel()
        else:
            scale = float(np.max(np.abs(v))) if v.size else 1.0
            t = step(float(np.max(np.abs(x), initial=0.0))) / (scale or 1.0)
            rounding = 4 * UNIT_ROUNDOFF * grad / t
        return Floors(floors.loss, np.maximum(floors.grad, rounding / tolerance),
                      floors.source + "; fd-complex adds its differences' rounding, 4 u G / h")

    def gradient(self, f: Callable[[np.ndarray], Any], x: np.ndarray) -> np.ndarray:
        """The complex-step gradient at the real point ``x``: ``n`` complex loss calls."""
        point = x.astype(np.complex128)
        return np.array([self.component(f, point, i) for i in range(x.size)])

    def hessian(self, f: Callable[[np.ndarray], Any], x: np.ndarray) -> np.ndarray:
        """Central differences of the complex-step gradient, column by column (``2 n``
        gradients), step ``cbrt(eps) * max(1, |x_j|)`` (nearest power of two): truncation
        ``O(h^2)``, no cancellation inside the gradient. Not symmetrised: an asymmetry beyond
        rounding is the method's own error, and the grading says so."""
        columns = []
        for j in range(x.size):
            h = step(x[j])
            up, down = x.copy(), x.copy()
            up[j] += h
            down[j] -= h
            columns.append((self.gradient(f, up) - self.gradient(f, down)) / (up[j] - down[j]))
        return np.stack(columns, axis=1) if columns else np.zeros((0, 0))

    def hvp(self, f: Callable[[np.ndarray], Any], x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Central difference of the complex-step gradient along ``v``: ``(g(x + t v) - g(x -
        t v)) / (2 t)``, ``t = cbrt(eps) * max(1, |x|_inf) / |v|_inf``."""
        scale = float(np.max(np.abs(v))) if v.size else 0.0
        if scale == 0:
            return np.zeros_like(x)
        t = step(float(np.max(np.abs(x)))) / scale
        return (self.gradient(f, x + t * v) - self.gradient(f, x - t * v)) / (2 * t)

    def component(self, f: Callable[[np.ndarray], Any], x: np.ndarray, i: int) -> float:
        """``Im f(x + i h e_i) / h``: one complex loss call, no subtraction."""
        stepped = x.copy()
        stepped[i] += 1j * STEP
        return f(stepped).imag / STEP
