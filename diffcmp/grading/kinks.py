"""Non-smooth points: is the point on a kink, and what are the one-sided derivatives there?

At a non-differentiable point engines legitimately differ: PyTorch and JAX pick a subgradient,
central differences average the two sides. So before grading, diffcmp looks for the non-smooth
nodes of the loss as written (its array graph, :mod:`diffcmp.matcalc.graph`): an argument of
``abs``, ``sign``, ``relu`` or ``heaviside`` at 0, a tie in ``max``/``min`` (of two arrays, or
within one), a ``where`` condition on its boundary, a norm at 0 or the square root of a sum of
squares at 0. It evaluates their switch quantities at the point in high precision and computes
each component's one-sided partial derivatives there.

A node is on its switch when its switch quantity is within float64 rounding of zero, measured
from its operands' magnitudes (``3*w - 1`` at ``w = 0.3333333333333333`` is 5.6e-17 from its
switch, and every float64 engine sees the tie). A condition on data alone is never a kink: no
parameter can move it. The point is a kink only when some pair of one-sided derivatives differs:
where every pair agrees (Huber at ``|r| = delta``, a tie inside a branch not taken) the loss is
differentiable there and is graded as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np

from ..matcalc import graph as g
from ..matcalc.derive import depends
from ..matcalc.evaluate import Program
from ..matcalc.graph import Node, topological
from ..matcalc.printer import formula
from ..ops import mpmath as mpmath_ops
from ..ops.mpmath import DPS
from ..symbolic.graph import short
from ..symbolic.problem import Problem

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

_ZERO_SWITCHES = {"abs": "has argument 0", "sign": "has argument 0", "relu": "has argument 0",
                  "heaviside": "has argument 0"}
_COMPARES = frozenset({"lt", "le", "gt", "ge", "eq", "ne"})


@dataclass(frozen=True)
class Switch:
    """A non-smooth node: the values whose zero (``tie=False``) or tie (``tie=True``) is its
    kink, and the magnitudes float64 rounding works at."""

    node: Node
    #: Nodes evaluated at the point: the quantity and its scale, or the arguments that tie.
    parts: tuple[Node, ...]
    tie: bool
    label: str

    def describe(self, values: list[Any]) -> str | None:
        """A description when ``values`` (of :attr:`parts`) put this node on its switch."""
        if self.tie:
            return self._tie(values)
        quantity, scale = (_elements(v) for v in values)
        for q, s in zip(quantity, np.broadcast_to(np.array(scale, dtype=object),
                                                  np.shape(quantity)).ravel(), strict=True):
            if _real(q) and _real(s) and abs(q) <= ZERO + ROUNDING * abs(s):
                return self.label
        return None

    def _tie(self, values: list[Any]) -> str | None:
        if len(values) == 2:  # max(a, b) / min(a, b), elementwise
            a, b = np.broadcast_arrays(np.array(values[0], dtype=object),
                                       np.array(values[1], dtype=object))
            pairs = zip(a.ravel(), b.ravel(), strict=True)
        else:  # max(a) / min(a) of one array: its two largest (smallest) elements
            axis = self.node.raw[0] if self.node.raw else None
            array = np.array(values[0], dtype=object)
            slices = [array.ravel()] if axis is None else np.moveaxis(array, axis, -1).reshape(
                -1, array.shape[axis])
            pairs = []
            for row in slices:
                ordered = sorted((v for v in row if _real(v)), reverse=self.node.op == "amax")
                if len(ordered) > 1:
                    pairs.append((ordered[0], ordered[1]))
        for a, b in pairs:
            if _real(a) and _real(b) and abs(a - b) <= ZERO + ROUNDING * max(abs(a), abs(b)):
                return f"{self.label} ({mpmath.nstr(a, 8)})"
        return None


def _elements(value: Any) -> list[Any]:
    return np.ravel(np.array(value, dtype=object)).tolist()


def _real(value: Any) -> bool:
    return isinstance(value, mpmath.mpf) and bool(mpmath.isfinite(value))


def _nonnegative(node: Node) -> bool:
    """Whether ``node`` is a sum of squares (or of other values that cannot be negative)."""
    if node.op in ("abs", "exp", "norm", "relu", "sqrt", "sigmoid", "softplus", "cosh"):
        return True
    if node.op == "pow":
        return bool(node.raw) and node.raw[0] % 2 == 0
    if node.op == "const":
        return float(mpmath_ops.OPS["const"](node.raw[0])) >= 0
    if node.op in ("add", "mul", "sum", "mean", "div", "dot", "broadcast_to", "index",
                   "transpose"):
        return all(_nonnegative(a) for a in node.args)
    return False


def _switch(node: Node) -> Switch | None:
    """The switch of one node, if it has one."""
    text = short(formula(node))
    op, args = node.op, node.args
    if op in _ZERO_SWITCHES:
        return Switch(node, (args[0], _scale(args[0])), False, f"{text} {_ZERO_SWITCHES[op]}")
    if op in ("maximum", "minimum"):
        return Switch(node, args, True, f"{text} has tied arguments")
    if op in ("amax", "amin"):
        return Switch(node, args, True, f"{text} has tied elements")
    if op == "where" and args[0].op in _COMPARES:
        left, right = args[0].args
        quantity = g.sub(left, right)
        return Switch(node, (quantity, g.add(_scale(left), _scale(right))), False,
                      f"where() condition {short(formula(args[0]))} is on its boundary")
    if op == "norm":
        return Switch(node, (node, _scale(node)), False, f"{text} (a norm) is at 0")
    if (op == "sqrt" or (op == "pow" and args[1:] and args[1].is_const
                         and 0 < float(mpmath_ops.OPS["const"](args[1].raw[0])) < 1)) \
            and _nonnegative(args[0]):
        return Switch(node, (args[0], _scale(args[0])), False, f"{text} (a norm) is at 0")
    return None


def _movable(switch: Switch, params: tuple[Node, ...]) -> bool:
    """Whether a parameter can move the switch (a condition on data alone is never a kink)."""
    moved = depends(topological(list(switch.parts)), params)
    return any(id(part) in moved for part in switch.parts)


def _scale(node: Node) -> Node:
    """The magnitude float64 rounding of ``node`` works at: the sum of its terms' sizes."""
    absolute = g.elementwise
    if node.op in ("add", "sub"):
        return g.add(absolute("abs", node.args[0]), absolute("abs", node.args[1]))
    return absolute("abs", node)


