"""Non-smooth points: is the point on a kink, and what are the one-sided derivatives there?

At a non-differentiable point engines legitimately differ: PyTorch and JAX pick a subgradient,
SymPy's ``Heaviside(0)`` is 1/2, central differences average the two sides. So before grading,
diffcmp looks for the loss's non-smooth nodes (an argument of ``abs``, ``sign`` or ``Heaviside``
equal to 0, a ``max``/``min`` tie, a ``where`` condition on its boundary), evaluates them at the
point in high precision, and computes each component's one-sided partial derivatives there. The
point is a kink when a non-smooth node sits on its switch; when every pair of one-sided derivatives
agrees anyway (Huber at ``|r| = delta`` joins its branches with equal slopes), the message says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ..ops.mpmath import DPS
from ..symbolic.lambdify import lambdify_renamed

#: A switch quantity at most this far from zero (at ``DPS`` digits) is on the switch.
ZERO = mpmath.mpf(10) ** -(DPS - 10)
#: Step for one-sided difference quotients at ``DPS`` digits: truncation O(STEP) is negligible.
STEP = mpmath.mpf(10) ** -(DPS // 2)
#: One-sided derivatives closer than this (rho) are reported as agreeing.
SAME_SIDES = 1e-12


@dataclass(frozen=True)
class Switch:
    """A non-smooth node: the SymPy node, and the quantities whose zero (or tie) is its kink."""

    node: sp.Basic
    quantities: tuple[sp.Expr, ...]
    tie: bool  # True: a kink where the two largest (max) or smallest (min) quantities tie
    label: str = ""  # what is on its switch, for the message

    def describe(self, values: Sequence[Any]) -> str | None:
        """A description when the values put this node on its switch, else ``None``."""
        if self.tie:
            ordered = sorted(values, reverse=isinstance(self.node, sp.Max))
            if len(ordered) > 1 and abs(ordered[0] - ordered[1]) <= ZERO * max(
                    1, abs(ordered[0])):
                return f"{_short(self.node)} has tied arguments ({mpmath.nstr(ordered[0], 8)})"
            return None
        if abs(values[0]) <= ZERO:
            return self.label or f"{_short(self.node)} has argument 0"
        return None


def _short(node: sp.Basic, limit: int = 60) -> str:
    text = str(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def switches(loss: sp.Expr) -> list[Switch]:
    """Every non-smooth node of ``loss``, with what puts it on its switch."""
    found: list[Switch] = []
    for node in sp.preorder_traversal(loss):
        if isinstance(node, sp.Abs | sp.sign | sp.Heaviside):
            found.append(Switch(node, (node.args[0],), tie=False))
        elif isinstance(node, sp.Max | sp.Min):
            found.append(Switch(node, tuple(node.args), tie=True))
        elif isinstance(node, sp.Piecewise):
            for _, condition in node.args:
                if isinstance(condition, sp.core.relational.Relational):
                    found.append(Switch(node, (condition.lhs - condition.rhs,), tie=False,
                                        label=f"where() condition {_short(condition)} is on "
                                        "its boundary"))
    return found


class KinkDetector:
    """Checks points of one problem for kinks; built once per problem."""

    def __init__(self, loss: sp.Expr, params: Sequence[sp.Symbol], data: Sequence[sp.Symbol],
                 data_values: Sequence[float]) -> None:
        self.switches = switches(loss)
        self._args = [*params, *data]
        self._data = [mpmath.mpf(float(v)) for v in data_values]
        quantities = [q for s in self.switches for q in s.quantities]
        self._quantities = (lambdify_renamed(self._args, quantities, "mpmath") if quantities
                            else None)
        self._loss = lambdify_renamed(self._args, [loss], "mpmath") if self.switches else None

    def check(self, x: np.ndarray) -> tuple[str | None, np.ndarray, np.ndarray]:
        """``(description or None, left, right)``: the kink found at ``x`` and, if there is one,
        each component's one-sided partial derivatives (left: from below, right: from above)."""
        empty = np.zeros(0)
        if self._quantities is None:
            return None, empty, empty
        point = [mpmath.mpf(float(v)) for v in x]
        with mpmath.workdps(DPS):
            try:
                values = self._quantities(*point, *self._data)
            except (ZeroDivisionError, ValueError):
                return None, empty, empty
            described, k = [], 0
            for switch in self.switches:
                n = len(switch.quantities)
                text = switch.describe([_real(v) for v in values[k:k + n]])
                k += n
                if text:
                    described.append(text)
            if not described:
                return None, empty, empty
            left, right = self._one_sided(point)
        text = "; ".join(dict.fromkeys(described))
        if np.all(_close(left, right)):
            text += " (the one-sided derivatives agree here)"
        return text, left, right

    def _one_sided(self, point: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        def f(p: list[Any]) -> Any:
            return _real(self._loss(*p, *self._data)[0])

        here = f(point)
        left, right = [], []
        for i in range(len(point)):
            up, down = list(point), list(point)
            up[i] += STEP
            down[i] -= STEP
            try:
                right.append(float((f(up) - here) / STEP))
                left.append(float((here - f(down)) / STEP))
            except (ZeroDivisionError, ValueError, TypeError):
                right.append(float("nan"))
                left.append(float("nan"))
        return np.array(left), np.array(right)


def _real(value: Any) -> Any:
    return value.real if isinstance(value, mpmath.mpc) else value


def _close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.abs(a - b) / np.maximum(1.0, np.abs(a) + np.abs(b)) <= SAME_SIDES
