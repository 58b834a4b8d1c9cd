"""An independent derivation: the reference's gradient checked against difference quotients of the
loss as written, at twice the reference's certified precision.

The reference's gradient comes from the vector-Jacobian rules (:mod:`diffcmp.matcalc.rules`); a
wrong rule would move the reference and the ``matcalc`` engine together, invisible to every other
check. The loss alone goes through no derivative rule, so its central differences at high
precision (step ``10**-(digits/2)``: truncation and rounding both far below float64) are an
independent derivation. Where the point is smooth (no switch sits there) and they disagree, the
row is a diffcmp bug, never an engine's fault.

Each check costs a few evaluations of the loss at high precision, so the number of components
checked one by one shrinks with the size of the data (at most ``MAX_COMPONENTS``, a seeded
sample); the rest are covered by one random direction, whose difference quotient must match the
gradient's projection on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import numpy as np
from flint import arb

from ..errors import UndecidedError
from ..matcalc.evaluate import Program
from ..ops import arb as arb_ops
from ..symbolic.problem import Problem

#: Components checked one by one at most per point (a seeded sample of larger gradients).
MAX_COMPONENTS = 64
#: Loss evaluations times elements the component checks may take (a million-element case: one).
MAX_WORK = 4_000_000
#: The gradient and the difference quotients agree when within this (relative to the larger).
AGREE = 1e-12


class CrossCheck:
    """Checks one problem's gradient against difference quotients of its loss as written."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self._loss = Program([problem.array_gradient.loss]).compile(arb_ops.OPS,
                                                                     fresh_constants=True)
        self._data = {name: arb_ops.array(v) for name, v in problem.data_values.items()}
        size = sum(v.size for v in problem.data_values.values()) + problem.point.size
        self._count = int(min(MAX_COMPONENTS, max(1, MAX_WORK // (4 * max(size, 1)))))

    def _at(self, balls: np.ndarray) -> tuple[Any, Any]:
        """The loss at the flat point ``balls`` (an object array of Arb balls) as mpmath numbers:
        its ball's midpoint and radius (``nan`` where a comparison cannot be decided)."""
        parts = self.problem.split(balls)
        try:
            value = self._loss({**self._data, **{n: p[()] for n, p in parts.items()}})[0]
        except UndecidedError:
            return mpmath.mpf("nan"), mpmath.mpf("nan")
        radius = arb_ops.to_mpmath(arb(value.rad())) if isinstance(value, arb) else 0
        return arb_ops.to_mpmath(value), radius

    def disagreement(self, x: np.ndarray, grad: np.ndarray, digits: int,
                     components: Sequence[str], loss: float = 0.0) -> str:
        """``""`` when the gradient agrees with the loss's difference quotients at ``x``, else
        what differs (``loss``: the reference's loss, part of the scale it certifies against)."""
        n = len(x)
        # the reference resolves values only down to its certified digits of the largest one
        largest = max(float(np.max(np.abs(grad), initial=0.0)), abs(loss))
        resolution = mpmath.mpf(largest) * mpmath.mpf(10) ** (10 - digits)
        indices = list(range(n)) if n <= self._count else sorted(
            np.random.default_rng(0).choice(n, self._count, replace=False).tolist())
        with mpmath.workdps(2 * digits), arb_ops.precision(2 * digits):
            base = np.empty(n, dtype=object)
            base[:] = [arb(float(v)) for v in x]  # a float64 is an exact ball
            try:
                here = self._at(base)[0]
            except (ZeroDivisionError, ValueError, TypeError):
                return ""
            for i in indices:
                def along_i(t: Any, i: int = i) -> np.ndarray:
                    moved = base.copy()
                    moved[i] = base[i] + t
                    return moved

                scale = max(1.0, abs(float(x[i])))
                bug = self._quotient(along_i, here, scale, mpmath.mpf(float(grad[i])),
                                     mpmath.mpf(abs(float(grad[i]))), digits, resolution)
                if bug:
                    return (f"diffcmp bug: the reference gradient's {components[i]} is "
                            f"{float(grad[i]):.15g}, but the loss's difference quotient at "
                            f"{2 * digits} digits is {bug} (an independent derivation): a "
                            "derivative rule is wrong")
            if len(indices) < n:  # the rest: one random direction
                signs = np.random.default_rng(1).choice([-1.0, 1.0], n)
                direction = np.empty(n, dtype=object)
                direction[:] = [arb(s) for s in signs]
                projected = mpmath.fsum(mpmath.mpf(float(g)) * s for g, s in
                                        zip(grad, signs, strict=True))
                size = mpmath.fsum(abs(mpmath.mpf(float(g))) for g in grad)
                scale = max(1.0, float(np.max(np.abs(x))))
                bug = self._quotient(lambda t: base + direction * t, here, scale, projected,
                                     size, digits, resolution * n)
                if bug:
                    return (f"diffcmp bug: the reference gradient's projection on a random "
                            f"direction is {float(projected):.15g}, but the loss's difference "
                            f"quotient at {2 * digits} digits is {bug} (an independent "
                            "derivation): a derivative rule is wrong")
        return ""

    def _quotient(self, along: Callable[[Any], np.ndarray], here: Any, scale: float,
                  expected: Any, size: Any, digits: int, resolution: Any) -> str:
        """``""`` when the central difference quotient of the loss along a direction (``along``:
        the point moved by a ball ``t``) agrees with ``expected`` (the gradient's; ``size`` its
        magnitude, ``resolution`` how finely the reference resolves it), else the quotient."""
        step = arb((arb(10) ** -(digits // 2) * scale).mid())  # exact: the moved points are too
        h = arb_ops.to_mpmath(step)
        try:
            (up, up_r), (down, down_r) = self._at(along(step)), self._at(along(-step))
            (up2, up2_r), (down2, down2_r) = self._at(along(step / 2)), self._at(along(-step / 2))
            quotient, half = (up - down) / (2 * h), (up2 - down2) / h
        except (ZeroDivisionError, ValueError, TypeError):
            return ""
        # the evaluations' own error, which Arb bounds: their balls' radii
        rounding = (up_r + down_r) / (2 * h) + (up2_r + down2_r) / h
        if not all(isinstance(q, mpmath.mpf) and mpmath.isfinite(q)
                   for q in (here, quotient, half, rounding)):
            return ""
        # the quotient's own error: truncation (from two steps) and rounding
        slack = 10 * abs(quotient - half) + abs(here) * mpmath.mpf(10) ** -(2 * digits - 2) / h \
            + 10 * rounding
        gap = abs(half - expected)
        if gap > slack + resolution + AGREE * max(abs(half), size, mpmath.mpf(10) ** -300):
            return f"{float(half):.15g}"
        return ""
