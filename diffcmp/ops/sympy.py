"""The language's operations on SymPy values: exact, symbolic, one line each.

Arrays are NumPy object arrays of SymPy expressions (:mod:`~diffcmp.ops.objects`); reductions
build one flat ``Add``/``Mul``/``Max`` per line along the axis (or over every element).
``softmax`` and ``log_softmax`` are written with :class:`LogSumExp` (``exp(z_i - LogSumExp(z))``,
``z_i - LogSumExp(z)``), so SymPy's derivative and every printed form stay stable; so is
``logaddexp(a, b)``. NumPy's ``mod(a, b)`` is ``a - b * floor(a / b)`` (the sign of ``b``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import sympy as sp
from sympy.codegen.cfunctions import expm1, hypot, log1p, log2, log10

from .linalg_exact import SYMPY_OPS as LINALG
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
from .sympy_functions import (
    Ceil,
    Floor,
    LogAbsGamma,
    LogSumExp,
    RealCbrt,
    Sigmoid,
    SincPi,
    Softplus,
)


def const(value: Literal) -> sp.Expr:
    """A literal as an exact SymPy number (a float stays a ``Float``)."""
    if value == "pi":
        return sp.pi
    if value == "E":
        return sp.E
    if isinstance(value, float):  # the double exactly, with digits for what is computed from it
        return sp.Float(value, 50)
    return sp.Rational(value)


def _where(condition: Any, a: Any, b: Any) -> Any:
    return elementwise(lambda c, x, y: sp.Piecewise((x, c), (y, True)), 3)(condition, a, b)


def _norm(values: list[sp.Expr]) -> sp.Expr:
    return sp.sqrt(sp.Add(*[x**2 for x in values]))


def _extremum(function: type[sp.Max] | type[sp.Min], values: list[sp.Expr]) -> sp.Expr:
    """``Max``/``Min`` of a vector, left unevaluated above two elements: SymPy's evaluation
    compares every pair of its arguments symbolically, quadratic in their number."""
    if len(values) <= 2:
        return function(*values)
    return function(*values, evaluate=False)


def _softmax(row: list[sp.Expr]) -> list[sp.Expr]:
    """``exp(z_i - logsumexp(z))``: stable, and so are its derivative and its printed form."""
    total = LogSumExp(*row)
    return [sp.exp(z - total) for z in row]


def _log_softmax(row: list[sp.Expr]) -> list[sp.Expr]:
    total = LogSumExp(*row)
    return [z - total for z in row]


def _compare(a: sp.Expr, b: sp.Expr) -> int:
    """The order of two numbers (a ``TypeError`` for expressions it depends on)."""
    return int(bool(a > b)) - int(bool(a < b))


def _sorted(values: list[sp.Expr]) -> list[sp.Expr]:
    """A line sorted: numbers by value; expressions by an odd-even transposition network of
    ``Min`` and ``Max`` (exact wherever the order is, and differentiable where no two tie)."""
    try:
        return sorted(values, key=functools.cmp_to_key(_compare))
    except TypeError:
        pass
    out = list(values)
    for turn in range(len(out)):
        for i in range(turn % 2, len(out) - 1, 2):
            out[i], out[i + 1] = (sp.Min(out[i], out[i + 1], evaluate=False),
                                  sp.Max(out[i], out[i + 1], evaluate=False))
    return out


_SCANS = scans(_compare)


#: The language's operations on SymPy values (one line each).
OPS: dict[str, Callable[..., Any]] = {
    "const": const,
    **ARITHMETIC,
    "lt": elementwise(sp.Lt, 2),
    "le": elementwise(sp.Le, 2),
    "gt": elementwise(sp.Gt, 2),
    "ge": elementwise(sp.Ge, 2),
    "eq": elementwise(sp.Eq, 2),
    "ne": elementwise(sp.Ne, 2),
    "exp": elementwise(sp.exp),
    "log": elementwise(sp.log),
    "log1p": elementwise(log1p),
    "sqrt": elementwise(sp.sqrt),
    "sin": elementwise(sp.sin),
    "cos": elementwise(sp.cos),
    "tan": elementwise(sp.tan),
    "asin": elementwise(sp.asin),
    "acos": elementwise(sp.acos),
    "atan": elementwise(sp.atan),
    "sinh": elementwise(sp.sinh),
    "cosh": elementwise(sp.cosh),
    "tanh": elementwise(sp.tanh),
    "asinh": elementwise(sp.asinh),
    "acosh": elementwise(sp.acosh),
    "atanh": elementwise(sp.atanh),
    "expm1": elementwise(expm1),
    "log2": elementwise(log2),
    "log10": elementwise(log10),
    "square": elementwise(lambda x: x**2),
    "cbrt": elementwise(RealCbrt),
    "reciprocal": elementwise(lambda x: 1 / x),
    "sinc": elementwise(SincPi),
    "erfc": elementwise(sp.erfc),
    "erfinv": elementwise(sp.erfinv),
    "gammaln": elementwise(LogAbsGamma),
    "digamma": elementwise(lambda x: sp.polygamma(0, x)),
    "floor": elementwise(Floor),
    "ceil": elementwise(Ceil),
    "abs": elementwise(sp.Abs),
    "sign": elementwise(sp.sign),
    "erf": elementwise(sp.erf),
    "sigmoid": elementwise(Sigmoid),
    "softplus": elementwise(Softplus),
    "relu": elementwise(lambda x: sp.Max(x, 0)),
    "maximum": elementwise(sp.Max, 2),
    "minimum": elementwise(sp.Min, 2),
    "atan2": elementwise(sp.atan2, 2),
    "hypot": elementwise(hypot, 2),
    "logaddexp": elementwise(LogSumExp, 2),
    "mod": elementwise(lambda a, b: a - b * Floor(a / b), 2),
    "clip": elementwise(lambda a, lo, hi: sp.Min(sp.Max(a, lo), hi), 3),
    "where": _where,
    "sum": lambda a, axis: reduce_along(lambda v: sp.Add(*v), a, axis),
    "mean": lambda a, axis: reduce_along(lambda v: sp.Add(*v) / len(v), a, axis),
    "prod": lambda a, axis: reduce_along(lambda v: sp.Mul(*v), a, axis),
    "norm": lambda a, axis: reduce_along(_norm, a, axis),
    "logsumexp": lambda a, axis: reduce_along(lambda v: LogSumExp(*v), a, axis),
    "amax": lambda a, axis: reduce_along(lambda v: _extremum(sp.Max, v), a, axis),
    "amin": lambda a, axis: reduce_along(lambda v: _extremum(sp.Min, v), a, axis),
    "dot": lambda a, b: sp.Add(*[x * y for x, y in zip(flat(a), flat(b), strict=True)]),
    # structure (issue 19)
    **structure(sp.Integer(0), lambda v: sp.Add(*v)),
    "softmax": lambda a, axis: map_along(_softmax, a, axis),
    "log_softmax": lambda a, axis: map_along(_log_softmax, a, axis),
    "loggamma": elementwise(sp.loggamma),
    "heaviside": elementwise(sp.Heaviside, 2),
    "dirac_delta": elementwise(sp.DiracDelta),
    "polygamma": elementwise(sp.polygamma, 2),
    "scatter": lambda g, shape, key: scatter(g, shape, key, sp.Integer(0)),
    # reductions and scans (issue 19)
    **_SCANS,
    "sort": lambda a, axis: map_along(_sorted, a, axis),
    # integer indexing and einsum (issue 19)
    **gathering(sp.Integer(0), lambda v: sp.Add(*v)),
    # linear algebra (issue 19)
    **LINALG,
}
