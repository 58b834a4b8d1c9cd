"""Non-smooth points: is the point on a kink, and what are the one-sided derivatives there?

At a non-differentiable point engines legitimately differ: PyTorch and JAX pick a subgradient,
central differences average the two sides. So before grading, diffcmp looks for the non-smooth
nodes of the loss as written (its array graph, :mod:`diffcmp.matcalc.graph`): an argument of
``abs``, ``sign``, ``relu`` or ``heaviside`` at 0, a tie in ``max``/``min`` (of two arrays, or
within one) or of ``clip`` with a bound, a ``where`` condition on its boundary, a norm (or
``hypot``) at 0 or the square root of a sum of squares at 0, a jump of ``floor``, ``ceil`` or
``mod`` (where the loss is discontinuous: a one-sided derivative is infinite). It evaluates
their switch quantities at the point in high precision and computes each component's one-sided
partial derivatives there.

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

Then the touched components that share a switch are checked together, pair by pair
(:mod:`diffcmp.grading.pairs`, :attr:`Sides.pairs`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
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
from .linalg_kinks import SPECTRAL, spectral
from .pairs import MAX_PAIRS, PAIR_LIMIT, Pair, pairs

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
#: An element on a switch moves with a component when a step of :data:`STEP` in it changes the
#: element's distance from the switch by more than this (relative): at ``DPS`` digits, rounding
#: is far below it, and a derivative of the distance below ``1e-16`` counts as none.
MOVED = mpmath.mpf(10) ** -25
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
        found = self.on(values)
        if not found:
            return None
        return f"{self.label} ({mpmath.nstr(found[0][1], 8)})" if self.tie else self.label

    def on(self, values: list[Any]) -> list[tuple[Any, Any]]:
        """The elements ``values`` put on the switch: each one's key (for :meth:`gaps`) and
        value (a tied one's, or the quantity)."""
        if self.tie:
            return [(key, a) for key, (a, b) in self._ties(values)
                    if _real(a) and _real(b) and abs(a - b) <= ZERO + ROUNDING * max(abs(a),
                                                                                     abs(b))]
        quantity, scale = (_elements(v) for v in values)
        scales = np.broadcast_to(np.array(scale, dtype=object), np.shape(quantity)).ravel()
        return [(k, q) for k, (q, s) in enumerate(zip(quantity, scales, strict=True))
                if _real(q) and _real(s) and abs(q) <= ZERO + ROUNDING * abs(s)]

    def gaps(self, values: list[Any], keys: list[Any]) -> list[Any]:
        """How far the elements ``keys`` are from their switch under ``values``: the quantity,
        or the difference of the tied values (the same elements, wherever they now rank)."""
        if not self.tie:
            quantity = _elements(values[0])
            return [quantity[k] for k in keys]
        ties = dict(self._ties(values, keys))
        return [ties[key][0] - ties[key][1] for key in keys]

    def _ties(self, values: list[Any], keys: list[Any] | None = None) -> list[tuple[Any, Any]]:
        """``(key, (a, b))`` for each pair that can tie: the two arguments elementwise of
        ``max(a, b)`` / ``min(a, b)``, or the two largest (smallest) elements of each slice of
        ``max(a)`` / ``min(a)`` (``keys``: those pairs, whatever the values' order now)."""
        if len(values) == 2:  # max(a, b) / min(a, b), elementwise
            a, b = np.broadcast_arrays(np.array(values[0], dtype=object),
                                       np.array(values[1], dtype=object))
            return list(enumerate(zip(a.ravel(), b.ravel(), strict=True)))
        axis = self.node.raw[0] if self.node.raw else None
        array = np.array(values[0], dtype=object)
        slices = [array.ravel()] if axis is None else np.moveaxis(array, axis, -1).reshape(
            -1, array.shape[axis])
        if keys is not None:
            return [((r, i, j), (slices[r][i], slices[r][j])) for r, i, j in keys]
        pairs = []
        for r, row in enumerate(slices):
            ordered = sorted((i for i, v in enumerate(row) if _real(v)), key=lambda i: row[i],
                             reverse=self.node.op == "amax")
            # max/min: the two largest (smallest); sort: every two neighbours (issue 19)
            stop = len(ordered) - 1 if self.node.op == "sort" else min(1, len(ordered) - 1)
            pairs.extend(((r, i, j), (row[i], row[j]))
                         for i, j in itertools.pairwise(ordered[:stop + 1]))
        return pairs


def _elements(value: Any) -> list[Any]:
    return np.ravel(np.array(value, dtype=object)).tolist()


def _real(value: Any) -> bool:
    return isinstance(value, mpmath.mpf) and bool(mpmath.isfinite(value))


def _nonnegative(node: Node) -> bool:
    """Whether ``node`` is a sum of squares (or of other values that cannot be negative)."""
    if node.op in ("abs", "exp", "norm", "relu", "sqrt", "sigmoid", "softplus", "cosh", "hypot",
                   "square"):
        return True
    if node.op == "pow":
        return bool(node.raw) and node.raw[0] % 2 == 0
    if node.op == "const":
        return float(mpmath_ops.OPS["const"](node.raw[0])) >= 0
    if node.op in ("add", "mul", "sum", "mean", "div", "dot", "broadcast_to", "index",
                   "transpose", "permute_dims", "reshape", "take", "take_along_axis",
                   "einsum"):  # (issue 19)
        return all(_nonnegative(a) for a in node.args)
    return False


def _switches(node: Node) -> list[Switch]:
    """The switches of one node: ``clip`` has two (a tie with either bound), a step its jumps
    (``floor``, ``ceil``: an integer argument; ``mod(a, b)``: ``a / b`` an integer), and each
    other non-smooth node one (:func:`_switch`)."""
    op, args = node.op, node.args
    if op == "clip":
        text = short(formula(node))
        return [Switch(node, (args[0], args[1]), True, f"{text} is at its lower bound"),
                Switch(node, (args[0], args[2]), True, f"{text} is at its upper bound")]
    if op in ("floor", "ceil", "mod"):
        ratio = args[0] if op != "mod" else g.div(*args)
        # the distance to the nearest integer: ratio - floor(ratio + 1/2)
        gap = g.sub(ratio, g.elementwise("floor", g.add(ratio, g.const(Fraction(1, 2)))))
        return [Switch(node, (gap, _scale(ratio)), False,
                       f"{short(formula(node))} is at a jump (a discontinuity)")]
    if op in SPECTRAL:  # linear algebra (issue 19): tied eigenvalues, a zero singular value
        return [Switch(node, parts, False, label) for parts, label in spectral(node)]
    found = _switch(node)
    return [found] if found is not None else []


def _switch(node: Node) -> Switch | None:
    """The switch of one node, if it has one."""
    text = short(formula(node))
    op, args = node.op, node.args
    if op in _ZERO_SWITCHES:
        return Switch(node, (args[0], _scale(args[0])), False, f"{text} {_ZERO_SWITCHES[op]}")
    if op in ("maximum", "minimum"):
        return Switch(node, args, True, f"{text} has tied arguments")
    if op in ("amax", "amin", "sort"):
        return Switch(node, args, True, f"{text} has tied elements")
    if op == "where" and args[0].op in _COMPARES:
        left, right = args[0].args
        quantity = g.sub(left, right)
        return Switch(node, (quantity, g.add(_scale(left), _scale(right))), False,
                      f"where() condition {short(formula(args[0]))} is on its boundary")
    if op in ("norm", "hypot"):
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
    #: At a kink, the touched components that share a switch, pair by pair (see the module
    #: docstring): the one-sided derivatives along ``e_k + e_m`` and ``e_k - e_m``.
    pairs: tuple[Pair, ...] = ()

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
        self.switches = [s for node in topological([loss]) for s in _switches(node)
                         if _movable(s, params)]
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
            described, elements, k = [], [], 0
            for switch in self.switches:
                n = len(switch.parts)
                text = switch.describe(values[k:k + n])
                if text:
                    described.append(text)
                    elements.append((switch, k, [key for key, _ in switch.on(values[k:k + n])]))
                k += n
            if not described:
                return Sides.none()
            n = len(point)
            found = [self._along(point, {i: 1}) for i in range(n)]
            left, right, spread = (np.array([side[j] for side in found]) for j in range(3))
            if np.all(np.isnan(left) & np.isnan(right)):
                return Sides.none()  # undefined all around: no kink
            if np.all(_close(left, right)):
                # switches sit here, but the loss is differentiable
                return Sides(None, left, right, spread)
            shared = self._pairs(point, values, elements, np.flatnonzero(touched(left, right)))
        return Sides("; ".join(dict.fromkeys(described)), left, right, spread, shared)

    def _loss_at(self, point: list[Any]) -> Any:
        value = self._loss(self._env(point))[0]
        if not isinstance(value, mpmath.mpf) or mpmath.isnan(value):
            raise ValueError("not a real number")
        return value

    def _along(self, point: list[Any], v: dict[int, int]) -> tuple[float, float, float]:
        """The one-sided derivatives of the loss along ``v`` (``{component: coefficient}``):
        from below (``-f'(x; -v)``) and from above (``f'(x; v)``), and the bound on their errors
        (:attr:`Sides.spread`); ``nan`` where a side is undefined. Along ``e_i``: the one-sided
        partial derivatives."""
        h = mpmath.mpf(STEP) * max(1, *(abs(point[i]) for i in v))

        def at(t: Any) -> Any:
            moved = list(point)
            for i, c in v.items():
                moved[i] += c * t
            return self._loss_at(moved)

        nan = float("nan")
        try:
            here = at(0)
            below = _converged(lambda s: (3 * here - 4 * at(-s) + at(-2 * s)) / (2 * s), h)
            above = _converged(lambda s: (-3 * here + 4 * at(s) - at(2 * s)) / (2 * s), h)
        except (ZeroDivisionError, ValueError, TypeError):
            return nan, nan, nan
        return below[0], above[0], max(below[1], above[1])

    def _pairs(self, point: list[Any], values: list[Any],
               elements: list[tuple[Switch, int, list[Any]]],
               touched: np.ndarray) -> tuple[Pair, ...]:
        """The touched components that share a switch, pair by pair (see the module docstring):
        which elements on a switch each touched component moves, then the one-sided derivatives
        along ``e_k +- e_m`` for the components that exactly one element moves, grouped by it."""
        def gaps(vals: list[Any]) -> list[Any]:
            return [gap for switch, k, keys in elements
                    for gap in switch.gaps(vals[k:k + len(switch.parts)], keys)]

        here = gaps(values)
        groups: dict[int, list[int]] = {}
        for i in touched:
            moved = list(point)
            moved[i] += mpmath.mpf(STEP) * max(1, abs(point[i]))
            try:
                there = gaps(self._parts(self._env(moved)))
            except (ZeroDivisionError, ValueError, TypeError, KeyError):
                return ()  # which elements move what is not known: no pair is checked
            changed = [e for e, (a, b) in enumerate(zip(here, there, strict=True))
                       if not (_real(a) and _real(b)) or abs(b - a) > MOVED * max(1, abs(a))]
            if len(changed) == 1:
                groups.setdefault(changed[0], []).append(int(i))
        found = []
        for members in groups.values():
            for k, m, sign in pairs(members[:PAIR_LIMIT])[:MAX_PAIRS - len(found)]:
                left, right, spread = self._along(point, {k: 1, m: int(sign)})
                found.append(Pair(k, m, sign, left, right, spread))
        return tuple(found)


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
