"""The language's operations in mpmath: arbitrary precision, at the working precision in force
(``mpmath.workdps``). Arrays are NumPy object arrays of mpmath numbers
(:mod:`~diffcmp.ops.objects`); reductions sum with ``fsum``, so no rounding accumulates."""

from __future__ import annotations

import operator
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import mpmath

from .objects import ARITHMETIC, elementwise, flat
from .spec import Literal

#: The reference's working precision, in significant decimal digits.
DPS = 50


def const(value: Literal) -> Any:
    """A literal as an mpmath number (a fraction divided out at the working precision)."""
    if value == "pi":
        return +mpmath.pi
    if value == "E":
        return mpmath.e()
    if isinstance(value, Fraction):
        return mpmath.mpf(value.numerator) / value.denominator
    return mpmath.mpf(value)


def _logsumexp(values: Any) -> Any:
    values = flat(values)
    top = max(values)
    return top + mpmath.log(mpmath.fsum(mpmath.exp(v - top) for v in values))


def _heaviside(x: Any, h0: Any) -> Any:
    return mpmath.mpf(1) if x > 0 else mpmath.mpf(0) if x < 0 else h0


def _dirac_delta(x: Any) -> Any:
    return mpmath.mpf(0) if x != 0 else mpmath.nan


#: The language's operations in mpmath (one line each).
OPS: dict[str, Callable[..., Any]] = {
    "const": const,
    **ARITHMETIC,
    "lt": elementwise(operator.lt, 2),
    "le": elementwise(operator.le, 2),
    "gt": elementwise(operator.gt, 2),
    "ge": elementwise(operator.ge, 2),
    "eq": elementwise(operator.eq, 2),
    "ne": elementwise(operator.ne, 2),
    "exp": elementwise(mpmath.exp),
    "log": elementwise(mpmath.log),
    "log1p": elementwise(mpmath.log1p),
    "sqrt": elementwise(mpmath.sqrt),
    "sin": elementwise(mpmath.sin),
    "cos": elementwise(mpmath.cos),
    "tan": elementwise(mpmath.tan),
    "asin": elementwise(mpmath.asin),
    "acos": elementwise(mpmath.acos),
    "atan": elementwise(mpmath.atan),
    "sinh": elementwise(mpmath.sinh),
    "cosh": elementwise(mpmath.cosh),
    "tanh": elementwise(mpmath.tanh),
    "abs": elementwise(abs),
    "sign": elementwise(mpmath.sign),
    "erf": elementwise(mpmath.erf),
    "sigmoid": elementwise(lambda x: 1 / (1 + mpmath.exp(-x))),
    "softplus": elementwise(lambda x: mpmath.log1p(mpmath.exp(x))),
    "relu": elementwise(lambda x: x if x > 0 else mpmath.mpf(0)),
    "maximum": elementwise(max, 2),
    "minimum": elementwise(min, 2),
    "atan2": elementwise(mpmath.atan2, 2),
    "where": elementwise(lambda c, a, b: a if c else b, 3),
    "sum": lambda a: mpmath.fsum(flat(a)),
    "mean": lambda a: mpmath.fsum(flat(a)) / len(flat(a)),
    "prod": lambda a: mpmath.fprod(flat(a)),
    "norm": lambda a: mpmath.sqrt(mpmath.fsum(x * x for x in flat(a))),
    "logsumexp": _logsumexp,
    "amax": lambda a: max(flat(a)),
    "amin": lambda a: min(flat(a)),
    "dot": lambda a, b: mpmath.fdot(flat(a), flat(b)),
    "loggamma": elementwise(mpmath.loggamma),
    "heaviside": elementwise(_heaviside, 2),
    "dirac_delta": elementwise(_dirac_delta),
    "polygamma": elementwise(mpmath.polygamma, 2),
}
