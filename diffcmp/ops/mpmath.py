"""The language's operations in mpmath: arbitrary precision, at the working precision in force
(``mpmath.workdps``), real-valued. Arrays are NumPy object arrays of mpmath numbers
(:mod:`~diffcmp.ops.objects`); reductions sum with ``fsum``, so no rounding accumulates.

Like float64, these ops never raise: outside its real domain an op gives ``nan`` (``log(-1)``,
``sqrt(-1)``, ``0/0``) or an infinity (``1/0``, ``log(0)``), so that ``where`` can discard a
branch it does not select, as every framework's ``where`` does, and the loss is undefined exactly
where the value it selects is."""

from __future__ import annotations

import operator
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from .linalg_exact import MPMATH_OPS as LINALG
from .objects import (
    ARITHMETIC,
    elementwise,
    flat,
    gathering,
    map_along,
    reduce_along,
    scans,
    scatter,
    structure,
)
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


_NAN = mpmath.mpf("nan")


def _real(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with a real result or ``nan``, and IEEE's infinities for a pole."""
    def real(*args: Any) -> Any:
        if _complex_input(args) or any(isinstance(a, mpmath.mpf) and mpmath.isnan(a)
                                       for a in args):
            return _NAN  # not computed: of a complex argument (a negative base's power,
            # say), erf and kin can take minutes, and the result would be nan anyway
        try:
            value = function(*args)
        except ZeroDivisionError:
            return _pole(*args)
        except (ValueError, TypeError):
            return _NAN
        if isinstance(value, mpmath.mpc):
            return value.real if value.imag == 0 else _NAN
        return value
    return real


def _complex_input(args: tuple[Any, ...]) -> bool:
    return any(isinstance(a, mpmath.mpc) for a in args)


def _pole(*args: Any) -> Any:
    """``a / 0`` as IEEE gives it: an infinity with ``a``'s sign, ``nan`` for ``0 / 0``."""
    a = args[0] if len(args) > 1 else mpmath.mpf(1)
    return _NAN if a == 0 else mpmath.inf * mpmath.sign(a)


#: Past this argument, ``exp`` is infinite here: its value would need more digits than memory
#: holds (exp(2**60) has 5e17 binary digits before the point).
EXP_LIMIT = mpmath.mpf(2) ** 60


def _exp(x: Any) -> Any:
    return mpmath.exp(x) if x <= EXP_LIMIT else mpmath.inf


def _sinh(x: Any) -> Any:
    return mpmath.sinh(x) if abs(x) <= EXP_LIMIT else mpmath.inf * mpmath.sign(x)


def _cosh(x: Any) -> Any:
    return mpmath.cosh(x) if abs(x) <= EXP_LIMIT else mpmath.inf


def _expm1(x: Any) -> Any:
    return mpmath.expm1(x) if x <= EXP_LIMIT else mpmath.inf


def _cbrt(x: Any) -> Any:
    """The real cube root (mpmath's ``cbrt`` of a negative number is the principal, complex)."""
    return -mpmath.cbrt(-x) if x < 0 else mpmath.cbrt(x)


def _gammaln(x: Any) -> Any:
    """``log|gamma(x)|``: the real part of ``loggamma``; ``inf`` at a pole, as SciPy gives."""
    if x <= 0 and mpmath.isint(x):
        return mpmath.inf
    return mpmath.re(mpmath.loggamma(x))


def _mod(a: Any, b: Any) -> Any:
    """NumPy's ``mod``: the sign of the divisor, ``nan`` for a divisor 0."""
    return _NAN if b == 0 else a - b * mpmath.floor(a / b)


def _inside_one(function: Callable[[Any], Any], x: Any) -> Any:
    """``atanh`` or ``erfinv``: an infinity at -1 and 1, ``nan`` beyond."""
    return function(x) if abs(x) < 1 else mpmath.inf * mpmath.sign(x) if abs(x) == 1 else _NAN


def _sqrt(x: Any) -> Any:
    return mpmath.sqrt(x) if x >= 0 else _NAN


def _log(x: Any) -> Any:
    return mpmath.log(x) if x > 0 else -mpmath.inf if x == 0 else _NAN


def _log1p(x: Any) -> Any:
    return mpmath.log1p(x) if x > -1 else -mpmath.inf if x == -1 else _NAN


def _pow(a: Any, b: Any) -> Any:
    if a < 0 and not mpmath.isint(b):
        return _NAN
    if a == 0 and b < 0:
        return mpmath.inf
    return a ** b


def _logsumexp(values: list[Any]) -> Any:
    top = max(values)
    return top + mpmath.log(mpmath.fsum(mpmath.exp(v - top) for v in values))


def _norm(values: list[Any]) -> Any:
    return mpmath.sqrt(mpmath.fsum(x * x for x in values))


def _softmax(values: list[Any]) -> list[Any]:
    """``exp(v_i - max) / sum(exp(v - max))``: shifted by the maximum, like every framework."""
    top = max(values)
    shifted = [mpmath.exp(v - top) for v in values]
    total = mpmath.fsum(shifted)
    return [s / total for s in shifted]


def _log_softmax(values: list[Any]) -> list[Any]:
    top = max(values)
    total = top + mpmath.log(mpmath.fsum(mpmath.exp(v - top) for v in values))
    return [v - total for v in values]


def _extreme(pick: Callable[..., Any]) -> Callable[[list[Any]], Any]:
    """``max``/``min`` of a list, ``nan`` if any element is (Python's would depend on order)."""
    return lambda values: _real(pick)(*values) if len(values) > 1 else values[0]


def _heaviside(x: Any, h0: Any) -> Any:
    return mpmath.mpf(1) if x > 0 else mpmath.mpf(0) if x < 0 else h0


def _dirac_delta(x: Any) -> Any:
    return mpmath.mpf(0) if x != 0 else mpmath.nan


_MPF = np.frompyfunc(mpmath.mpf, 1, 1)


def array(value: Any) -> Any:
    """A float64 value or array as mpmath numbers, exactly (every double is an mpmath number): an
    object array, or a scalar for shape ()."""
    value = np.asarray(value, dtype=np.float64)
    return mpmath.mpf(float(value)) if value.shape == () else _MPF(value)


#: The language's operations in mpmath (one line each).
OPS: dict[str, Callable[..., Any]] = {
    "const": const,
    **ARITHMETIC,
    "div": elementwise(_real(operator.truediv), 2),
    "pow": elementwise(_real(_pow), 2),
    "lt": elementwise(operator.lt, 2),
    "le": elementwise(operator.le, 2),
    "gt": elementwise(operator.gt, 2),
    "ge": elementwise(operator.ge, 2),
    "eq": elementwise(operator.eq, 2),
    "ne": elementwise(operator.ne, 2),
    "exp": elementwise(_real(_exp)),
    "log": elementwise(_real(_log)),
    "log1p": elementwise(_real(_log1p)),
    "sqrt": elementwise(_real(_sqrt)),
    "sin": elementwise(_real(mpmath.sin)),
    "cos": elementwise(_real(mpmath.cos)),
    "tan": elementwise(_real(mpmath.tan)),
    "asin": elementwise(_real(lambda x: mpmath.asin(x) if abs(x) <= 1 else _NAN)),
    "acos": elementwise(_real(lambda x: mpmath.acos(x) if abs(x) <= 1 else _NAN)),
    "atan": elementwise(_real(mpmath.atan)),
    "sinh": elementwise(_real(_sinh)),
    "cosh": elementwise(_real(_cosh)),
    "tanh": elementwise(_real(mpmath.tanh)),
    "asinh": elementwise(_real(mpmath.asinh)),
    "acosh": elementwise(_real(lambda x: mpmath.acosh(x) if x >= 1 else _NAN)),
    "atanh": elementwise(_real(lambda x: _inside_one(mpmath.atanh, x))),
    "expm1": elementwise(_real(_expm1)),
    "log2": elementwise(_real(lambda x: _log(x) / mpmath.log(2))),
    "log10": elementwise(_real(lambda x: _log(x) / mpmath.log(10))),
    "square": elementwise(lambda x: x * x),
    "cbrt": elementwise(_real(_cbrt)),
    "reciprocal": elementwise(_real(lambda x: 1 / x)),
    "sinc": elementwise(_real(mpmath.sincpi)),
    "erfc": elementwise(_real(mpmath.erfc)),
    "erfinv": elementwise(_real(lambda x: _inside_one(mpmath.erfinv, x))),
    "gammaln": elementwise(_real(_gammaln)),
    "digamma": elementwise(_real(mpmath.digamma)),
    "floor": elementwise(_real(mpmath.floor)),
    "ceil": elementwise(_real(mpmath.ceil)),
    "abs": elementwise(abs),
    "sign": elementwise(mpmath.sign),
    "erf": elementwise(_real(mpmath.erf)),
    "sigmoid": elementwise(lambda x: 1 / (1 + mpmath.exp(-x))),
    "softplus": elementwise(lambda x: mpmath.log1p(mpmath.exp(x))),
    "relu": elementwise(lambda x: x if x > 0 else mpmath.mpf(0)),
    "maximum": elementwise(_real(max), 2),
    "minimum": elementwise(_real(min), 2),
    "atan2": elementwise(mpmath.atan2, 2),
    "hypot": elementwise(_real(mpmath.hypot), 2),
    "logaddexp": elementwise(lambda a, b: _logsumexp([a, b]), 2),
    "mod": elementwise(_real(_mod), 2),
    "clip": elementwise(_real(lambda a, lo, hi: min(max(a, lo), hi)), 3),
    "where": elementwise(lambda c, a, b: a if c else b, 3),
    "sum": lambda a, axis: reduce_along(mpmath.fsum, a, axis),
    "mean": lambda a, axis: reduce_along(lambda v: mpmath.fsum(v) / len(v), a, axis),
    "prod": lambda a, axis: reduce_along(mpmath.fprod, a, axis),
    "norm": lambda a, axis: reduce_along(_norm, a, axis),
    "logsumexp": lambda a, axis: reduce_along(_logsumexp, a, axis),
    "amax": lambda a, axis: reduce_along(_extreme(max), a, axis),
    "amin": lambda a, axis: reduce_along(_extreme(min), a, axis),
    "dot": lambda a, b: mpmath.fdot(flat(a), flat(b)),
    # structure (issue 19)
    **structure(mpmath.mpf(0), mpmath.fsum),
    "softmax": lambda a, axis: map_along(_softmax, a, axis),
    "log_softmax": lambda a, axis: map_along(_log_softmax, a, axis),
    "loggamma": elementwise(_real(lambda x: mpmath.loggamma(x) if x > 0 else _NAN)),
    "heaviside": elementwise(_heaviside, 2),
    "dirac_delta": elementwise(_dirac_delta),
    "polygamma": elementwise(mpmath.polygamma, 2),
    "scatter": lambda g, shape, key: scatter(g, shape, key, mpmath.mpf(0)),
    # reductions and scans (issue 19)
    **scans(lambda a, b: (a > b) - (a < b)),
    # integer indexing and einsum (issue 19)
    **gathering(mpmath.mpf(0), mpmath.fsum),
    # linear algebra (issue 19)
    **LINALG,
}
