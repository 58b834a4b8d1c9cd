"""A reference that certifies itself: evaluate at increasing precision until every value is
settled by its own ball.

Fifty digits are not enough for every point: ``(1 - cos(w)) / w**2`` at ``w = 1e-26`` cancels to
0 at 50 digits (the true loss is 0.5). :func:`certify` evaluates at ``start`` digits, then at
twice as many, and so on, up to ``ceiling``. With ball arithmetic (Arb, the reference's backend)
each value comes with a rigorous radius, and a value is settled by its own ball alone
(:func:`settle`): proven when its radius is below ``AGREE_DIGITS`` significant digits of it (an
exact ball included), or bounded when the whole ball lies within ``|v| < ZERO_BOUND``, where
every value rounds to 0 in float64 (reported as 0, with the bound). A ball that holds 0 proves
no digit, however small it is beside the other values: ``1 - tanh(w)**2`` at ``w = 200`` is
``[+/- 1e-50]`` at 50 digits, while the truth is 7.66e-174. Undefined needs a proof too: a
ball that is ``nan`` is proven undefined (:mod:`diffcmp.ops.arb` keeps ``nan`` for arguments
proven outside a domain), while one that straddles a domain's edge is undecided and raises the
precision (``log(1 - tanh(60))`` is ``log([+/- 1e-50])`` at 50 digits and -119.3 at 100).
Without radii (mpmath, for SymPy functions diffcmp cannot translate) two consecutive
precisions must agree, and a point is undefined when two consecutive precisions find it so.
Past ``ceiling`` digits, :class:`~diffcmp.errors.UnresolvedError`: no verdict at this point,
naming the value that did not settle and its balls.
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
#: A ball inside ``|v| < ZERO_BOUND`` proves its value rounds to 0 in float64 (half the smallest
#: subnormal, 2**-1074): it settles as 0 with that bound, though it proves no digit.
ZERO_BOUND = mpmath.mpf(2) ** -1075


@dataclass(frozen=True)
class Certified:
    """Values (mpmath numbers at ``digits`` digits) proven by their enclosures, or that agree
    with those at half the digits.

    ``bounds[k]`` is ``None`` where ``values[k]`` is proven to ``AGREE_DIGITS`` significant
    digits (or is exactly 0), else a proven bound ``b``: ``values[k]`` is then 0 and the truth
    is only known to satisfy ``|v| <= b`` (graded as 0 within that bound, and said so)."""

    values: list[Any]
    #: The working precision the values were settled at (decimal digits).
    digits: int
    bounds: list[Any] | None = None
    #: Significant digits every value is proven to (the least, over the values that are neither
    #: exact nor a bound, of its ball's relative radius; at most ``digits``).
    significant: int = AGREE_DIGITS

    def bound(self, k: int) -> Any | None:
        """The bound of value ``k`` (``None``: a proven value)."""
        return None if self.bounds is None else self.bounds[k]


@dataclass(frozen=True)
class _Evaluation:
    """One evaluation's values (midpoints, as mpmath numbers) and, for balls, their radii."""

    values: list[Any]
    #: Each value's radius (``None`` for plain mpmath numbers, which carry no bound).
    radii: list[Any] | None = None


def evaluate_at(function: Callable[[], Sequence[Any]], digits: int,
                derivative: str = "the gradient") -> _Evaluation:
    """``function()`` at ``digits`` digits (mpmath's and Arb's working precision) as real
    numbers with their radii (balls: Arb), or :class:`UndefinedError`. The first value is the
    loss, the others are ``derivative`` (named so in messages).

    For balls, undefined is a proof: a value whose ball is ``nan`` (an argument proven outside
    a function's domain, :mod:`diffcmp.ops.arb`) raises :class:`ProvenUndefinedError`; an
    undecided one (a ball that straddles a domain's edge, or is unbounded) raises
    :class:`UnboundedError`, and more digits may decide it. For plain mpmath numbers a division
    by zero, a domain error, a complex or non-finite value raises :class:`UndefinedError`, which
    is only a proof when it recurs at the next precision. :class:`UndecidedError` when a
    comparison of balls cannot be decided at this precision."""
    with mpmath.workdps(digits), arb_ops.precision(digits):
        try:
            values = list(function())
        except ZeroDivisionError:
            raise UndefinedError("a division by zero in the loss or its gradient") from None
        except (ValueError, TypeError) as exc:  # TypeError: max() of a complex number
            raise UndefinedError(f"outside the domain: {exc}") from None
        note = arb_ops.undecided_note()
    with mpmath.workdps(digits):  # mpf() rounds to the working precision in force
        out, radii = [], []
        for k, value in enumerate(values):
            what = "the loss as written" if k == 0 else derivative
            if isinstance(value, arb):
                if arb_ops.is_undefined(value):
                    raise ProvenUndefinedError(what, value.str(6), index=k, digits=digits)
                if not value.is_finite():
                    raise UnboundedError(
                        f"{what} cannot be decided at {digits} digits: {note}" if note else
                        f"{what} cannot be bounded at {digits} digits (a finite value whose ball "
                        "is unbounded)")
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
    return _Evaluation(out, radii if all(r is not None for r in radii) else None)


class ProvenUndefinedError(UndefinedError):
    """A value proven undefined by its ball (see :func:`evaluate_at`): ``what`` names it
    (the loss or the gradient), ``index`` is which, ``digits`` the precision that proved
    it."""

    def __init__(self, what: str, value: str, index: int = 0, digits: int = 0) -> None:
        self.what, self.index, self.digits = what, index, digits
        super().__init__(f"{what} is undefined ({value})")


