"""The language's operations in ball arithmetic (python-flint's ``arb``, the Arb library): every
value is a midpoint and a radius that rigorously encloses the exact real result, at the working
precision in force (``flint.ctx.prec``, set by :func:`precision`).

This is the reference's backend: each operation is C code, tens of times faster than mpmath at
50 to 400 digits, and the radius says how many of the digits are right, so a value is certified
by its own enclosure (:mod:`diffcmp.engines.certify`). Arrays are NumPy object arrays of ``arb``
(:mod:`~diffcmp.ops.objects`). Like float64, nothing raises outside a function's domain: Arb
gives a non-finite ball, so that ``where`` can discard a branch it does not select.

Two kinds of non-finite ball are kept apart, because only one is a proof:

* ``nan`` means *proven undefined*: an argument proven outside the function's domain (``log`` of
  a ball that lies in ``(-inf, 0]``, a division by an exact 0, ``sqrt`` of a ball below 0), or
  an operand that is itself proven undefined;
* an *undecided* ball (:func:`undecided`: a finite midpoint, an infinite radius) means this
  precision cannot tell: an argument whose ball straddles the edge of the domain (``log`` of
  ``[0 +/- 1e-50]``, which is ``1 - sigmoid(676)`` at 50 digits) or an undecided operand. Arb
  itself answers ``nan`` for both, so every op that can give ``nan`` is wrapped (:func:`_honest`)
  to tell them apart by its domain, and the reference raises its precision for an undecided
  value instead of calling the point undefined.

A comparison whose balls overlap, or that involves an undecided value, cannot be decided at this
precision: it raises :class:`~diffcmp.errors.UndecidedError`, and the reference raises its
precision (a comparison with ``nan`` is false, as in IEEE arithmetic: what it guards is proven
undefined anyway). The first undecided op of an evaluation is noted (:func:`undecided_note`), so
that a point that never settles says why.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
from flint import arb, ctx, fmpz

from ..errors import UndecidedError
from .objects import ARITHMETIC, elementwise, flat, map_along, reduce_along, scatter, structure
from .spec import Literal

#: Bits per decimal digit.
_BITS_PER_DIGIT = 3.3219280948873623


@contextmanager
def precision(digits: int) -> Iterator[None]:
    """Arb's working precision set to ``digits`` decimal digits (restored after)."""
    before, note = ctx.prec, list(_NOTE)
    ctx.prec = int(digits * _BITS_PER_DIGIT) + 8
    _NOTE.clear()
    try:
        yield
    finally:
        ctx.prec = before
        _NOTE[:] = note


#: The first undecided op of the evaluation under way (see :func:`undecided_note`).
_NOTE: list[str] = []


def undecided() -> arb:
    """A ball this precision cannot decide: a finite midpoint and an infinite radius (see the
    module docstring). Not ``nan``, which is kept for values proven undefined."""
    return arb(0, math.inf)


def is_undecided(value: Any) -> bool:
    """Whether ``value`` is an undecided ball: not finite, with a finite midpoint."""
    return isinstance(value, arb) and not value.is_finite() and value.mid().is_finite()


def is_undefined(value: Any) -> bool:
    """Whether ``value`` is proven undefined (a ball whose midpoint is ``nan`` or infinite)."""
    return isinstance(value, arb) and not value.mid().is_finite()


def undecided_note() -> str:
    """Which op first gave an undecided value in the evaluation under :func:`precision` (``""``
    if none), e.g. ``log of [+/- 1.01e-50], a ball that straddles the edge of its domain``."""
    return _NOTE[0] if _NOTE else ""


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
        if is_undefined(a) or is_undefined(b):
            return False  # as IEEE compares nan: the value it guards is proven undefined
        if not (_finite(a) and _finite(b)):
            raise UndecidedError("a comparison with a value this precision cannot decide")
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


def _norm(values: list[Any]) -> Any:
    """The Euclidean norm: the square root of a sum of squares, which is never negative (its
    ball may reach below 0 by its radius alone)."""
    return _sum([x * x for x in values]).nonnegative_part().sqrt()


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


def _honest(function: Callable[..., Any], name: str, nin: int = 1,
            outside: Callable[..., bool] | None = None) -> Callable[..., Any]:
    """``function`` applied elementwise, with Arb's ``nan`` sorted into proven and undecided (see
    the module docstring): a ``nan`` from finite arguments is proven only where ``outside``
    proves them outside the domain, one from a proven-undefined argument stays ``nan``, and
    every other is :func:`undecided`."""
    def apply(*args: Any) -> Any:
        out = function(*args)
        if not (isinstance(out, arb) and out.is_nan()):
            return out
        if any(is_undefined(a) for a in args):
            return out
        if all(_finite(a) for a in args):
            if outside is not None and outside(*args):
                return out
            _note(name, args, "a ball that straddles the edge of its domain")
        return undecided()
    return elementwise(apply, nin)


