"""A reference that certifies itself: evaluate at increasing precision until two evaluations agree.

Fifty digits are not enough for every point: ``(1 - cos(w)) / w**2`` at ``w = 1e-26`` cancels to
0 at 50 digits (the true loss is 0.5). :func:`certify` evaluates at ``start`` digits, then at
twice as many, and so on. With ball arithmetic (Arb, the reference's backend) each value comes
with a rigorous radius, and a value is certified when its radius is below ``AGREE_DIGITS``
significant digits (or, for a value that is zero up to rounding, below the rounding of the
largest value): one evaluation often proves everything. Without radii (mpmath), two consecutive
precisions must agree to that many digits. A point is undefined only when
two consecutive precisions both find it undefined (``log(1 - tanh(60))`` is a ``log(0)`` at 50
digits and -119.3 at 100). Past ``ceiling`` digits without agreement,
:class:`~diffcmp.errors.UnresolvedError`: no verdict at this point, and the reason why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import mpmath
from flint import arb

from ..errors import UnboundedError, UndecidedError, UndefinedError, UnresolvedError
from ..ops import arb as arb_ops

#: Significant digits two consecutive evaluations must share (float64 needs 15.95).
AGREE_DIGITS = 17
#: Default highest precision, in decimal digits (a case may set ``[reference] max_digits``).
MAX_DIGITS = 800


@dataclass(frozen=True)
class Certified:
    """Values (mpmath numbers at ``digits`` digits) proven by their enclosures, or that agree
    with those at half the digits.

    ``bounds[k]`` is ``None`` where ``values[k]`` is proven to ``AGREE_DIGITS`` significant
    digits (or is exactly 0), else a proven bound ``b``: ``values[k]`` is then 0 and the truth
    is only known to satisfy ``|v| <= b`` (graded as 0 within that bound, and said so)."""

    values: list[Any]
    digits: int
    bounds: list[Any] | None = None

    def bound(self, k: int) -> Any | None:
        """The bound of value ``k`` (``None``: a proven value)."""
        return None if self.bounds is None else self.bounds[k]


@dataclass(frozen=True)
class _Evaluation:
    """One evaluation's values (midpoints, as mpmath numbers) and whether every ball proves
    its value to the digits needed (``False`` for plain mpmath numbers, which carry no bound)."""

    values: list[Any]
    proven: bool
    #: Each value's radius (``None`` for a plain mpmath number).
    radii: list[Any] | None = None


def evaluate_at(function: Callable[[], Sequence[Any]], digits: int) -> _Evaluation:
    """``function()`` at ``digits`` digits (mpmath's and Arb's working precision) as real
    numbers, or :class:`UndefinedError` (a division by zero, a domain error, a complex or
    non-finite value). Balls (Arb) come back as their exact midpoints, and as proven when every
    radius is below ``AGREE_DIGITS`` significant digits of its value or ``10**-(digits - 10)``
    of the largest value. :class:`UndecidedError` when a comparison of balls cannot be
    decided at this precision."""
    with mpmath.workdps(digits), arb_ops.precision(digits):
        try:
            values = list(function())
        except ZeroDivisionError:
            raise UndefinedError("a division by zero in the loss or its gradient") from None
        except (ValueError, TypeError) as exc:  # TypeError: max() of a complex number
            raise UndefinedError(f"outside the domain: {exc}") from None
        out, radii = [], []
        for k, value in enumerate(values):
            what = "the loss as written" if k == 0 else "the gradient"
            if isinstance(value, arb):
                if not value.is_finite() and value.mid().is_finite():
                    raise UnboundedError(f"{what} cannot be bounded at {digits} digits (a "
                                         "finite value whose ball is unbounded)")
                if not value.is_finite():
                    raise UndefinedError(f"{what} is not finite ({value.str(6)})")
                radii.append(arb_ops.to_mpmath(value.rad()))
                value = arb_ops.to_mpmath(value)
            else:
                radii.append(None)
            if isinstance(value, mpmath.mpc):
                if value.imag != 0:
                    raise UndefinedError(f"{what} is complex ({mpmath.nstr(value, 6)})")
                value = value.real
            value = mpmath.mpf(value)
            if not mpmath.isfinite(value):
                raise UndefinedError(f"{what} is {mpmath.nstr(value, 6)}")
            out.append(value)
        scale = max((abs(v) for v in out), default=mpmath.mpf(0))
        floor = scale * mpmath.mpf(10) ** -(digits - 10)
        proven = all(r is not None and _within(r, v, floor) for v, r in zip(out, radii,
                                                                         strict=True))
        return _Evaluation(out, proven, radii)


def _within(error: Any, value: Any, floor: Any = 0) -> bool:
    """Whether ``error`` is below ``AGREE_DIGITS`` significant digits of ``value``, or below
    ``floor`` (a fraction of the largest value)."""
    return bool(error <= abs(value) * mpmath.mpf(10) ** -AGREE_DIGITS or error <= floor)


def _disagreement(low: list[Any], high: list[Any], digits: int,
                  older: list[Any] | None = None) -> int | None:
    """The index of the first value on which ``low`` (at ``digits``) and ``high`` (at twice as
    many) differ, or ``None`` when they agree.

    A value agrees when the two are within ``AGREE_DIGITS`` significant digits, or within
    ``10**-(digits - 10)`` of the largest value. A value that is zero but computed from larger
    terms (Ackley's ``-20 - e + 20 + e`` at its minimum) is rounding noise at every precision,
    ``1e-49`` at 50 digits and ``1e-99`` at 100: it is zero when, over three precisions
    (``older``, ``low``, ``high``), it shrank twice by at least half the digits added each time.
    One shrink is not enough: a cancellation being resolved also shrinks once.
    """
    with mpmath.workdps(2 * digits):
        scale = max((abs(v) for v in high), default=mpmath.mpf(0))
        floor = scale * mpmath.mpf(10) ** -(digits - 10)
        for k, (a, b) in enumerate(zip(low, high, strict=True)):
            gap = abs(a - b)
            if _within(gap, b, floor):
                continue
            if older is not None and abs(b) <= abs(a) * mpmath.mpf(10) ** -(digits // 2) and \
                    abs(a) <= abs(older[k]) * mpmath.mpf(10) ** -(digits // 4):
                continue  # shrinking to zero, precision after precision
            return k
    return None


def _zero_balls(evaluations: Sequence[_Evaluation], digits: int) -> list[Any] | None:
    """The values of the last of three evaluations (at ``digits // 2``, ``digits`` and twice as
    many), each proven by its ball or a zero: a ball that held 0 at all three precisions and
    shrank by at least half the digits added each time (rounding noise around an exact 0, such
    as the gradient of ``logsumexp(log_softmax(v))``, whose midpoints hop between 0 and
    ``3e-403``); ``None`` unless every value is one or the other. Two precisions are not
    enough: a cancellation being resolved (``(1 - cos(w)) / w**2`` at ``1e-26``) also holds 0
    at 50 and 100 digits, in balls that shrink."""
    if any(e.radii is None for e in evaluations):
        return None
    high = evaluations[-1]
    with mpmath.workdps(2 * digits):
        scale = max((abs(v) for v in high.values), default=mpmath.mpf(0))
        floor = scale * mpmath.mpf(10) ** -(2 * digits - 10)
        out = []
        for k, (value, radius) in enumerate(zip(high.values, high.radii, strict=True)):
            if radius is None:
                return None
            if _within(radius, value, floor):
                out.append(value)
                continue
            balls = [(e.values[k], e.radii[k]) for e in evaluations]
            if any(r is None or abs(v) > r for v, r in balls):
                return None
            shrinks = (balls[1][1] <= balls[0][1] * mpmath.mpf(10) ** -(digits // 4)
                       and radius <= balls[1][1] * mpmath.mpf(10) ** -(digits // 2))
            if not shrinks:
                return None
            out.append(mpmath.mpf(0))
    return out


def _wide(high: _Evaluation, digits: int) -> int | None:
    """The index of the first value whose ball is wider than ``AGREE_DIGITS`` of its value and
    than ``10**-(digits // 2)`` of the largest value (or of 1), or ``None``. Midpoints that agree
    inside balls that wide prove nothing: ``exp`` of a ball whose radius is in the hundreds is
    ``[0 +/- 1e(1e168)]`` at 400 digits, and ``0`` at 200 digits too."""
    if high.radii is None:
        return None
    with mpmath.workdps(2 * digits):
        scale = max([mpmath.mpf(1), *(abs(v) for v in high.values)])
        for k, (value, radius) in enumerate(zip(high.values, high.radii, strict=True)):
            if radius is None or _within(radius, value):
                continue
            if radius > scale * mpmath.mpf(10) ** -(digits // 2):
                return k
    return None


def certify(function: Callable[[], Sequence[Any]], start: int, ceiling: int,
            names: Sequence[str]) -> Certified:
    """Evaluate ``function`` at ``start``, ``2 start``, ... digits until its balls prove every
    value or two consecutive precisions agree (see the module docstring and
    :func:`_disagreement`); ``names`` name the values in messages.

    Raises :class:`UndefinedError` (with the loss, when only the gradient is undefined) when two
    consecutive precisions find the point undefined, :class:`UnresolvedError` past ``ceiling``.
    """
    digits = start
    previous = _attempt(function, digits)
    if isinstance(previous, _Evaluation) and previous.proven:
        return Certified(previous.values, digits)
    before: _Evaluation | Exception | None = None  # the evaluation before ``previous``
    reason = "no two consecutive precisions agree"
    while 2 * digits <= ceiling:
        current = _attempt(function, 2 * digits)
        if isinstance(previous, UndefinedError) and isinstance(current, UndefinedError):
            raise current
        if isinstance(current, _Evaluation) and current.proven:
            return Certified(current.values, 2 * digits)
        if isinstance(previous, _Evaluation) and isinstance(current, _Evaluation):
            zeros = _zero_balls([before, previous, current], digits) \
                if isinstance(before, _Evaluation) else None
            if zeros is not None:
                return Certified(zeros, 2 * digits)
            older = before.values if isinstance(before, _Evaluation) else None
            k = _disagreement(previous.values, current.values, digits, older)
            wide = _wide(current, digits) if k is None else None
            if k is None and wide is None:
                return Certified(current.values, 2 * digits)
            k = wide if k is None else k
            name = names[k] if k < len(names) else f"value {k}"
            reason = (f"{name} is {mpmath.nstr(previous.values[k], 8)} at {digits} digits and "
                      f"{mpmath.nstr(current.values[k], 8)} at {2 * digits}")
            if wide is not None:
                reason += f", inside a ball of radius {mpmath.nstr(current.radii[k], 3)}"
        elif isinstance(current, UndecidedError) or isinstance(previous, UndecidedError):
            undecided = current if isinstance(current, UndecidedError) else previous
            reason = str(undecided) if isinstance(undecided, UnboundedError) else (
                f"a where() or max() condition is on its boundary to within {2 * digits} digits "
                "and cannot be decided")
        else:
            reason = f"the point is undefined at one of {digits} and {2 * digits} digits only"
        before, previous, digits = previous, current, 2 * digits
    raise UnresolvedError(f"the reference did not settle within its ceiling of {ceiling} "
                          f"digits: {reason}")


def _attempt(function: Callable[[], Sequence[Any]],
             digits: int) -> _Evaluation | UndefinedError | UndecidedError:
    try:
        return evaluate_at(function, digits)
    except (UndefinedError, UndecidedError) as exc:
        return exc
