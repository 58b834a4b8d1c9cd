"""Non-smooth points: is the point on a kink, and what are the one-sided derivatives there?

At a non-differentiable point engines legitimately differ: PyTorch and JAX pick a subgradient,
SymPy's ``Heaviside(0)`` is 1/2, central differences average the two sides. So before grading,
diffcmp looks for the loss's non-smooth nodes (an argument of ``abs``, ``sign`` or ``Heaviside``
equal to 0, a ``max``/``min`` tie, a ``where`` condition on its boundary, the square root of a
sum of squares, a norm, at 0), evaluates them at the point in high precision, and computes each
component's one-sided partial derivatives there.

A node is on its switch when its switch quantity is within float64 rounding of zero, measured
from the operands' magnitudes (``3*w - 1`` at ``w = 0.3333333333333333`` is 5.6e-17 from its
switch, and every float64 engine sees the tie). A condition on data alone is never a kink: no
parameter can move it. The point is a kink only when some pair of one-sided derivatives differs:
where every pair agrees (Huber at ``|r| = delta``, a tie inside a branch not taken) the loss is
differentiable there and is graded as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ..ops.mpmath import DPS
from ..symbolic.graph import short
from ..symbolic.lambdify import lambdify_renamed

#: A switch quantity at most this far from zero (at ``DPS`` digits) is on the switch, whatever
#: the operands' size.
ZERO = mpmath.mpf(10) ** -(DPS - 10)
#: Within this many float64 epsilons of the operands' magnitude, a switch quantity is on the
#: switch: float64 engines cannot tell the two sides apart.
ROUNDING = 4 * 2.0**-52
#: Relative step of the one-sided difference quotients (second-order one-sided formulas at
#: ``DPS`` digits: truncation O(h^2) ~ 1e-18, and wide enough to step over a switch that is
#: only rounding away).
STEP = 2.0**-30
#: One-sided derivatives closer than this (rho) agree.
SAME_SIDES = 1e-12


@dataclass(frozen=True)
class Switch:
    """A non-smooth node: the SymPy node, the quantities whose zero (or tie) is its kink, and
    the magnitudes of their operands (the scale float64 rounding works at)."""

    node: sp.Basic
    quantities: tuple[sp.Expr, ...]
    tie: bool  # True: a kink where the two largest (max) or smallest (min) quantities tie
    label: str = ""  # what is on its switch, for the message
    scales: tuple[sp.Expr, ...] = ()

    def describe(self, values: Sequence[Any], scales: Sequence[Any]) -> str | None:
        """A description when the values put this node on its switch, else ``None``."""
        if self.tie:
            ordered = sorted(values, reverse=isinstance(self.node, sp.Max))
            if len(ordered) > 1 and abs(ordered[0] - ordered[1]) <= ZERO + ROUNDING * max(
                    abs(ordered[0]), abs(ordered[1])):
                return f"{short(self.node)} has tied arguments ({mpmath.nstr(ordered[0], 8)})"
            return None
        if abs(values[0]) <= ZERO + ROUNDING * abs(scales[0]):
            return self.label or f"{short(self.node)} has argument 0"
        return None


def _scale(quantity: sp.Expr) -> sp.Expr:
    """The magnitude float64 rounding of ``quantity`` works at: the sum of its terms' sizes."""
    terms = quantity.args if isinstance(quantity, sp.Add) else (quantity,)
    return sp.Add(*[sp.Abs(t) for t in terms])


def _zero_switch(node: sp.Basic, quantity: sp.Expr, label: str = "") -> Switch:
    return Switch(node, (quantity,), tie=False, label=label, scales=(_scale(quantity),))


def switches(loss: sp.Expr, params: Sequence[sp.Symbol] = ()) -> list[Switch]:
    """Every non-smooth node of ``loss`` that a parameter can move, with what puts it on its
    switch (with no ``params`` given, every non-smooth node)."""
    movable = set(params)
    found: list[Switch] = []
    for node in sp.preorder_traversal(loss):
        if isinstance(node, sp.Abs | sp.sign | sp.Heaviside):
            found.append(_zero_switch(node, node.args[0]))
        elif isinstance(node, sp.Max | sp.Min):
            found.append(Switch(node, tuple(node.args), tie=True))
        elif isinstance(node, sp.Pow) and node.exp == sp.Rational(1, 2) \
                and node.base.is_nonnegative and not node.base.is_number:
            found.append(_zero_switch(node, node.base, f"{short(node)} (a norm) is at 0"))
        elif isinstance(node, sp.Piecewise):
            for _, condition in node.args:
                if isinstance(condition, sp.logic.boolalg.Boolean):
                    for relation in condition.atoms(sp.core.relational.Relational):
                        found.append(_zero_switch(
                            node, relation.lhs - relation.rhs,
                            f"where() condition {short(relation)} is on its boundary"))
    if not movable:
        return found
    return [s for s in found if any(q.free_symbols & movable for q in s.quantities)]


