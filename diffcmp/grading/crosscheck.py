"""An independent derivation: the reference's gradient checked against difference quotients of the
loss as written, in Arb ball arithmetic at (at least) twice the reference's working precision.

The reference's gradient comes from the vector-Jacobian rules (:mod:`diffcmp.matcalc.rules`); a
wrong rule would move the reference and the ``matcalc`` engine together, invisible to every other
check. The loss alone goes through no derivative rule, so its central difference quotients are an
independent derivation. Where the point is smooth (no switch sits there) and they disagree beyond
their error, the row is a diffcmp bug, never an engine's fault. With ``d`` the precision the
reference settled its values at, ``f`` the loss and ``g`` the gradient at the point ``x``:

**The step scales with the point.** Component ``i`` moves by ``t L_i``: ``t``, a power of two
near ``10**-(d/2)``, and ``L_i``, a power of two near the component's own length scale: ``|x_i|``
(``1`` for a component at exactly 0), shortened to the loss's e-folding length ``|f / g_i|``
where that is shorter (``cos(a b)`` varies on the scale ``1/|b|``, whatever ``a`` is), by at most
``SHORTEST`` digits. At ``b = -6.19e-29`` in ``abs(cos(3) / (-b)**3)`` (``|f / g| = |b| / 3``) the
step is ``6.5e-55``; the old one, ``10**-(d/2) max(1, |x_i|)``, was ``1e-25``, 1600 times the
point. The moved points are
exact (formed at a precision that holds all their bits), and the loss is evaluated at ``2 d``
digits plus the digits ``L_i`` was shortened by (the loss's arithmetic needs them to see the
move), or more where the loss is so much larger than the least disagreement that counts that the
difference of its values would not resolve it.

**The bound scales with the derivatives.** The quotients at ``h`` and ``h/2`` give the
Richardson estimate ``D(h/2) - (D(h) - D(h/2))/3``. Its error is counted as ten times
``|D(h) - D(h/2)|`` (the truncation error, ``O(h**2)``: the higher derivatives' size, wherever
they are) plus its ball's radius (the evaluations' rounding, which Arb bounds). The least
disagreement that counts is what the reference cannot resolve (each component's certificate: its
bound, or its proven digits; and float64's rounding of it) plus ``AGREE`` of the gradient's size.
The check passes when the estimate is within its error and that least disagreement, and the
error is below the latter. An estimate too coarse to tell, a loss not finite within the step, or
a comparison that cannot be decided there leads to the next attempt: a step ``10**-(d/2)`` finer,
then ``10**-d``, ``10**-(2 d)``... (at most ``ATTEMPTS``, and ``SHORTEST`` digits), each at as
many more digits, and ``d/2`` more. A disagreement takes a third step ``h/4``: the differences
must shrink four times with the step as a smooth function's do (or both be rounding), and the
Richardson estimate from ``h/2`` and ``h/4`` must still miss. Then a step
``10**-CONFIRM`` finer (at as many more digits, below any scale a float64 constant in the loss
can hide: ``1 + 1e-300 cos(1e300 a)``) must settle on the same value; only then is it a bug
(where that step agrees with the gradient, the check passes; where it settles elsewhere, the
next attempt goes on). A check that never settles says nothing. So a rule off by ``1e-6``, or of
the wrong sign, is reported at tiny and at huge points, and the quotient's own error is not.

Each check costs four evaluations of the loss where it agrees (the common case; up to six more per
attempt where it cannot tell, and six more to confirm a bug), so the number of components checked
one by one shrinks with the size of the data (at most ``MAX_COMPONENTS``, a seeded sample); the
rest are covered by one random direction, each component moved by a random sign times its own
length scale, whose difference quotient must match the gradient's projection on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
from flint import arb

from ..errors import DiffcmpError
from ..matcalc.evaluate import Program
from ..ops import arb as arb_ops
from ..symbolic.problem import Problem

#: Components checked one by one at most per point (a seeded sample of larger gradients).
MAX_COMPONENTS = 64
#: Loss evaluations times elements the component checks may take (a million-element case: one).
MAX_WORK = 4_000_000
#: The gradient and the difference quotients agree when within this (relative to the larger).
AGREE = 1e-12
#: Steps tried per check: ``10**-(digits/2)`` of the length scale, then finer by
#: ``10**-(digits/2)``, ``10**-digits``, ``10**-(2 digits)``... (up to ``SHORTEST`` digits).
ATTEMPTS = 5
#: The estimated truncation error counts this many times over (a smooth function's is far less).
SAFETY = 10
#: A disagreement is confirmed at a step this many digits finer (at as many more digits).
CONFIRM = 400
#: A length scale is shortened to the e-folding length by at most this many digits (float64's
#: whole range: ``1e308`` moved on the scale of ``1``, or ``1e-300`` on that of ``1e-320``).
SHORTEST = 650
_BITS_PER_DIGIT = math.log2(10)
_FLOAT64_ULP = mpmath.mpf(2) ** -52
_FLOAT64_TINY = mpmath.mpf(2) ** -1074
#: What a disagreement means.
WRONG = "a derivative rule (or the reference's certificate) is wrong"

#: A direction: ``{component: its move per unit step}``, each an exact ball (a signed power of 2).
Direction = dict[int, Any]


class CrossCheck:
    """Checks one problem's gradient against difference quotients of its loss as written."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self._loss = Program([problem.array_gradient.loss]).compile(arb_ops.OPS,
                                                                     fresh_constants=True)
        self._data = {name: arb_ops.array(v) for name, v in problem.data_values.items()}
        size = sum(v.size for v in problem.data_values.values()) + problem.point.size
        self._count = int(min(MAX_COMPONENTS, max(1, MAX_WORK // (4 * max(size, 1)))))

    def _at(self, balls: np.ndarray) -> Any:
        """The loss at the flat point ``balls`` (an object array of Arb balls) as a ball, or
        ``None`` where it is not finite or a comparison cannot be decided."""
        parts = self.problem.split(balls)
        try:
            value = self._loss({**self._data, **{n: p[()] for n, p in parts.items()}})[0]
        except (DiffcmpError, ZeroDivisionError, ValueError, TypeError):
            return None
        value = value if isinstance(value, arb) else arb(value)
        return value if value.is_finite() else None

    def disagreement(self, x: np.ndarray, grad: np.ndarray, digits: int,
                     components: Sequence[str], loss: float = 0.0,
                     resolution: Sequence[float] | None = None) -> str:
        """``""`` when the gradient agrees with the loss's difference quotients at ``x`` (or they
        cannot settle there), else what differs: a message that starts ``"diffcmp bug"``.

        ``x`` is the flat point (float64), ``grad`` the reference's gradient there, ``digits``
        the working precision it settled them at, ``components`` the components' names and
        ``loss`` the reference's loss. ``resolution``: how far each gradient component may be
        from the truth by its certificate (its ball's radius, or its proven bound); by default
        ``10**-(digits - 10)`` of the largest value, loss included (a certificate that proves
        small values only to that floor). :class:`ValueError` when their lengths differ from
        ``x``'s, or a resolution is negative or not finite."""
        x, grad = np.asarray(x, dtype=np.float64), np.asarray(grad, dtype=np.float64)
        n = len(x)
        if len(grad) != n or (resolution is not None and len(resolution) != n):
            raise ValueError(f"{n} components, but {len(grad)} gradient values"
                             + ("" if resolution is None else f" and {len(resolution)} "
                                "resolutions"))
        if resolution is not None and not all(math.isfinite(r) and r >= 0 for r in resolution):
            raise ValueError("a resolution is negative or not finite")
        if n == 0 or not (np.all(np.isfinite(x)) and np.all(np.isfinite(grad))):
            return ""  # nothing a difference quotient can match
        indices = list(range(n)) if n <= self._count else sorted(
            np.random.default_rng(0).choice(n, self._count, replace=False).tolist())
        with mpmath.workdps(2 * digits + 10), arb_ops.precision(2 * digits):
            g = [mpmath.mpf(float(v)) for v in grad]
            if resolution is None:
                largest = max(max(abs(v) for v in g), abs(mpmath.mpf(float(loss))))
                floors = [largest * mpmath.mpf(10) ** (10 - digits)] * n
            else:
                floors = [abs(mpmath.mpf(float(r))) for r in resolution]
            base = np.empty(n, dtype=object)
            base[:] = [arb(float(v)) for v in x]  # a float64 is an exact ball
            here = self._at(base)
            if here is None:
                return ""
            f = abs(arb_ops.to_mpmath(here))
            exponents, shortened = _lengths(x, f, grad)
            for i in indices:
                length = mpmath.ldexp(1, int(exponents[i]))
                line = _Line({i: arb(2) ** int(exponents[i])}, g[i] * length,
                             abs(g[i]) * length, _tolerance({i: length}, g, floors), f,
                             int(shortened[i]))
                found = self._quotient(base, line, digits)
                if found is not None:
                    quotient, error, step, at = found
                    return (f"diffcmp bug: the reference gradient's {components[i]} is "
                            f"{_show(g[i])}, but the loss's difference quotient at {at} digits "
                            f"is {_show(quotient / length)} within {_show(error / length, 2)} "
                            f"(steps down to {_show(step * length, 3)}; an independent "
                            f"derivation): {WRONG}")
            if len(indices) < n:  # the rest: one random direction
                signs = np.random.default_rng(1).choice([-1, 1], n).tolist()
                moves = {j: mpmath.ldexp(s, int(k)) for j, (s, k) in
                         enumerate(zip(signs, exponents, strict=True))}
                projected = mpmath.fsum(g[j] * m for j, m in moves.items())
                line = _Line({j: s * arb(2) ** int(k) for j, (s, k) in
                              enumerate(zip(signs, exponents, strict=True))}, projected,
                             mpmath.fsum(abs(g[j] * m) for j, m in moves.items()),
                             _tolerance(moves, g, floors), f, int(np.max(shortened)))
                found = self._quotient(base, line, digits)
                if found is not None:
                    quotient, error, _, at = found
                    return (f"diffcmp bug: the reference gradient's projection on a random "
                            f"direction (each component moved by a random sign times its own "
                            f"scale) is {_show(projected)}, but the loss's difference quotient "
                            f"at {at} digits is {_show(quotient)} within {_show(error, 2)} (an "
                            f"independent derivation): {WRONG}")
        return ""

    def _quotient(self, base: np.ndarray, line: _Line,
                  digits: int) -> tuple[Any, Any, Any, int] | None:
        """``None`` when the central difference quotients of the loss along ``line`` agree with
        the gradient's projection on it, or never settle; else the Richardson estimate that
        proves them wrong, its error bound, the finest step (per unit of direction) and the
        digits it took."""
        unit = -math.ceil(digits / 2 * _BITS_PER_DIGIT)  # the step 2**unit, about 10**-(digits/2)
        working = _working(line, digits)
        for attempt in range(ATTEMPTS):
            # the steps 10**-(digits/2) finer, then 10**-digits, 10**-(2 digits)...: a scale
            # hidden far below the first step is reached in a few attempts, each at as many more
            # digits (and digits/2 more again, against a cancellation in the loss)
            shrink = digits // 2 * (2**attempt - 1)
            if shrink > SHORTEST:
                break
            at = working + shrink + attempt * (digits // 2)
            step = unit - math.ceil(shrink * _BITS_PER_DIGIT)
            claim = self._settle(base, line, step, at, digits)
            if claim is None:
                return None
            if claim is _UNSETTLED:
                continue
            # a disagreement: confirmed only by a step 10**-CONFIRM finer (at as many more
            # digits) settling on the same value, below any scale a float64 constant can hide
            deep = self._settle(base, line, step - math.ceil(CONFIRM * _BITS_PER_DIGIT),
                                at + CONFIRM, digits)
            if deep is None:
                return None  # the finer step agrees: the claim was the step's, not the rule's
            if isinstance(deep, tuple) and isinstance(claim, tuple) \
                    and abs(deep[0] - claim[0]) <= deep[1] + claim[1]:
                return deep
            # unsettled, or settled elsewhere (the claim's step was not small enough after all,
            # though the loss's rounding hid it): the next attempt
        return None

    def _settle(self, base: np.ndarray, line: _Line, step: int, at: int,
                digits: int) -> tuple[Any, Any, Any, int] | object | None:
        """The quotients along ``line`` with the steps ``2**step``, half and a quarter of it, at
        ``at`` digits: ``None`` when they agree with the gradient's projection, ``_UNSETTLED``
        when they cannot tell (the loss not finite within the step, the quotients too coarse or
        not contracting), else the Richardson estimate, its error bound, the step and ``at``."""
        with mpmath.workdps(at + 10), arb_ops.precision(at):
            exact = at + digits + 20  # the moved points' bits, all of them
            coarse = self._difference(base, line.direction, step, exact)
            fine = self._difference(base, line.direction, step - 1, exact)
            if coarse is None or fine is None:
                return _UNSETTLED  # the loss is not finite (or undecided) within the step
            verdict = _judge(coarse, fine, line)
            if verdict is None or verdict is _UNSETTLED:
                return verdict
            finest = self._difference(base, line.direction, step - 2, exact)
            if finest is None:
                return _UNSETTLED
            # a smooth function's differences shrink four times with the step (h**2), or both
            # are rounding: anything else and the step is not small enough
            first, second = coarse - fine, fine - finest
            noise = _radius(first) + _radius(second)
            middle = arb_ops.to_mpmath(first)
            if abs(middle - 4 * arb_ops.to_mpmath(second)) > abs(middle) / 2 + 5 * noise:
                return _UNSETTLED
            claim = _judge(fine, finest, line)
            if not isinstance(claim, tuple):
                return claim
            return claim[0], claim[1], mpmath.ldexp(1, step - 2), at

    def _difference(self, base: np.ndarray, direction: Direction, step: int,
                    exact: int) -> Any:
        """The central difference quotient of the loss at ``base`` along ``direction`` with the
        step ``2**step``, a ball (``None`` where the loss is not finite on either side); the
        moved points are formed at ``exact`` digits, enough to hold them exactly."""
        h = arb(2) ** step
        with arb_ops.precision(exact):
            up, down = base.copy(), base.copy()
            for j, move in direction.items():
                up[j], down[j] = base[j] + move * h, base[j] - move * h
        above, below = self._at(up), self._at(down)
        if above is None or below is None:
            return None
        return (above - below) / (2 * h)


@dataclass(frozen=True)
class _Line:
    """One check: the gradient's projection on a direction against the loss's quotients."""

    #: ``{component: its move per unit step}``, each an exact ball (a signed power of 2).
    direction: Direction
    #: The gradient's projection on the direction, and its magnitude (the sum of the terms').
    expected: Any
    size: Any
    #: What the reference cannot resolve of the projection.
    tolerance: Any
    #: The loss's magnitude at the point.
    loss: Any
    #: The digits the direction's length scales are shorter than the components' own.
    shortened: int

    def threshold(self, estimate: Any) -> Any:
        """The least disagreement that counts: the tolerance, and ``AGREE`` of the larger of
        the projection's size and ``estimate``."""
        return self.tolerance + AGREE * max(abs(estimate), self.size)


#: A check whose quotients are too coarse (or too noisy) to tell.
_UNSETTLED = object()


def _working(line: _Line, digits: int) -> int:
    """The digits to evaluate the loss at for ``line``: twice ``digits``, plus the digits its
    length scales were shortened by (the loss's arithmetic on the components needs them to see
    the moves), or more where the loss is so much larger than the least disagreement that
    counts that the difference of two loss values at that precision would not resolve it."""
    working = 2 * digits + line.shortened
    if line.loss != 0:
        # the quotient's rounding: |f| 10**-working / 10**-(digits/2), well below the threshold
        need = mpmath.log10(line.loss) - mpmath.log10(line.threshold(0)) + digits / 2 \
            + line.shortened + 5
        working = max(working, int(mpmath.ceil(need)))
    return min(working, 2 * digits + SHORTEST)


def _tolerance(moves: dict[int, Any], g: list[Any], floors: list[Any]) -> Any:
    """What the reference cannot resolve of the gradient's projection on ``moves``: each
    component's certified resolution (``floors``) and float64's rounding of it, weighted by the
    move."""
    return mpmath.fsum((floors[j] + abs(g[j]) * _FLOAT64_ULP + _FLOAT64_TINY) * abs(m)
                       for j, m in moves.items())


def _judge(coarse: Any, fine: Any, line: _Line) -> tuple[Any, Any] | object | None:
    """The Richardson estimate from the quotients at steps ``h`` (``coarse``) and ``h/2``
    (``fine``) against the gradient's projection: ``None`` when within its own error (ten times
    the quotients' difference, and its ball's radius) and that error is below the least
    disagreement that counts; ``_UNSETTLED`` when within an error that is not; else the
    estimate (an mpmath number) and its error bound, threshold included."""
    estimate = fine - (coarse - fine) / 3
    middle = arb_ops.to_mpmath(estimate)
    own = SAFETY * _magnitude(coarse - fine) + _radius(estimate)
    threshold = line.threshold(middle)
    if abs(middle - line.expected) <= own + threshold:
        return None if own <= threshold else _UNSETTLED
    return middle, own + threshold


def _magnitude(ball: Any) -> Any:
    """An upper bound on the absolute value of an Arb ball, as an mpmath number."""
    return abs(arb_ops.to_mpmath(ball)) + _radius(ball)


def _radius(ball: Any) -> Any:
    """An Arb ball's radius, as an mpmath number."""
    return arb_ops.to_mpmath(arb(ball.rad()))


def _lengths(x: np.ndarray, f: Any, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each component's length scale as the exponent of a power of two, and the digits it is
    shorter than the component's own scale: ``|x_i|`` (``1`` at 0), shortened to the e-folding
    length ``|f / g_i|`` (``f`` the loss's magnitude, ``g_i`` the gradient's component) where
    that is shorter, by ``SHORTEST`` digits at most."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scale = np.where(x != 0, np.log2(np.abs(x)), 0.0)
        folding = float(mpmath.log(f, 2)) - np.log2(np.abs(grad)) if f != 0 \
            and mpmath.isfinite(f) else np.full(len(x), np.inf)
        folding = np.where(np.isfinite(folding), folding, np.inf)  # no gradient: no e-folding
    shortest = scale - SHORTEST * _BITS_PER_DIGIT
    exponents = np.floor(np.minimum(scale, np.maximum(folding, shortest)))
    return exponents.astype(np.int64), np.ceil((scale - exponents) / _BITS_PER_DIGIT).astype(
        np.int64)


def _show(value: Any, figures: int = 15) -> str:
    """An mpmath number with ``figures`` significant digits (beyond float64's range too)."""
    return mpmath.nstr(value, figures, min_fixed=-4, max_fixed=16)
