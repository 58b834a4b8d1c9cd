"""The reference's certified values as exact decimal text, beside the float64 numbers it is graded
with.

The reference certifies its values in ball arithmetic at 50 digits or more; the tables hold them
in float64, which cannot hold every one: ``exp(747)`` is 2.6180502724744969e+324, an ``inf`` in
float64, and ``sech(1000)**2`` is 1.03e-868, a 0. A value the reference can only bound (its ball
contains 0 and nothing proves it is exactly 0) is reported as 0 with a proven bound ``|v| <= b``.
:class:`Exact` keeps each value's decimal text (:data:`DIGITS` significant digits) and each bound,
so that ``results.json``, the CSVs and the report show them as they are: a value float64 cannot
hold is flagged :data:`BEYOND`, a bound :data:`BOUND` (graded as 0 within it,
:func:`~diffcmp.grading.grade.grade`).
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

#: Significant digits of a value's decimal text (float64 round-trips through 17).
DIGITS = 17
#: Significant digits of a bound's text, rounded up so that it stays a bound.
BOUND_DIGITS = 3
#: Binary exponents beyond which a bound's text is not worked out exactly (``5**n`` digits).
EXACT_EXPONENT = 10_000
#: The flag of a value float64 cannot hold: it overflows to ``inf`` or underflows to 0.
BEYOND = "beyond float64"
#: The flag of a value known only as a proven bound: reported, and graded, as 0 within it.
BOUND = "bound"


def _mpf(value: Any) -> Any:
    """``value`` as an mpmath number, never rounded to mpmath's working precision (an mpmath
    number is kept as it is, at the precision it was computed at)."""
    if isinstance(value, mpmath.mpf):
        return value
    with mpmath.workprec(max(64, int(value).bit_length() + 1) if isinstance(value, int)
                         else 64):
        return mpmath.mpf(value)


def decimal_text(value: Any) -> str:
    """``value`` (an mpmath or Python number) as decimal text to :data:`DIGITS` significant
    digits, whatever its size: ``2.6180502724744969e+324``."""
    return mpmath.nstr(_mpf(value), DIGITS)


def bound_text(bound: Any) -> str:
    """A bound ``b >= 0`` as decimal text of :data:`BOUND_DIGITS` significant digits rounded up
    (the text is still a bound): ``2.5e-324``."""
    if not bound:
        return "0"
    if abs(mpmath.mpf(bound).man_exp[1]) > EXACT_EXPONENT:  # exactly would take too long:
        with mpmath.workprec(64):  # 1% up, then to nearest at 3 digits, is still a bound
            return mpmath.nstr(abs(mpmath.mpf(bound)) * mpmath.mpf("1.01"), BOUND_DIGITS,
                               strip_zeros=True, min_fixed=1, max_fixed=0)
    exact = _decimal(bound)
    context = decimal.Context(prec=BOUND_DIGITS, rounding=decimal.ROUND_CEILING,
                              Emin=-decimal.MAX_EMAX, Emax=decimal.MAX_EMAX)
    return f"{context.plus(abs(exact)).normalize(context):e}"


def _decimal(value: Any) -> decimal.Decimal:
    """An mpmath number as an exact :class:`decimal.Decimal` (a binary fraction is a finite
    decimal one)."""
    mantissa, exponent = _mpf(value).man_exp
    if exponent >= 0:
        return decimal.Decimal(mantissa * 2 ** exponent)
    return decimal.Decimal(f"{mantissa * 5 ** -exponent}E{exponent}")


def float_below(text: str) -> float:
    """The largest float64 at most the decimal number ``text`` (``inf`` above float64's range):
    a float64 ``a`` satisfies ``|a| <= b`` exactly when ``|a| <= float_below(b)``."""
    with mpmath.workprec(64):
        size = abs(mpmath.mpf(text))
        if size and not mpmath.mpf("1e-400") < size < mpmath.mpf("1e400"):
            return 0.0 if size < 1 else float("inf")  # far outside float64 (and Fraction())
    exact = Fraction(text)
    try:
        nearest = float(exact)
    except OverflowError:
        return float("inf")
    if Fraction(nearest) > exact:
        nearest = float(np.nextafter(nearest, -np.inf))
    return nearest


def flag_of(value: str, bound: str = "") -> str:
    """The flag of a value's decimal text: :data:`BOUND` when it has a bound, :data:`BEYOND`
    when float64 cannot hold it (``inf``, or a nonzero value that is 0 in float64), else ``""``."""
    if bound:
        return BOUND
    number = float(value)
    if not np.isfinite(number) or (number == 0 and _mpf(value) != 0):
        return BEYOND
    return ""


def describe(value: str, flag: str, bound: str = "") -> str:
    """A flagged value for a reader: ``2.6180502724744969e+324 (beyond float64)``, or
    ``|v| <= 2.5e-324, graded as 0``; the plain text of a value that is not flagged."""
    if flag == BOUND:
        return f"|v| <= {bound}, graded as 0"
    if flag:
        return f"{value} ({flag})"
    return value


@dataclass(frozen=True)
class Exact:
    """The reference's values at one point as decimal text: the loss first, then every gradient
    component in order (:attr:`values`), and each one's bound (:attr:`bounds`: ``""`` for a
    proven value, else the decimal text of ``b``, meaning the value is reported as 0 and the
    truth only known to satisfy ``|v| <= b``)."""

    values: tuple[str, ...]
    bounds: tuple[str, ...]
    #: Each value's flag (:func:`flag_of`), worked out once.
    flags: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if len(self.bounds) != len(self.values):
            raise ValueError(f"{len(self.values)} values but {len(self.bounds)} bounds")
        object.__setattr__(self, "flags", tuple(
            flag_of(v, b) for v, b in zip(self.values, self.bounds, strict=True)))

    @classmethod
    def of(cls, values: Sequence[Any], bounds: Sequence[Any] | None = None) -> Exact:
        """From certified values (mpmath numbers) and their bounds (``None``, or per value
        ``None`` for a proven one and an mpmath number ``b`` for a bound), as
        :class:`~diffcmp.engines.certify.Certified` holds them."""
        texts = tuple(decimal_text(v) for v in values)
        if bounds is None:
            return cls(texts, ("",) * len(texts))
        return cls(texts, tuple("" if b is None else bound_text(b) for b in bounds))

    def flag(self, k: int) -> str:
        """The flag of value ``k`` (:func:`flag_of`)."""
        return self.flags[k]

    def describe(self, k: int) -> str:
        """Value ``k`` for a reader (:func:`describe`)."""
        return describe(self.values[k], self.flag(k), self.bounds[k])

    def bound_floats(self) -> np.ndarray:
        """Every value's bound as the largest float64 below it, ``nan`` where there is none
        (``abs(a) <= bound`` is then false)."""
        return np.array([float_below(b) if b else np.nan for b in self.bounds],
                        dtype=np.float64)

    @property
    def flagged(self) -> bool:
        """Whether any value is beyond float64 or a bound."""
        return any(self.flags)


__all__ = ["BEYOND", "BOUND", "BOUND_DIGITS", "DIGITS", "Exact", "bound_text", "decimal_text",
           "describe", "flag_of", "float_below"]