class KinkDetector:
    """Checks points of one problem for kinks; built once per problem."""

    def __init__(self, loss: sp.Expr, params: Sequence[sp.Symbol], data: Sequence[sp.Symbol],
                 data_values: Sequence[float]) -> None:
        self.switches = switches(loss, params)
        self._args = [*params, *data]
        self._data = [mpmath.mpf(float(v)) for v in data_values]
        exprs = [e for s in self.switches for e in (*s.quantities, *s.scales)]
        self._quantities = lambdify_renamed(self._args, exprs, "mpmath") if exprs else None
        self._loss = lambdify_renamed(self._args, [loss], "mpmath") if self.switches else None

    def check(self, x: np.ndarray) -> tuple[str | None, np.ndarray, np.ndarray]:
        """``(description or None, left, right)``: the kink found at ``x`` and, if switches sit
        there, each component's one-sided partial derivatives (left: from below, right: from
        above). A point where switches sit but every pair agrees is no kink: ``(None, left,
        right)``, the derivative."""
        empty = np.zeros(0)
        if self._quantities is None:
            return None, empty, empty
        point = [mpmath.mpf(float(v)) for v in x]
        with mpmath.workdps(DPS):
            try:
                values = self._quantities(*point, *self._data)
            except (ZeroDivisionError, ValueError, TypeError):
                return None, empty, empty
            described, k = [], 0
            for switch in self.switches:
                n, m = len(switch.quantities), len(switch.scales)
                own, scales = values[k:k + n], values[k + n:k + n + m]
                k += n + m
                if any(_complex(v) for v in [*own, *scales]):
                    continue  # not real here: the loss is undefined, not kinked
                text = switch.describe([mpmath.re(v) for v in own],
                                       [mpmath.re(v) for v in scales])
                if text:
                    described.append(text)
            if not described:
                return None, empty, empty
            left, right = self._one_sided(point)
        if np.all(np.isnan(left) & np.isnan(right)):
            return None, empty, empty  # undefined all around: no kink
        if np.all(_close(left, right)):
            return None, left, right  # switches sit here, but the loss is differentiable
        return "; ".join(dict.fromkeys(described)), left, right

    def _one_sided(self, point: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        def f(p: list[Any]) -> Any:
            value = self._loss(*p, *self._data)[0]
            if _complex(value):
                raise ValueError("complex")
            return mpmath.re(value)

        left, right = [], []
        for i in range(len(point)):
            h = mpmath.mpf(STEP) * max(1, abs(point[i]))

            def at(t: Any, i: int = i) -> Any:
                moved = list(point)
                moved[i] += t
                return f(moved)

            try:
                here = at(0)
                right.append(_converged(
                    lambda s, y=here: (-3 * y + 4 * at(s) - at(2 * s)) / (2 * s), h))
                left.append(_converged(
                    lambda s, y=here: (3 * y - 4 * at(-s) + at(-2 * s)) / (2 * s), h))
            except (ZeroDivisionError, ValueError, TypeError):
                right.append(float("nan"))
                left.append(float("nan"))
        return np.array(left), np.array(right)


def _converged(quotient: Any, h: Any) -> float:
    """A one-sided difference quotient at step ``h``, checked at ``h / 4``: at a jump the
    quotient grows like 1/h and never converges, and the derivative on that side is infinite."""
    coarse, fine = quotient(h), quotient(h / 4)
    if abs(coarse - fine) > 1e-6 * max(1, abs(fine)):
        return float("inf") if fine > 0 else float("-inf")
    return float(fine)


def _complex(value: Any) -> bool:
    return isinstance(value, mpmath.mpc) and value.imag != 0


def _close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.abs(a - b) / np.maximum(1.0, np.abs(a) + np.abs(b)) <= SAME_SIDES
