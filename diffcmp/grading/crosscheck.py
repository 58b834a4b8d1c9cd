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

from collections.abc import Sequence
from typing import Any

import mpmath
import numpy as np

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

    def _at(self, x: Sequence[Any]) -> Any:
        """The loss at the flat point ``x`` (mpmath numbers), in ball arithmetic: its midpoint
        (``nan`` where a comparison cannot be decided)."""
        balls = np.empty(len(x), dtype=object)
        balls[:] = [arb_ops.from_mpmath(v) for v in x]
        parts = self.problem.split(balls)
        try:
            value = self._loss({**self._data, **{n: p[()] for n, p in parts.items()}})[0]
        except UndecidedError:
            return mpmath.mpf("nan")
        return arb_ops.to_mpmath(value)

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
            point = [mpmath.mpf(float(v)) for v in x]
            try:
                here = self._at(point)
            except (ZeroDivisionError, ValueError, TypeError):
                return ""
            for i in indices:
                direction = [mpmath.mpf(0)] * n
                direction[i] = mpmath.mpf(1)
                scale = max(1, abs(point[i]))
                bug = self._quotient(point, here, direction, scale, mpmath.mpf(float(grad[i])),
                                     mpmath.mpf(abs(float(grad[i]))), digits, resolution)
                if bug:
                    return (f"diffcmp bug: the reference gradient's {components[i]} is "
                            f"{float(grad[i]):.15g}, but the loss's difference quotient at "
                            f"{2 * digits} digits is {bug} (an independent derivation): a "
                            "derivative rule is wrong")
            if len(indices) < n:  # the rest: one random direction
                signs = np.random.default_rng(1).choice([-1.0, 1.0], n)
                direction = [mpmath.mpf(s) for s in signs]
                projected = mpmath.fsum(mpmath.mpf(float(g)) * d for g, d in
                                        zip(grad, direction, strict=True))
                size = mpmath.fsum(abs(mpmath.mpf(float(g))) for g in grad)
                scale = max(1, max(abs(p) for p in point))
                bug = self._quotient(point, here, direction, scale, projected, size, digits,
                                     resolution * n)
                if bug:
                    return (f"diffcmp bug: the reference gradient's projection on a random "
                            f"direction is {float(projected):.15g}, but the loss's difference "
                            f"quotient at {2 * digits} digits is {bug} (an independent "
                            "derivation): a derivative rule is wrong")
        return ""

    def _quotient(self, point: list[Any], here: Any, direction: list[Any], scale: Any,
                  expected: Any, size: Any, digits: int, resolution: Any) -> str:
        """``""`` when the central difference quotient of the loss along ``direction`` agrees
        with ``expected`` (the gradient's; ``size`` its magnitude, ``resolution`` how finely the
        reference resolves it), else the quotient."""
        h = mpmath.mpf(10) ** -(digits // 2) * scale

        def at(t: Any) -> Any:
            return self._at([p + t * d for p, d in zip(point, direction, strict=True)])

        try:
            quotient = (at(h) - at(-h)) / (2 * h)
            half = (at(h / 2) - at(-h / 2)) / h
        except (ZeroDivisionError, ValueError, TypeError):
            return ""
        if not all(isinstance(q, mpmath.mpf) and mpmath.isfinite(q)
                   for q in (here, quotient, half)):
            return ""
        # the quotient's own error: truncation (from two steps) and rounding
        slack = 10 * abs(quotient - half) + abs(here) * mpmath.mpf(10) ** -(2 * digits - 2) / h
        gap = abs(half - expected)
        if gap > slack + resolution + AGREE * max(abs(half), size, mpmath.mpf(10) ** -300):
            return f"{float(half):.15g}"
        return ""
