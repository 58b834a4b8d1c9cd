"""A reference that certifies itself: evaluate at increasing precision until two evaluations agree.

Fifty digits are not enough for every point: ``(1 - cos(w)) / w**2`` at ``w = 1e-26`` cancels to
0 at 50 digits (the true loss is 0.5). :func:`certify` evaluates at ``start`` digits, then at
twice as many, and so on, until the loss and every gradient component agree between two
consecutive precisions to ``AGREE_DIGITS`` significant digits (or, for a value that is zero up to
rounding, to within the rounding of the larger precision's scale). A point is undefined only when
two consecutive precisions both find it undefined (``log(1 - tanh(60))`` is a ``log(0)`` at 50
digits and -119.3 at 100). Past ``ceiling`` digits without agreement,
:class:`~diffcmp.errors.UnresolvedError`: no verdict at this point, and the reason why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import mpmath

from ..errors import UndefinedError, UnresolvedError

#: Significant digits two consecutive evaluations must share (float64 needs 15.95).
AGREE_DIGITS = 17
#: Default highest precision, in decimal digits (a case may set ``[reference] max_digits``).
MAX_DIGITS = 800


@dataclass(frozen=True)
class Certified:
    """Values (mpmath numbers at ``digits`` digits) that agree with those at half the digits."""

    values: list[Any]
    digits: int


def evaluate_at(function: Callable[[], Sequence[Any]], digits: int) -> list[Any]:
    """``function()`` at ``digits`` digits as real mpmath numbers, or :class:`UndefinedError`
    (a division by zero, a domain error, a complex or non-finite value)."""
    with mpmath.workdps(digits):
        try:
            values = list(function())
        except ZeroDivisionError:
            raise UndefinedError("a division by zero in the loss or its gradient") from None
        except (ValueError, TypeError) as exc:  # TypeError: max() of a complex number
            raise UndefinedError(f"outside the domain: {exc}") from None
        out = []
        for k, value in enumerate(values):
            what = "the loss as written" if k == 0 else "the gradient"
            if isinstance(value, mpmath.mpc):
                if value.imag != 0:
                    raise UndefinedError(f"{what} is complex ({mpmath.nstr(value, 6)})")
                value = value.real
            value = mpmath.mpf(value)
            if not mpmath.isfinite(value):
                raise UndefinedError(f"{what} is {mpmath.nstr(value, 6)}")
            out.append(value)
        return out


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
            if gap <= abs(b) * mpmath.mpf(10) ** -AGREE_DIGITS or gap <= floor:
                continue
            if older is not None and abs(b) <= abs(a) * mpmath.mpf(10) ** -(digits // 2) and \
                    abs(a) <= abs(older[k]) * mpmath.mpf(10) ** -(digits // 4):
                continue  # shrinking to zero, precision after precision
            return k
    return None


def certify(function: Callable[[], Sequence[Any]], start: int, ceiling: int,
            names: Sequence[str]) -> Certified:
    """Evaluate ``function`` at ``start``, ``2 start``, ... digits until two consecutive
    precisions agree (see the module docstring and :func:`_disagreement`); ``names`` name the
    values in messages.

    Raises :class:`UndefinedError` (with the loss, when only the gradient is undefined) when two
    consecutive precisions find the point undefined, :class:`UnresolvedError` past ``ceiling``.
    """
    digits = start
    previous: list[Any] | UndefinedError
    older: list[Any] | None = None
    try:
        previous = evaluate_at(function, digits)
    except UndefinedError as exc:
        previous = exc
    reason = "no two consecutive precisions agree"
    while 2 * digits <= ceiling:
        try:
            current: list[Any] | UndefinedError = evaluate_at(function, 2 * digits)
        except UndefinedError as exc:
            current = exc
        if isinstance(previous, UndefinedError) and isinstance(current, UndefinedError):
            raise current
        if not isinstance(previous, UndefinedError) and not isinstance(current, UndefinedError):
            k = _disagreement(previous, current, digits, older)
            if k is None:
                return Certified(current, 2 * digits)
            name = names[k] if k < len(names) else f"value {k}"
            reason = (f"{name} is {mpmath.nstr(previous[k], 8)} at {digits} digits and "
                      f"{mpmath.nstr(current[k], 8)} at {2 * digits}")
        else:
            reason = f"the point is undefined at one of {digits} and {2 * digits} digits only"
        older = previous if not isinstance(previous, UndefinedError) else None
        previous, digits = current, 2 * digits
    raise UnresolvedError(f"the reference did not settle within its ceiling of {ceiling} "
                          f"digits: {reason}")
