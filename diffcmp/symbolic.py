"""Symbolic work: the SymPy backend of the language, the exact gradient, and its shared ``cse``.

Arrays on the SymPy side are NumPy object arrays of SymPy expressions, so broadcasting, ``@`` and
indexing follow NumPy exactly; reductions build one flat ``Add``/``Mul``/``Max``.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import log1p

from .language import Number
from .sympy_functions import LogSumExp, Sigmoid, Softplus


def _elementwise(function: Callable[..., Any], nin: int = 1) -> Callable[..., Any]:
    ufunc = np.frompyfunc(function, nin, 1)
    return lambda *args: ufunc(*args)


def _flat(value: Any) -> list[sp.Expr]:
    return list(np.ravel(value)) if isinstance(value, np.ndarray) else [value]


def _const(value: Number | str) -> sp.Expr:
    if value == "pi":
        return sp.pi
    if value == "E":
        return sp.E
    if isinstance(value, float):
        return sp.Float(value)
    return sp.Rational(value)


def _where(condition: Any, a: Any, b: Any) -> Any:
    return _elementwise(lambda c, x, y: sp.Piecewise((x, c), (y, True)), 3)(condition, a, b)


def _sum(value: Any) -> sp.Expr:
    return sp.Add(*_flat(value))


#: The language's operations on SymPy values (one line each).
OPS: dict[str, Callable[..., Any]] = {
    "const": _const,
    "add": _elementwise(operator.add, 2),
    "sub": _elementwise(operator.sub, 2),
    "mul": _elementwise(operator.mul, 2),
    "div": _elementwise(operator.truediv, 2),
    "pow": _elementwise(operator.pow, 2),
    "neg": _elementwise(operator.neg),
    "matmul": lambda a, b: np.matmul(a, b),
    "transpose": lambda a: a.T if isinstance(a, np.ndarray) else a,
    "index": lambda a, key: a[key],
    "lt": _elementwise(sp.Lt, 2),
    "le": _elementwise(sp.Le, 2),
    "gt": _elementwise(sp.Gt, 2),
    "ge": _elementwise(sp.Ge, 2),
    "eq": _elementwise(sp.Eq, 2),
    "ne": _elementwise(sp.Ne, 2),
    "exp": _elementwise(sp.exp),
    "log": _elementwise(sp.log),
    "log1p": _elementwise(log1p),
    "sqrt": _elementwise(sp.sqrt),
    "sin": _elementwise(sp.sin),
    "cos": _elementwise(sp.cos),
    "tan": _elementwise(sp.tan),
    "asin": _elementwise(sp.asin),
    "acos": _elementwise(sp.acos),
    "atan": _elementwise(sp.atan),
    "sinh": _elementwise(sp.sinh),
    "cosh": _elementwise(sp.cosh),
    "tanh": _elementwise(sp.tanh),
    "abs": _elementwise(sp.Abs),
    "sign": _elementwise(sp.sign),
    "erf": _elementwise(sp.erf),
    "sigmoid": _elementwise(Sigmoid),
    "softplus": _elementwise(Softplus),
    "relu": _elementwise(lambda x: sp.Max(x, 0)),
    "maximum": _elementwise(sp.Max, 2),
    "minimum": _elementwise(sp.Min, 2),
    "atan2": _elementwise(sp.atan2, 2),
    "where": _where,
    "sum": _sum,
    "mean": lambda a: _sum(a) / len(_flat(a)),
    "prod": lambda a: sp.Mul(*_flat(a)),
    "norm": lambda a: sp.sqrt(sp.Add(*[x**2 for x in _flat(a)])),
    "logsumexp": lambda a: LogSumExp(*_flat(a)),
    "amax": lambda a: sp.Max(*_flat(a)),
    "amin": lambda a: sp.Min(*_flat(a)),
    "dot": lambda a, b: sp.Add(*[x * y for x, y in zip(_flat(a), _flat(b), strict=True)]),
}


@dataclass(frozen=True)
class Gradient:
    """The exact symbolic gradient of a loss, with one ``cse`` shared by every consumer."""

    loss: sp.Expr
    symbols: tuple[sp.Symbol, ...]
    components: tuple[sp.Expr, ...]
    #: ``cse([loss, *components])``: shared by ``reference`` and ``sympy``.
    cse: tuple[list[tuple[sp.Symbol, sp.Expr]], list[sp.Expr]]
    derive_s: float
    cse_s: float

    def steps(self) -> dict[str, float]:
        """Seconds spent deriving and in the shared ``cse``."""
        return {"derive": self.derive_s, "cse": self.cse_s}

    def sizes(self) -> dict[str, int]:
        """Expression sizes (``count_ops``): loss, gradient, and gradient after ``cse``."""
        replacements, reduced = self.cse
        return {
            "loss_ops": int(sp.count_ops(self.loss)),
            "grad_ops": int(sum(sp.count_ops(c) for c in self.components)),
            "grad_cse_ops": int(sum(sp.count_ops(e) for _, e in replacements)
                                + sum(sp.count_ops(e) for e in reduced[1:])),
        }


def derive(loss: sp.Expr, symbols: Sequence[sp.Symbol]) -> Gradient:
    """Differentiate ``loss`` in each symbol (timed from a cleared SymPy cache), then ``cse``."""
    sp.core.cache.clear_cache()
    start = time.perf_counter()
    components = tuple(sp.diff(loss, s) for s in symbols)
    derived = time.perf_counter()
    cse = sp.cse([loss, *components], order="none")
    done = time.perf_counter()
    return Gradient(loss, tuple(symbols), components, cse, derived - start, done - derived)


def lambdify_cse(args: Sequence[sp.Symbol], gradient: Gradient, modules: Sequence[Any],
                 loss_only: bool = False) -> Callable[..., Any]:
    """Compile ``[loss, *gradient]`` (or the loss alone) with ``lambdify``.

    The gradient reuses the shared ``cse``. Arguments are renamed ``_a0, _a1, ...`` in one
    ``xreplace`` pass first: ``lambdify`` would otherwise rename every non-identifier symbol
    (``w[0]``) with one pass over the whole expression per symbol, which takes minutes on a
    200 x 20 least-squares case.
    """
    safe = {symbol: sp.Symbol(f"_a{i}", real=True) for i, symbol in enumerate(args)}
    if loss_only:
        return sp.lambdify(list(safe.values()), gradient.loss.xreplace(safe),
                           modules=list(modules), cse=True, docstring_limit=0)
    replacements, reduced = gradient.cse
    renamed = ([(lhs, rhs.xreplace(safe)) for lhs, rhs in replacements],
               [expr.xreplace(safe) for expr in reduced])
    return sp.lambdify(list(safe.values()), renamed[1], modules=list(modules),
                       cse=lambda exprs: renamed, docstring_limit=0)