def settle(value: Any, radius: Any) -> tuple[bool, Any | None]:
    """Whether a ball (midpoint ``value``, ``radius``) settles its value, and the bound it
    gives: ``(True, None)`` for a value proven to ``AGREE_DIGITS`` significant digits by the
    ball itself (an exact ball included), ``(True, b)`` for a ball inside ``|v| <= b <
    ZERO_BOUND`` (every value it holds rounds to 0 in float64: it is reported as 0 with that
    bound), ``(False, None)`` for any other: the precision must rise. A ball that holds 0 is
    never a proven 0 unless it is exactly 0: its size relative to other values proves
    nothing."""
    if radius == 0:
        return True, None
    if radius <= abs(value) * mpmath.mpf(10) ** -AGREE_DIGITS:
        return True, None
    with mpmath.workdps(30):
        bound = abs(value) + radius
    if bound < ZERO_BOUND:
        return True, bound
    return False, None


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


def certify(function: Callable[[], Sequence[Any]], start: int, ceiling: int,
            names: Sequence[str], derivative: str = "the gradient") -> Certified:
    """Evaluate ``function`` at ``start``, ``2 start``, ... digits until every value is settled
    (see the module docstring); ``names`` name the values in messages, the first the loss,
    the others ``derivative`` (``"the gradient"``, ``"the Hessian"``).

    Balls (Arb) settle each value by themselves (:func:`settle`); plain mpmath numbers settle
    when two consecutive precisions agree (:func:`_disagreement`). Raises
    :class:`UndefinedError` (with the loss, when only the gradient is undefined) when a ball
    proves the point undefined, or two consecutive mpmath evaluations find it undefined, and
    :class:`UnresolvedError` past ``ceiling``, naming the value that did not settle and why.
    """
    digits = start
    before: _Evaluation | Exception | None = None  # the two evaluations before ``current``
    previous: _Evaluation | Exception | None = None
    reason = "no two consecutive precisions agree"
    while digits <= ceiling:
        current = _attempt(function, digits, derivative)
        if isinstance(current, ProvenUndefinedError) or (
                isinstance(current, UndefinedError) and isinstance(previous, UndefinedError)):
            raise current
        if isinstance(current, _Evaluation) and current.radii is not None:
            values, bounds, k = _settled(current)
            if k is None:
                return Certified(values, digits, bounds if any(b is not None for b in bounds)
                                 else None, _significant(current, bounds, digits))
            reason = _unsettled(names, k, previous, current, digits)
        elif isinstance(current, _Evaluation):
            if isinstance(previous, _Evaluation):
                older = before.values if isinstance(before, _Evaluation) else None
                k = _disagreement(previous.values, current.values, digits // 2, older)
                if k is None:
                    return Certified(current.values, digits)
                name = names[k] if k < len(names) else f"value {k}"
                reason = (f"{name} is {mpmath.nstr(previous.values[k], 8)} at {digits // 2} "
                          f"digits and {mpmath.nstr(current.values[k], 8)} at {digits}")
        elif isinstance(current, UndecidedError):
            reason = str(current) if isinstance(current, UnboundedError) else (
                f"a where() or max() condition is on its boundary to within {digits} digits "
                "and cannot be decided")
        else:
            reason = f"the point is undefined at {digits} digits only"
        before, previous, digits = previous, current, 2 * digits
    raise UnresolvedError(f"the reference did not settle within its ceiling of {ceiling} "
                          f"digits: {reason}")


def _settled(evaluation: _Evaluation) -> tuple[list[Any], list[Any | None], int | None]:
    """Every value of a ball evaluation settled (a bound's value reported as 0), each one's
    bound, and the index of the first value that is not settled (``None``: all are)."""
    values, bounds = [], []
    for k, (value, radius) in enumerate(zip(evaluation.values, evaluation.radii or [],
                                            strict=True)):
        done, bound = settle(value, radius)
        if not done:
            return values, bounds, k
        values.append(mpmath.mpf(0) if bound is not None else value)
        bounds.append(bound)
    return values, bounds, None


def _significant(evaluation: _Evaluation, bounds: list[Any | None], digits: int) -> int:
    """The significant digits every ball of ``evaluation`` proves (exact ones and bounds aside),
    at most ``digits``."""
    proven = digits
    with mpmath.workdps(30):
        for value, radius, bound in zip(evaluation.values, evaluation.radii or [], bounds,
                                        strict=True):
            if bound is None and radius != 0:
                proven = min(proven, int(mpmath.floor(mpmath.log10(abs(value) / radius))))
    return proven


def _ball(evaluation: Any, k: int, digits: int) -> str:
    if not isinstance(evaluation, _Evaluation) or evaluation.radii is None:
        return ""
    return (f"{mpmath.nstr(evaluation.values[k], 8)} +/- "
            f"{mpmath.nstr(evaluation.radii[k], 3)} at {digits} digits")


def _unsettled(names: Sequence[str], k: int, previous: Any, current: _Evaluation,
               digits: int) -> str:
    """Why value ``k`` is not settled: its balls at the last two precisions."""
    name = names[k] if k < len(names) else f"value {k}"
    balls = [b for b in (_ball(previous, k, digits // 2), _ball(current, k, digits)) if b]
    return (f"{name} is {' and '.join(balls)}: its ball proves no {AGREE_DIGITS} significant "
            f"digits, nor that it rounds to 0 in float64 (|v| < {mpmath.nstr(ZERO_BOUND, 2)})")


def _attempt(function: Callable[[], Sequence[Any]], digits: int,
             derivative: str) -> _Evaluation | UndefinedError | UndecidedError:
    try:
        return evaluate_at(function, digits, derivative)
    except (UndefinedError, UndecidedError) as exc:
        return exc
