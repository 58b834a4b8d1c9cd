"""``fd-complex``: the complex-step derivative ``Im f(x + ih) / h``, exact to rounding.

No subtraction, so no cancellation: with ``h = 1e-30`` the truncation error ``O(h^2)`` is far
below rounding (Squire & Trapp 1998; Martins, Sturdza & Alonso 2003). It needs the loss to be
analytic all the way down; losses with ``abs``, ``max``, ``where``... are ``unsupported``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..ops.numpy import COMPLEX_OPS
from .perturbation import PerturbationEngine

STEP = 1e-30


class ComplexStepEngine(PerturbationEngine):
    """Complex step, one complex loss evaluation per gradient component."""

    name = "fd-complex"
    ops = COMPLEX_OPS
    dtype = np.complex128

    def component(self, f: Callable[[np.ndarray], Any], x: np.ndarray, i: int) -> float:
        """``Im f(x + i h e_i) / h``: one complex loss call, no subtraction."""
        stepped = x.copy()
        stepped[i] += 1j * STEP
        return f(stepped).imag / STEP
