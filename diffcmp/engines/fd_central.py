"""``fd-central``: central differences of the float64 loss, ``2n`` loss evaluations.

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
from .perturbation import PerturbationEngine

STEP_SCALE = float(np.cbrt(np.finfo(np.float64).eps))
#: float64's unit roundoff, 2**-53.
UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2


def step(x: float) -> float:
    """``cbrt(eps) * max(1, |x|)`` rounded to the nearest power of two."""
    return 2.0 ** round(math.log2(STEP_SCALE * max(1.0, abs(x))))


class CentralDifferenceEngine(PerturbationEngine):
    """Central differences with a relative step; the baseline every AD user knows."""

    name = "fd-central"
    ops = OPS
    dtype = np.float64

    def floors(self, floors: Floors, x: np.ndarray, tolerance: float) -> Floors:
        """The case's floors, raised by the quotient's own rounding: each loss call is off by
        up to ``u * B`` (``B`` the loss's rounding bound), so the quotient by up to ``u B / h``;
        four times that passes at ``tolerance``."""
        if floors.grad is None or not tolerance > 0:
            return floors
        steps = np.array([step(v) for v in x])
        rounding = 4 * UNIT_ROUNDOFF * floors.loss / steps / tolerance
        return Floors(floors.loss, np.maximum(floors.grad, rounding),
                      floors.source + "; fd-central adds its quotient's rounding, 4 u B / h")

    def component(self, f: Callable[[np.ndarray], Any], x: np.ndarray, i: int) -> float:
        """``(f(x + h e_i) - f(x - h e_i)) / ((x + h) - (x - h))``: two loss calls."""
        up, down = x.copy(), x.copy()
        up[i] += step(x[i])
        down[i] -= step(x[i])
        return (f(up) - f(down)) / (up[i] - down[i])
