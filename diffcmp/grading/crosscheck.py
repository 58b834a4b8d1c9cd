"""An independent derivation: the symbolic gradient checked against difference quotients of the
loss itself, at twice the reference's certified precision.

The reference's gradient comes from SymPy's derivative rules (``sympy.diff`` or reverse mode over
``fdiff``) and the shared ``cse``; a bug there (or in a custom function's ``fdiff``) would move the
reference and the ``sympy`` engine together, invisible to every other check. The loss alone does
not go through any derivative rule, so its central differences at high precision (step
``10**-(digits/2)``: truncation and rounding both far below float64) are an independent
derivation. Where the point is smooth (no switch sits there) and they disagree, the row is a
diffcmp bug, never an engine's fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ..symbolic.lambdify import lambdify_renamed

#: Components checked at most per point (a seeded sample of larger gradients).
MAX_COMPONENTS = 64
#: The gradient and the difference quotients agree when within this (relative to the larger).
AGREE = 1e-12


class CrossCheck:
    """Checks one problem's symbolic gradient against difference quotients of its loss."""

    def __init__(self, loss: sp.Expr, params: Sequence[sp.Symbol], data: Sequence[sp.Symbol],
                 data_values: Sequence[float]) -> None:
        self._loss = lambdify_renamed([*params, *data], loss, "mpmath", cse=True)
        self._data = [mpmath.mpf(float(v)) for v in data_values]

    def disagreement(self, x: np.ndarray, grad: np.ndarray, digits: int,
                     components: Sequence[str]) -> str:
        """``""`` when the gradient agrees with the loss's difference quotients at ``x``, else
        what differs."""
        indices = range(len(x)) if len(x) <= MAX_COMPONENTS else sorted(
            np.random.default_rng(0).choice(len(x), MAX_COMPONENTS, replace=False))
        with mpmath.workdps(2 * digits):
            point = [mpmath.mpf(float(v)) for v in x]
            try:
                here = self._loss(*point, *self._data)
            except (ZeroDivisionError, ValueError, TypeError):
                return ""
            for i in indices:
                h = mpmath.mpf(10) ** -(digits // 2) * max(1, abs(point[i]))

                def at(t: Any, i: int = i) -> Any:
                    moved = list(point)
                    moved[i] += t
                    return self._loss(*moved, *self._data)

                try:
                    quotient = (at(h) - at(-h)) / (2 * h)
                    half = (at(h / 2) - at(-h / 2)) / h
                except (ZeroDivisionError, ValueError, TypeError):
                    continue
                if not all(isinstance(q, mpmath.mpf) and mpmath.isfinite(q)
                           for q in (here, quotient, half)):
                    continue
                # the quotient's own error: truncation (from two steps) and rounding
                slack = 10 * abs(quotient - half) + abs(here) * mpmath.mpf(10) ** -(
                    2 * digits - 2) / h
                value = float(half)
                gap = abs(half - mpmath.mpf(float(grad[i])))
                if gap > slack + AGREE * max(abs(value), abs(float(grad[i])), 1e-300):
                    return (f"diffcmp bug: the symbolic gradient's {components[i]} is "
                            f"{float(grad[i]):.15g}, but the loss's difference quotient at "
                            f"{2 * digits} digits is {value:.15g} (an independent derivation): "
                            "a derivative rule is wrong")
        return ""
