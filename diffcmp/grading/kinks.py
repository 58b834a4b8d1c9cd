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

At a kink the grading is per component (:func:`~diffcmp.grading.grade.kink_verdict`): a
component whose one-sided derivatives agree (:attr:`Sides.touched` is False) is graded as at a
smooth point; a touched one must lie between its one-sided derivatives, each widened by its
:attr:`~Sides.spread`, the estimate of the one-sided quotient's own error.
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
#: How many times the gap between the one-sided quotients at ``h`` and ``h / 4`` the error of
#: the one at ``h / 4`` can be: 1/15 where the truncation error ``O(h^2)`` decides, 4/3 where a
#: switch a rounding away from the point does (its bias grows like ``1/h``); 2 covers both.
SPREAD = 2.0

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


@dataclass(frozen=True)
class Sides:
    """What :meth:`KinkDetector.sides` finds at one point: the kink's description (``None``
    where there is none), each component's one-sided partial derivatives, and how far each
    may be off."""

    kink: str | None
    #: Each component's one-sided partial derivatives, from below and from above (empty where
    #: no switch sits at the point).
    left: np.ndarray
    right: np.ndarray
    #: A bound on the error of each component's one-sided derivatives (the larger of the two
    #: sides'): :data:`SPREAD` times the gap between the quotients at two steps. At a switch
    #: only a rounding away from the point the one-sided quotient steps over it and is biased
    #: by ``jump * offset / h`` (``abs(3*w - 1)`` at ``w = 0.3333333333333333``: 2.9999993
    #: for 3); far from it, about 1e-18.
    spread: np.ndarray

    @classmethod
    def none(cls) -> Sides:
        """No switch at the point."""
        empty = np.zeros(0)
        return cls(None, empty, empty, empty)

    @property
    def touched(self) -> np.ndarray:
        """Which components the kink touches: their one-sided derivatives differ (beyond
        :data:`SAME_SIDES`), or one of them is undefined."""
        return touched(self.left, self.right)


def touched(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Whether each component's one-sided derivatives differ (beyond :data:`SAME_SIDES`, or one
    of them is undefined): the components a kink touches. The others are differentiable."""
    return ~_close(np.asarray(left, dtype=float), np.asarray(right, dtype=float))


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
        right)``, the derivative. :meth:`sides` says the same with the derivatives' errors."""
        found = self.sides(x)
        return found.kink, found.left, found.right

    def sides(self, x: np.ndarray) -> Sides:
        """The kink found at ``x`` (:attr:`Sides.kink`, ``None`` where there is none) and, if
        switches sit there, each component's one-sided partial derivatives with their error
        bound. A point where switches sit but every pair agrees is no kink: its sides are the
        derivative."""
        if self._parts is None:
            return Sides.none()
        point = [mpmath.mpf(float(v)) for v in x]
        with mpmath.workdps(DPS):
            try:
                values = self._parts(self._env(point))
            except (ZeroDivisionError, ValueError, TypeError):
                return Sides.none()
            described, k = [], 0
            for switch in self.switches:
                n = len(switch.parts)
                text = switch.describe(values[k:k + n])
                k += n
                if text:
                    described.append(text)
            if not described:
                return Sides.none()
            left, right, spread = self._one_sided(point)
        if np.all(np.isnan(left) & np.isnan(right)):
            return Sides.none()  # undefined all around: no kink
        if np.all(_close(left, right)):
            # switches sit here, but the loss is differentiable
            return Sides(None, left, right, spread)
        return Sides("; ".join(dict.fromkeys(described)), left, right, spread)

    def _one_sided(self, point: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each component's one-sided partial derivatives (from below, from above) and the bound
        on their errors (:attr:`Sides.spread`); ``nan`` where a side is undefined."""
        def f(p: list[Any]) -> Any:
            value = self._loss(self._env(p))[0]
            if not isinstance(value, mpmath.mpf) or mpmath.isnan(value):
                raise ValueError("not a real number")
            return value

        left, right, spread = [], [], []
        for i in range(len(point)):
            h = mpmath.mpf(STEP) * max(1, abs(point[i]))

            def at(t: Any, i: int = i) -> Any:
                moved = list(point)
                moved[i] += t
                return f(moved)

            nan = float("nan")
            sides = ((nan, nan), (nan, nan))
            try:
                here = at(0)
                sides = (_converged(lambda s, y=here: (3 * y - 4 * at(-s) + at(-2 * s)) / (2 * s),
                                    h),
                         _converged(lambda s, y=here: (-3 * y + 4 * at(s) - at(2 * s)) / (2 * s),
                                    h))
            except (ZeroDivisionError, ValueError, TypeError):
                pass
            left.append(sides[0][0])
            right.append(sides[1][0])
            spread.append(max(sides[0][1], sides[1][1]))
        return np.array(left), np.array(right), np.array(spread)


def _converged(quotient: Callable[[Any], Any], h: Any) -> tuple[float, float]:
    """A one-sided difference quotient at step ``h``, checked at ``h / 4``: ``(value, error
    bound)``, the bound :data:`SPREAD` times the gap between the two. At a jump the quotient
    grows like 1/h and never converges, and the derivative on that side is infinite (bound 0)."""
    coarse, fine = quotient(h), quotient(h / 4)
    if not (_real(coarse) and _real(fine)):
        raise ValueError("not a real number")
    if abs(coarse - fine) > 1e-6 * max(1, abs(fine)):
        return (float("inf") if fine > 0 else float("-inf")), 0.0
    return float(fine), float(SPREAD * abs(coarse - fine))


def _close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.abs(a - b) / np.maximum(1.0, np.abs(a) + np.abs(b)) <= SAME_SIDES
