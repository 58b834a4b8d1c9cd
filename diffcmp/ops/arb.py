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
from . import arb_functions as balls
from .linalg_balls import OPS as LINALG
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


def _heaviside(x: Any, h0: Any) -> Any:
    return arb(1) if _GT(x, 0) else h0 if _EQ(x, 0) else arb(0)


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
    "loggamma": lambda x: balls.pole(x) or bool(x < 0 and x.gamma() < 0),
    "polygamma": lambda n, x: balls.pole(x),
    "dirac_delta": lambda x: True,  # nan only where x == 0 is proven
    "acosh": lambda x: bool(x < 1),
    "atanh": lambda x: bool(x >= 1 or x <= -1),
    "log2": lambda x: bool(x <= 0),
    "log10": lambda x: bool(x <= 0),
    "reciprocal": lambda x: x.is_zero(),
    "erfinv": lambda x: bool(x >= 1 or x <= -1),
    "gammaln": lambda x: balls.pole(x),
    "digamma": lambda x: balls.pole(x),
    "mod": lambda a, b: b.is_zero(),
}


def _op(name: str, function: Callable[..., Any], nin: int = 1) -> Callable[..., Any]:
    """One elementwise op of the table, honest about ``nan`` (:func:`_honest`)."""
    return _honest(function, name, nin, _OUTSIDE.get(name))


#: The language's operations in ball arithmetic (one line each).
OPS: dict[str, Callable[..., Any]] = {
    "const": const,
    **ARITHMETIC,
    "div": _op("div", operator.truediv, 2),
    "pow": _op("pow", balls.power, 2),
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
    "asinh": _op("asinh", lambda x: x.asinh()),
    "acosh": _op("acosh", lambda x: x.acosh()),
    "atanh": _op("atanh", lambda x: x.atanh()),
    "expm1": _op("expm1", lambda x: x.expm1()),
    "log2": _op("log2", lambda x: x.log() / arb(2).log()),
    "log10": _op("log10", lambda x: x.log() / arb(10).log()),
    "square": _op("square", lambda x: x * x),
    "cbrt": _op("cbrt", balls.cbrt),
    "reciprocal": _op("reciprocal", lambda x: 1 / x),
    "sinc": _op("sinc", lambda x: x.sinc_pi()),
    "erfc": _op("erfc", lambda x: x.erfc()),
    "erfinv": _op("erfinv", balls.erfinv),
    "gammaln": _op("gammaln", balls.gammaln),
    "digamma": _op("digamma", lambda x: x.digamma()),
    "floor": _op("floor", lambda x: x.floor()),
    "ceil": _op("ceil", lambda x: x.ceil()),
    "abs": _op("abs", abs),
    "sign": _op("sign", lambda x: x.sgn()),
    "erf": _op("erf", lambda x: x.erf()),
    "sigmoid": _op("sigmoid", lambda x: 1 / (1 + (-x).exp())),
    "softplus": _op("softplus", lambda x: x.exp().log1p()),
    "relu": _op("relu", lambda x: x.max(arb(0))),
    "maximum": _op("maximum", lambda a, b: a.max(b), 2),
    "minimum": _op("minimum", lambda a, b: a.min(b), 2),
    "atan2": _op("atan2", arb.atan2, 2),
    "hypot": _op("hypot", lambda a, b: balls.norm([a, b]), 2),
    "logaddexp": _op("logaddexp", lambda a, b: balls.logsumexp([a, b]), 2),
    "mod": _op("mod", balls.mod, 2),
    "clip": _op("clip", lambda a, lo, hi: a.max(lo).min(hi), 3),
    "where": elementwise(lambda c, a, b: a if c else b, 3),
    "sum": _honest_lines(lambda a, axis: reduce_along(balls.ball_sum, a, axis), "sum"),
    "mean": _honest_lines(lambda a, axis: reduce_along(lambda v: balls.ball_sum(v) / len(v), a,
                                                       axis), "mean"),
    "prod": _honest_lines(lambda a, axis: reduce_along(lambda v: balls.fold(operator.mul, v), a,
                                                       axis), "prod"),
    "norm": _honest_lines(lambda a, axis: reduce_along(balls.norm, a, axis), "norm"),
    "logsumexp": _honest_lines(lambda a, axis: reduce_along(balls.logsumexp, a, axis), "logsumexp"),
    "amax": _honest_lines(lambda a, axis: reduce_along(balls.extreme("max"), a, axis), "max"),
    "amin": _honest_lines(lambda a, axis: reduce_along(balls.extreme("min"), a, axis), "min"),
    "dot": lambda a, b: balls.ball_sum([x * y for x, y in zip(flat(a), flat(b), strict=True)]),
    # structure (issue 19)
    **structure(arb(0), balls.ball_sum),
    "softmax": _honest_lines(lambda a, axis: map_along(balls.softmax, a, axis), "softmax"),
    "log_softmax": _honest_lines(lambda a, axis: map_along(balls.log_softmax, a, axis),
                                 "log_softmax"),
    "loggamma": _op("loggamma", balls.lgamma),
    "heaviside": elementwise(_heaviside, 2),
    "dirac_delta": _op("dirac_delta", lambda x: arb("nan") if _EQ(x, 0) else arb(0)),
    "polygamma": _op("polygamma", balls.polygamma, 2),
    "scatter": lambda g, shape, key: scatter(g, shape, key, arb(0)),
    # reductions and scans (issue 19): an order only where the balls decide it
    **scans(lambda a, b: 0 if _same(a, b) else -1 if _LT(a, b) else 1),
    # integer indexing and einsum (issue 19)
    **gathering(arb(0), balls.ball_sum),
    # linear algebra (issue 19)
    **LINALG,
}