class KinkDetector:
    """Checks points of one problem for kinks; built once per problem."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        loss = problem.array_gradient.loss
        params = problem.array_gradient.params
        self.switches = [s for node in topological([loss]) if (s := _switch(node)) is not None
                         and _movable(s, params)]
        parts = [p for s in self.switches for p in s.parts]
        self._parts = (Program(parts).compile(mpmath_ops.OPS, fresh_constants=True)
                       if parts else None)
        self._loss = Program([loss]).compile(mpmath_ops.OPS, fresh_constants=True)
        self._data = {name: mpmath_ops.array(v) for name, v in problem.data_values.items()}

    def _env(self, point: list[Any]) -> dict[str, Any]:
        parts = self.problem.split(np.array(point, dtype=object))
        return {**self._data, **{name: part[()] for name, part in parts.items()}}

    def check(self, x: np.ndarray) -> tuple[str | None, np.ndarray, np.ndarray]:
        """``(description or None, left, right)``: the kink found at ``x`` and, if switches sit
        there, each component's one-sided partial derivatives (left: from below, right: from
        above). A point where switches sit but every pair agrees is no kink: ``(None, left,
        right)``, the derivative."""
        empty = np.zeros(0)
        if self._parts is None:
            return None, empty, empty
        point = [mpmath.mpf(float(v)) for v in x]
        with mpmath.workdps(DPS):
            try:
                values = self._parts(self._env(point))
            except (ZeroDivisionError, ValueError, TypeError):
                return None, empty, empty
            described, k = [], 0
            for switch in self.switches:
                n = len(switch.parts)
                text = switch.describe(values[k:k + n])
                k += n
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
            value = self._loss(self._env(p))[0]
            if not isinstance(value, mpmath.mpf) or mpmath.isnan(value):
                raise ValueError("not a real number")
            return value

        left, right = [], []
        for i in range(len(point)):
            h = mpmath.mpf(STEP) * max(1, abs(point[i]))

            def at(t: Any, i: int = i) -> Any:
                moved = list(point)
                moved[i] += t
                return f(moved)

            sides = (float("nan"), float("nan"))
            try:
                here = at(0)
                sides = (_converged(lambda s, y=here: (3 * y - 4 * at(-s) + at(-2 * s)) / (2 * s),
                                    h),
                         _converged(lambda s, y=here: (-3 * y + 4 * at(s) - at(2 * s)) / (2 * s),
                                    h))
            except (ZeroDivisionError, ValueError, TypeError):
                pass
            left.append(sides[0])
            right.append(sides[1])
        return np.array(left), np.array(right)


def _converged(quotient: Callable[[Any], Any], h: Any) -> float:
    """A one-sided difference quotient at step ``h``, checked at ``h / 4``: at a jump the
    quotient grows like 1/h and never converges, and the derivative on that side is infinite."""
    coarse, fine = quotient(h), quotient(h / 4)
    if not (_real(coarse) and _real(fine)):
        raise ValueError("not a real number")
    if abs(coarse - fine) > 1e-6 * max(1, abs(fine)):
        return float("inf") if fine > 0 else float("-inf")
    return float(fine)


def _close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.abs(a - b) / np.maximum(1.0, np.abs(a) + np.abs(b)) <= SAME_SIDES
