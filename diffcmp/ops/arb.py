"""The language's operations in ball arithmetic (python-flint's ``arb``, the Arb library): every
value is a midpoint and a radius that rigorously encloses the exact real result, at the working
precision in force (``flint.ctx.prec``, set by :func:`precision`).

This is the reference's backend: each operation is C code, tens of times faster than mpmath at
50 to 400 digits, and the radius says how many of the digits are right, so a value is certified
by its own enclosure (:mod:`diffcmp.engines.certify`). Arrays are NumPy object arrays of ``arb``
(:mod:`~diffcmp.ops.objects`). Like float64, nothing raises outside a function's domain: Arb
gives ``nan`` (``log(-1)``, ``sqrt(-1)``, ``1/0``), so that ``where`` can discard a branch it does
not select. A comparison whose balls overlap cannot be decided at this precision: it raises
:class:`~diffcmp.errors.UndecidedError`, and the reference raises its precision (a comparison with
``nan`` is false, as in IEEE arithmetic: what it guards is not finite anyway).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
from flint import arb, ctx, fmpz

from ..errors import UndecidedError
from .objects import ARITHMETIC, elementwise, flat, map_along, reduce_along, scatter
from .spec import Literal

#: Bits per decimal digit.
_BITS_PER_DIGIT = 3.3219280948873623


@contextmanager
def precision(digits: int) -> Iterator[None]:
    """Arb's working precision set to ``digits`` decimal digits (restored after)."""
    before = ctx.prec
    ctx.prec = int(digits * _BITS_PER_DIGIT) + 8
    try:
        yield
    finally:
        ctx.prec = before


def const(value: Literal) -> arb:
    """A literal as a ball (a fraction divided out at the working precision)."""
    if value == "pi":
        return arb.pi()
    if value == "E":
        return arb.const_e()
    if isinstance(value, Fraction):
        return arb(value.numerator) / value.denominator
    return arb(value)


_ARB = np.frompyfunc(arb, 1, 1)


def array(value: Any) -> Any:
    """A float64 value or array as exact balls: an object array, or a ball for shape ()."""
    value = np.asarray(value, dtype=np.float64)
    return arb(float(value)) if value.shape == () else _ARB(value)


def to_mpmath(value: Any) -> Any:
    """Balls as mpmath numbers, exactly: their midpoints (``nan`` for a ball that is not
    finite); arrays elementwise."""
    if isinstance(value, np.ndarray):
        return _TO_MPMATH(value)
    if not isinstance(value, arb):
        return value
    if not value.is_finite():
        return mpmath.mpf("nan")
    mantissa, exponent = value.mid().man_exp()
    return mpmath.mpf((int(mantissa), int(exponent)))


_TO_MPMATH = np.frompyfunc(to_mpmath, 1, 1)


def from_mpmath(value: Any) -> arb:
    """An mpmath number as an exact ball."""
    sign, mantissa, exponent, _ = value._mpf_  # mpmath's raw (sign, mantissa, exponent, bits)
    return arb(fmpz(-int(mantissa) if sign else int(mantissa))) * arb(2) ** int(exponent)


def _finite(value: Any) -> bool:
    return value.is_finite() if isinstance(value, arb) else True