def _honest_lines(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """A reduction or an op along an axis (``function(a, axis)``) whose ``nan`` results are
    proven only where an input element is: every other ``nan`` is :func:`undecided`."""
    def apply(a: Any, axis: Any) -> Any:
        out = function(a, axis)
        elements = flat(out)
        if not any(isinstance(v, arb) and v.is_nan() for v in elements):
            return out
        if any(is_undefined(v) for v in flat(a)):
            return out
        _note(name, (), "an undecided element")
        if not isinstance(out, np.ndarray):
            return undecided()
        return np.frompyfunc(lambda v: undecided() if v.is_nan() else v, 1, 1)(out)
    return apply


def _note(name: str, args: tuple[Any, ...], why: str) -> None:
    if not _NOTE:
        shown = ", ".join(a.str(3) if isinstance(a, arb) else str(a) for a in args)
        _NOTE.append(f"{name}({shown}): {why}" if shown else f"{name}: {why}")


def _lgamma(x: Any) -> Any:
    """``log(gamma(x))`` for real ``gamma(x) > 0`` (Arb's ``lgamma`` covers ``x > 0`` only)."""
    out = x.lgamma()
    if out.is_finite() or not x.is_finite():
        return out
    gamma = x.gamma()
    return gamma.log() if gamma > 0 else arb("nan")


def _pole(x: Any) -> bool:
    """``x`` is exactly a non-positive integer: a pole of gamma, digamma and polygamma."""
    return bool(x.is_exact() and x.is_integer() and x <= 0)


#: Where each op with a restricted domain is proven outside it (balls that lie outside it):
#: ``nan`` there is a proof; anywhere else the op's ``nan`` is undecided.
_OUTSIDE: dict[str, Callable[..., bool]] = {
    "div": lambda a, b: b.is_zero(),
    "pow": lambda a, b: bool((a < 0 and not (isinstance(b, int) or b.contains_integer()))
                             or (a.is_zero() and b < 0)),
    "log": lambda x: bool(x <= 0),
    "log1p": lambda x: bool(x <= -1),
    "sqrt": lambda x: bool(x < 0),
    "asin": lambda x: bool(x > 1 or x < -1),
    "acos": lambda x: bool(x > 1 or x < -1),
    "loggamma": lambda x: _pole(x) or bool(x < 0 and x.gamma() < 0),
    "polygamma": lambda n, x: _pole(x),
    "dirac_delta": lambda x: True,  # nan only where x == 0 is proven
}


def _op(name: str, function: Callable[..., Any], nin: int = 1) -> Callable[..., Any]:
    """One elementwise op of the table, honest about ``nan`` (:func:`_honest`)."""
    return _honest(function, name, nin, _OUTSIDE.get(name))


#: The language's operations in ball arithmetic (one line each).
OPS: dict[str, Callable[..., Any]] = {
    "const": const,
    **ARITHMETIC,
    "div": _op("div", operator.truediv, 2),
    "pow": _op("pow", _pow, 2),
    "lt": elementwise(_LT, 2),
    "le": elementwise(_LE, 2),
    "gt": elementwise(_GT, 2),
    "ge": elementwise(_GE, 2),
    "eq": elementwise(_EQ, 2),
    "ne": elementwise(lambda a, b: not _EQ(a, b), 2),
    "exp": _op("exp", lambda x: x.exp()),
    "log": _op("log", lambda x: x.log()),
    "log1p": _op("log1p", lambda x: x.log1p()),
    "sqrt": _op("sqrt", lambda x: x.sqrt()),
    "sin": _op("sin", lambda x: x.sin()),
    "cos": _op("cos", lambda x: x.cos()),
    "tan": _op("tan", lambda x: x.tan()),
    "asin": _op("asin", lambda x: x.asin()),
    "acos": _op("acos", lambda x: x.acos()),
    "atan": _op("atan", lambda x: x.atan()),
    "sinh": _op("sinh", lambda x: x.sinh()),
    "cosh": _op("cosh", lambda x: x.cosh()),
    "tanh": _op("tanh", lambda x: x.tanh()),
    "abs": _op("abs", abs),
    "sign": _op("sign", lambda x: x.sgn()),
    "erf": _op("erf", lambda x: x.erf()),
    "sigmoid": _op("sigmoid", lambda x: 1 / (1 + (-x).exp())),
    "softplus": _op("softplus", lambda x: x.exp().log1p()),
    "relu": _op("relu", lambda x: x.max(arb(0))),
    "maximum": _op("maximum", lambda a, b: a.max(b), 2),
    "minimum": _op("minimum", lambda a, b: a.min(b), 2),
    "atan2": _op("atan2", arb.atan2, 2),
    "where": elementwise(lambda c, a, b: a if c else b, 3),
    "sum": _honest_lines(lambda a, axis: reduce_along(_sum, a, axis), "sum"),
    "mean": _honest_lines(lambda a, axis: reduce_along(lambda v: _sum(v) / len(v), a, axis),
                          "mean"),
    "prod": _honest_lines(lambda a, axis: reduce_along(lambda v: _fold(operator.mul, v), a,
                                                       axis), "prod"),
    "norm": _honest_lines(lambda a, axis: reduce_along(_norm, a, axis), "norm"),
    "logsumexp": _honest_lines(lambda a, axis: reduce_along(_logsumexp, a, axis), "logsumexp"),
    "amax": _honest_lines(lambda a, axis: reduce_along(_extreme("max"), a, axis), "max"),
    "amin": _honest_lines(lambda a, axis: reduce_along(_extreme("min"), a, axis), "min"),
    "dot": lambda a, b: _sum([x * y for x, y in zip(flat(a), flat(b), strict=True)]),
    # structure (issue 19)
    **structure(arb(0), _sum),
    "softmax": _honest_lines(lambda a, axis: map_along(_softmax, a, axis), "softmax"),
    "log_softmax": _honest_lines(lambda a, axis: map_along(_log_softmax, a, axis),
                                 "log_softmax"),
    "loggamma": _op("loggamma", _lgamma),
    "heaviside": elementwise(_heaviside, 2),
    "dirac_delta": _op("dirac_delta", lambda x: arb("nan") if _EQ(x, 0) else arb(0)),
    "polygamma": _op("polygamma", _polygamma, 2),
    "scatter": lambda g, shape, key: scatter(g, shape, key, arb(0)),
}
