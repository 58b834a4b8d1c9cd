"""``fd-central``: central differences of the float64 loss, ``2n`` loss evaluations.

In another dtype (``fd-central[float32]``, issue 21) the loss is evaluated in that dtype
(:mod:`diffcmp.ops.rounded`), the step is ``cbrt(eps)`` of that dtype, and the perturbed point is
rounded to it before the quotient divides by the step actually taken.

Step ``h = cbrt(eps) * max(1, |x_i|)`` per component, which balances truncation error
(``O(h^2)``) against rounding (``O(eps / h)``), rounded to the nearest power of two so that
``x + h`` and ``x - h`` carry no representation error of their own (a quadratic's difference
quotient is then exact: the tutorial's ``-2`` comes out as ``-2.0``); the difference is divided
by the step actually taken, ``(x + h) - (x - h)``, not by ``2h``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..grading.grade import Floors
from ..ops.numpy import OPS
from ..precision import unit_roundoff
from .perturbation import PerturbationEngine

STEP_SCALE = float(np.cbrt(np.finfo(np.float64).eps))
#: float64's unit roundoff, 2**-53.
UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2


#: The second differences' relative step, ``eps**(1/4)``: truncation ``O(h^2)`` against
#: rounding ``O(eps / h^2)`` (Nocedal & Wright, Numerical Optimization, 2nd ed., sec. 8.1).
SECOND_STEP_SCALE = float(np.finfo(np.float64).eps) ** 0.25


def step(x: float, scale: float = STEP_SCALE) -> float:
    """``scale * max(1, |x|)`` rounded to the nearest power of two (``scale``: ``cbrt(eps)``
    for first differences, ``eps**(1/4)`` for second ones)."""
    return 2.0 ** round(math.log2(scale * max(1.0, abs(x))))


class CentralDifferenceEngine(PerturbationEngine):
    """Central differences with a relative step; the baseline every AD user knows."""

    name = "fd-central"
    ops = OPS
    point_type = np.float64

    @property
    def step_scale(self) -> float:
        """``cbrt(eps)`` of this engine's dtype (``eps = 2u``)."""
        return STEP_SCALE if self.dtype == "float64" else float(
            np.cbrt(2 * unit_roundoff(self.dtype)))

    def floors(self, floors: Floors, x: np.ndarray, tolerance: float) -> Floors:
        """The case's floors, raised by the quotient's own rounding: each loss call is off by
        up to ``u * B`` (``B`` the loss's rounding bound, ``u`` the dtype's), so the quotient by
        up to ``u B / h``; four times that passes at ``tolerance``."""
        if floors.grad is None or not tolerance > 0:
            return floors
        steps = np.array([step(v, self.step_scale) for v in x])
        rounding = 4 * unit_roundoff(self.dtype) * floors.loss / steps / tolerance
        return Floors(floors.loss, np.maximum(floors.grad, rounding),
                      floors.source + "; fd-central adds its quotient's rounding, 4 u B / h",
                      floors.cap)

    def second_floors(self, floors: Floors, first: Floors, x: np.ndarray, tolerance: float,
                      phase: str, v: np.ndarray) -> Floors:
        """The product's floors, raised by the second differences' own rounding: four loss
        calls, each off by up to ``u * B``, divided by ``4 h_i h_j`` (``4 h_i t`` along
        ``v``); four times that passes at ``tolerance``."""
        if floors.grad is None or not tolerance > 0:
            return floors
        steps = np.array([step(value, SECOND_STEP_SCALE) for value in x])
        if phase == "hessian":
            across = np.outer(steps, steps).ravel()
        else:
            scale = float(np.max(np.abs(v))) if v.size else 1.0
            across = steps * step(float(np.max(np.abs(x), initial=0.0)),
                                  SECOND_STEP_SCALE) / (scale or 1.0)
        rounding = 4 * UNIT_ROUNDOFF * first.loss / across / tolerance
        return Floors(floors.loss, np.maximum(floors.grad, rounding),
                      floors.source + "; fd-central adds its second differences' rounding, "
                      "4 u B / (h_i h_j)")

    def hessian(self, f: Callable[[np.ndarray], Any], x: np.ndarray) -> np.ndarray:
        """Second differences of the loss, ``4 n**2`` calls (``n (n + 1) / 2`` entries, the
        other half by symmetry): ``H_ij = (f(x + h_i e_i + h_j e_j) - f(x + h_i e_i - h_j e_j)
        - f(x - h_i e_i + h_j e_j) + f(x - h_i e_i - h_j e_j)) / (4 h_i h_j)``, with
        ``h = eps**(1/4) * max(1, |x|)`` (nearest power of two)."""
        steps = np.array([step(v, SECOND_STEP_SCALE) for v in x])
        n = x.size
        out = np.empty((n, n))
        for i in range(n):
            for j in range(i, n):
                total = 0.0
                for a, b in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                    moved = x.copy()
                    moved[i] += a * steps[i]
                    moved[j] += b * steps[j]
                    total += a * b * f(moved)
                out[i, j] = out[j, i] = total / (4 * steps[i] * steps[j])
        return out

    def hvp(self, f: Callable[[np.ndarray], Any], x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Mixed second differences along ``e_i`` and ``v``, ``4 n`` calls: ``(Hv)_i = (f(x +
        h_i e_i + t v) - f(x + h_i e_i - t v) - f(x - h_i e_i + t v) + f(x - h_i e_i - t v)) /
        (4 h_i t)``, ``t = eps**(1/4) * max(1, |x|_inf) / |v|_inf``."""
        scale = float(np.max(np.abs(v))) if v.size else 0.0
        if scale == 0:
            return np.zeros_like(x)
        t = step(float(np.max(np.abs(x))), SECOND_STEP_SCALE) / scale
        steps = np.array([step(value, SECOND_STEP_SCALE) for value in x])
        out = np.empty_like(x)
        for i in range(x.size):
            total = 0.0
            for a, b in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                moved = x + b * t * v
                moved[i] += a * steps[i]
                total += a * b * f(moved)
            out[i] = total / (4 * steps[i] * t)
        return out

    def component(self, f: Callable[[np.ndarray], Any], x: np.ndarray, i: int) -> float:
        """``(f(x + h e_i) - f(x - h e_i)) / ((x + h) - (x - h))``: two loss calls."""
        up, down = x.copy(), x.copy()
        h = step(float(x[i]), self.step_scale)
        up[i] += h
        down[i] -= h
        up, down = self.round_point(up), self.round_point(down)
        return (f(up) - f(down)) / (float(up[i]) - float(down[i]))
