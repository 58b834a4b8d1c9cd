"""The numeric helpers of the ball-arithmetic backend (:mod:`diffcmp.ops.arb`): sums anchored
on their largest term, extremes, norms, powers, and the special functions Arb gives only in part
(``log|gamma|`` by reflection, the real cube root, NumPy's ``mod``). Each takes and gives balls;
the backend's table wraps them, honest about ``nan``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from flint import arb


def ball_sum(values: list[Any]) -> Any:
    return sum(values[1:], values[0])


def largest(values: list[Any]) -> int:
    """The index of the largest finite midpoint, compared as balls (exact ones: always
    decidable), not as floats, which call every value beyond 1.8e308 equal."""
    best = 0
    for k, value in enumerate(values):
        if value.is_finite() and (not values[best].is_finite()
                                  or value.mid() > values[best].mid()):
            best = k
    return best


def shifted(values: list[Any]) -> tuple[Any, list[Any], Any]:
    """The largest value ``x_k``, every ``x_i - x_k`` (exactly 0 for ``k``) and ``log1p`` of
    the sum of ``exp(x_i - x_k)`` over ``i != k``: anchored on the largest value itself, so
    that its own radius never enters an ``exp``."""
    k = largest(values)
    top = values[k]
    shifts = [arb(0) if i == k else v - top for i, v in enumerate(values)]
    rest = [d.exp() for i, d in enumerate(shifts) if i != k]
    return top, shifts, (ball_sum(rest) if rest else arb(0)).log1p()


def logsumexp(values: list[Any]) -> Any:
    top, _, log_total = shifted(values)
    return top + log_total


def softmax(values: list[Any]) -> list[Any]:
    _, shifts, log_total = shifted(values)
    return [(d - log_total).exp() for d in shifts]


def log_softmax(values: list[Any]) -> list[Any]:
    _, shifts, log_total = shifted(values)
    return [d - log_total for d in shifts]


def extreme(pick: str) -> Callable[[list[Any]], Any]:
    """``max``/``min`` of a list: the ball enclosing it, overlap or not."""
    return lambda values: fold(lambda a, b: getattr(a, pick)(b), values)


def fold(function: Callable[[Any, Any], Any], values: list[Any]) -> Any:
    out = values[0]
    for v in values[1:]:
        out = function(out, v)
    return out


def norm(values: list[Any]) -> Any:
    """The Euclidean norm: the square root of a sum of squares, which is never negative (its
    ball may reach below 0 by its radius alone)."""
    return ball_sum([x * x for x in values]).nonnegative_part().sqrt()


def power(a: Any, b: Any) -> Any:
    """``a ** b``: an integer exponent by repeated products (Arb's own power of a ball around 0
    is ``nan``), a real one as Arb's (``nan`` for a negative base)."""
    if isinstance(b, arb) and b.is_exact() and b.is_integer() and abs(float(b)) <= 2**31:
        b = int(float(b))
    if not isinstance(b, int):
        return a ** b
    if b < 0:
        return 1 / power(a, -b)
    out, base = arb(1), a
    while b:
        if b & 1:
            out = out * base
        base, b = base * base, b >> 1
    return out


#: The most steps of the recurrence :func:`polygamma` takes to reach a positive argument.
MAX_SHIFT = 10_000


def polygamma(n: Any, x: Any) -> Any:
    """``psi^(n)(x)``: digamma for ``n = 0``, else ``(-1)**(n+1) n! zeta(n + 1, x)`` (Hurwitz's
    zeta needs ``x > 0``: below, the recurrence ``psi^(n)(x) = psi^(n)(x + m) -
    (-1)**n n! sum(1 / (x + k)**(n + 1), k < m)`` first)."""
    order = int(float(n.mid())) if isinstance(n, arb) else int(n)
    if order == 0:
        return x.digamma()
    shift = 0 if x > 0 or not x.is_finite() else math.floor(-float(x.mid())) + 1
    if shift > MAX_SHIFT:
        return arb(0, math.inf)  # undecided: too far to walk
    factorial = arb(order + 1).gamma()
    value = (-1) ** (order + 1) * factorial * arb.zeta(arb(order + 1), x + shift)
    for k in range(shift):
        value -= (-1) ** order * factorial / (x + k) ** (order + 1)
    return value


def lgamma(x: Any) -> Any:
    """``log(gamma(x))`` for real ``gamma(x) > 0`` (Arb's ``lgamma`` covers ``x > 0`` only)."""
    out = x.lgamma()
    if out.is_finite() or not x.is_finite():
        return out
    gamma = x.gamma()
    return gamma.log() if gamma > 0 else arb("nan")


def pole(x: Any) -> bool:
    """``x`` is exactly a non-positive integer: a pole of gamma, digamma and polygamma."""
    return bool(x.is_exact() and x.is_integer() and x <= 0)


def gammaln(x: Any) -> Any:
    """``log|gamma(x)|`` (NumPy's ``gammaln``): Arb's ``lgamma`` for ``x > 0``, else by the
    reflection ``|gamma(x)| = pi / (|sin(pi x)| gamma(1 - x))``."""
    if x > 0:
        return x.lgamma()
    return arb.pi().log() - abs((arb.pi() * x).sin()).log() - (1 - x).lgamma()


def cbrt(x: Any) -> Any:
    """The real cube root (Arb's ``root`` is ``nan`` below 0); a ball around 0 gives the ball
    around 0 that holds the roots of its ends (the root is increasing)."""
    if x > 0:
        return x.root(3)
    if x < 0:
        return -((-x).root(3))
    if x.is_zero():
        return arb(0)
    top = arb(x.abs_upper()).root(3)
    return (-top).union(top)


def erfinv(x: Any) -> Any:
    """``erfinv``, ``nan`` at exactly -1 and 1 (infinite there; Arb's is an infinite ball)."""
    if x.is_exact() and abs(x) == 1:
        return arb("nan")
    return x.erfinv()


def mod(a: Any, b: Any) -> Any:
    """NumPy's ``mod``, the sign of the divisor: ``a - b floor(a / b)`` (a ball across a jump
    holds both sides)."""
    return a - b * (a / b).floor()
