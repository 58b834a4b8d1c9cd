"""Translate a SymPy expression node by node into one backend's operations.

``SYMPY_OPS`` is one literal table from SymPy classes to the op names of the language (the same
names every backend's ``OPS`` table implements). User additions are layered on top with
:func:`register` (a :class:`~collections.ChainMap`), never by editing the default.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Mapping
from fractions import Fraction
from functools import reduce
from typing import Any

import sympy as sp
from sympy.codegen.cfunctions import log1p

from .errors import UnsupportedError
from .sympy_functions import LogSumExp, Sigmoid, Softplus

#: SymPy class -> op name. n-ary ``Add``/``Mul``/``Max``/``Min`` fold pairwise.
SYMPY_OPS: dict[type, str] = {
    sp.Add: "add",
    sp.Mul: "mul",
    sp.Pow: "pow",
    sp.exp: "exp",
    sp.log: "log",
    log1p: "log1p",
    sp.sin: "sin",
    sp.cos: "cos",
    sp.tan: "tan",
    sp.asin: "asin",
    sp.acos: "acos",
    sp.atan: "atan",
    sp.sinh: "sinh",
    sp.cosh: "cosh",
    sp.tanh: "tanh",
    sp.Abs: "abs",
    sp.sign: "sign",
    sp.erf: "erf",
    sp.loggamma: "loggamma",
    sp.Heaviside: "heaviside",
    Sigmoid: "sigmoid",
    Softplus: "softplus",
    sp.Max: "maximum",
    sp.Min: "minimum",
    sp.atan2: "atan2",
    sp.StrictLessThan: "lt",
    sp.LessThan: "le",
    sp.StrictGreaterThan: "gt",
    sp.GreaterThan: "ge",
    sp.Equality: "eq",
    sp.Unequality: "ne",
}

_user_ops: dict[type, str] = {}

#: The table in force: user additions first, then the defaults.
TABLE: ChainMap[type, str] = ChainMap(_user_ops, SYMPY_OPS)


def register(sympy_class: type, op: str) -> None:
    """Map ``sympy_class`` to the backend op ``op`` (every engine's ``OPS`` must define it)."""
    _user_ops[sympy_class] = op


def translate(expr: sp.Expr, ops: Mapping[str, Callable[..., Any]],
              env: Mapping[sp.Symbol, Any]) -> Any:
    """Evaluate ``expr`` with the backend functions in ``ops``; ``env`` gives each symbol's value.

    Shared subtrees are translated once. Raises :class:`UnsupportedError` for a SymPy class
    the table does not know, or an op the backend lacks.
    """
    memo: dict[sp.Basic, Any] = {}

    def visit(node: sp.Basic) -> Any:
        if node in memo:
            return memo[node]
        memo[node] = value = _visit(node)
        return value

    def _visit(node: sp.Basic) -> Any:
        if node in env:
            return env[node]
        if node.is_Symbol:
            raise UnsupportedError(f"symbol {node} has no value")
        if node.is_Number or node in (sp.pi, sp.E):
            return ops["const"](_number(node))
        if isinstance(node, sp.Piecewise):
            return _piecewise(node, visit, ops)
        if isinstance(node, LogSumExp):
            return ops["logsumexp"](ops["stack"]([visit(a) for a in node.args]))
        if isinstance(node, sp.Pow) and node.exp.is_Integer:
            return _op(ops, "pow", node)(visit(node.base), int(node.exp))
        op = TABLE.get(type(node))
        if op is None:
            raise UnsupportedError(f"no translation for SymPy's {type(node).__name__}")
        function = _op(ops, op, node)
        args = [visit(a) for a in node.args]
        return reduce(function, args) if len(args) > 2 else function(*args)

    return visit(expr)


def _op(ops: Mapping[str, Callable[..., Any]], name: str, node: sp.Basic) -> Callable[..., Any]:
    try:
        return ops[name]
    except KeyError:
        raise UnsupportedError(f"{name} ({type(node).__name__}) is not available") from None


def _number(node: sp.Basic) -> Any:
    if node is sp.pi:
        return "pi"
    if node is sp.E:
        return "E"
    if node.is_Integer:
        return int(node)
    if node.is_Rational:
        return Fraction(int(node.p), int(node.q))
    return float(node)


def _piecewise(node: sp.Piecewise, visit: Callable[[sp.Basic], Any],
               ops: Mapping[str, Callable[..., Any]]) -> Any:
    *pieces, (last, last_condition) = node.args
    if last_condition is not sp.true:
        raise UnsupportedError("a Piecewise without a final 'True' branch is not supported")
    value = visit(last)
    for expr, condition in reversed(pieces):
        value = _op(ops, "where", node)(visit(condition), visit(expr), value)
    return value