def _decide(compare: Callable[[Any, Any], bool],
            opposite: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """A comparison that is true or false for certain, else :class:`UndecidedError`."""
    def decide(a: Any, b: Any) -> bool:
        if not (_finite(a) and _finite(b)):
            return False  # as IEEE compares nan: the value it guards is not finite anyway
        if compare(a, b):
            return True
        if opposite(a, b):
            return False
        raise UndecidedError("a comparison of overlapping balls cannot be decided at this "
                             "precision")
    return decide


def _same(a: Any, b: Any) -> bool:
    """Equal for certain, or the very same ball (``x == max(x, y)`` where ``x`` is the larger:
    the same value, computed once)."""
    return bool(a == b) or (isinstance(a, arb) and isinstance(b, arb) and a.is_finite()
                            and a.mid() == b.mid() and a.rad() == b.rad())


_GT, _LE = _decide(operator.gt, operator.le), _decide(operator.le, operator.gt)
_LT, _GE = _decide(operator.lt, operator.ge), _decide(operator.ge, operator.lt)
_EQ = _decide(_same, operator.ne)


def _sum(values: list[Any]) -> Any:
    return sum(values[1:], values[0])


def _top(values: list[Any]) -> int:
    """The index of the largest finite midpoint, compared as balls (exact ones: always
    decidable), not as floats, which call every value beyond 1.8e308 equal."""
    best = 0
    for k, value in enumerate(values):
        if value.is_finite() and (not values[best].is_finite()
                                  or value.mid() > values[best].mid()):
            best = k
    return best


def _shifted(values: list[Any]) -> tuple[Any, list[Any], Any]:
    """The largest value ``x_k``, every ``x_i - x_k`` (exactly 0 for ``k``) and ``log1p`` of
    the sum of ``exp(x_i - x_k)`` over ``i != k``: anchored on the largest value itself, so
    that its own radius never enters an ``exp``."""
    k = _top(values)
    top = values[k]
    shifts = [arb(0) if i == k else v - top for i, v in enumerate(values)]
    rest = [d.exp() for i, d in enumerate(shifts) if i != k]
    return top, shifts, (_sum(rest) if rest else arb(0)).log1p()


def _logsumexp(values: list[Any]) -> Any:
    top, _, log_total = _shifted(values)
    return top + log_total


def _softmax(values: list[Any]) -> list[Any]:
    _, shifts, log_total = _shifted(values)
    return [(d - log_total).exp() for d in shifts]


def _log_softmax(values: list[Any]) -> list[Any]:
    _, shifts, log_total = _shifted(values)
    return [d - log_total for d in shifts]


def _extreme(pick: str) -> Callable[[list[Any]], Any]:
    """``max``/``min`` of a list: the ball enclosing it, overlap or not."""
    return lambda values: _fold(lambda a, b: getattr(a, pick)(b), values)


def _fold(function: Callable[[Any, Any], Any], values: list[Any]) -> Any:
    out = values[0]
    for v in values[1:]:
        out = function(out, v)
    return out


def _heaviside(x: Any, h0: Any) -> Any:
    return arb(1) if _GT(x, 0) else h0 if _EQ(x, 0) else arb(0)


def _pow(a: Any, b: Any) -> Any:
    """``a ** b``: an integer exponent by repeated products (Arb's own power of a ball around 0
    is ``nan``), a real one as Arb's (``nan`` for a negative base)."""
    if isinstance(b, arb) and b.is_exact() and b.is_integer() and abs(float(b)) <= 2**31:
        b = int(float(b))
    if not isinstance(b, int):
        return a ** b
    if b < 0:
        return 1 / _pow(a, -b)
    out, base = arb(1), a
    while b:
        if b & 1:
            out = out * base
        base, b = base * base, b >> 1
    return out


def _polygamma(n: Any, x: Any) -> Any:
    """``psi^(n)(x)``: digamma for ``n = 0``, else ``(-1)**(n+1) n! zeta(n + 1, x)``."""
    order = int(float(n.mid())) if isinstance(n, arb) else int(n)
    if order == 0:
        return x.digamma()
    return (-1) ** (order + 1) * arb(order + 1).gamma() * arb.zeta(arb(order + 1), x)


#: The language's operations in ball arithmetic (one line each).
OPS: dict[str, Callable[..., Any]] = {
    "const": const,
    **ARITHMETIC,
    "pow": elementwise(_pow, 2),
    "lt": elementwise(_LT, 2),
    "le": elementwise(_LE, 2),
    "gt": elementwise(_GT, 2),
    "ge": elementwise(_GE, 2),
    "eq": elementwise(_EQ, 2),
    "ne": elementwise(lambda a, b: not _EQ(a, b), 2),
    "exp": elementwise(lambda x: x.exp()),
    "log": elementwise(lambda x: x.log()),
    "log1p": elementwise(lambda x: x.log1p()),
    "sqrt": elementwise(lambda x: x.sqrt()),
    "sin": elementwise(lambda x: x.sin()),
    "cos": elementwise(lambda x: x.cos()),
    "tan": elementwise(lambda x: x.tan()),
    "asin": elementwise(lambda x: x.asin()),
    "acos": elementwise(lambda x: x.acos()),
    "atan": elementwise(lambda x: x.atan()),
    "sinh": elementwise(lambda x: x.sinh()),
    "cosh": elementwise(lambda x: x.cosh()),
    "tanh": elementwise(lambda x: x.tanh()),
    "abs": elementwise(abs),
    "sign": elementwise(lambda x: x.sgn()),
    "erf": elementwise(lambda x: x.erf()),
    "sigmoid": elementwise(lambda x: 1 / (1 + (-x).exp())),
    "softplus": elementwise(lambda x: x.exp().log1p()),
    "relu": elementwise(lambda x: x.max(arb(0))),
    "maximum": elementwise(lambda a, b: a.max(b), 2),
    "minimum": elementwise(lambda a, b: a.min(b), 2),
    "atan2": elementwise(arb.atan2, 2),
    "where": elementwise(lambda c, a, b: a if c else b, 3),
    "sum": lambda a, axis: reduce_along(_sum, a, axis),
    "mean": lambda a, axis: reduce_along(lambda v: _sum(v) / len(v), a, axis),
    "prod": lambda a, axis: reduce_along(lambda v: _fold(operator.mul, v), a, axis),
    "norm": lambda a, axis: reduce_along(lambda v: _sum([x * x for x in v]).sqrt(), a, axis),
    "logsumexp": lambda a, axis: reduce_along(_logsumexp, a, axis),
    "amax": lambda a, axis: reduce_along(_extreme("max"), a, axis),
    "amin": lambda a, axis: reduce_along(_extreme("min"), a, axis),
    "dot": lambda a, b: _sum([x * y for x, y in zip(flat(a), flat(b), strict=True)]),
    "softmax": lambda a, axis: map_along(_softmax, a, axis),
    "log_softmax": lambda a, axis: map_along(_log_softmax, a, axis),
    "loggamma": elementwise(lambda x: x.lgamma()),
    "heaviside": elementwise(_heaviside, 2),
    "dirac_delta": elementwise(lambda x: arb("nan") if _EQ(x, 0) else arb(0)),
    "polygamma": elementwise(_polygamma, 2),
    "scatter": lambda g, shape, key: scatter(g, shape, key, arb(0)),
}
