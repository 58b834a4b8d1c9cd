"""Translation from SymPy: an expression compiled node by node into one backend's operations.

``SYMPY_OPS`` is one literal table from SymPy classes to the op names of the language (the same
names every backend's ``OPS`` table implements). User additions are layered on top with
:func:`register` (a :class:`~collections.ChainMap`), never by editing the default.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import sympy as sp
from sympy.codegen.cfunctions import expm1, hypot, log1p, log2, log10
from sympy.functions.elementary.piecewise import ExprCondPair

from ..errors import UnsupportedError
from ..ops.sympy_functions import (
    Ceil,
    Floor,
    LogAbsGamma,
    LogSumExp,
    RealCbrt,
    Sigmoid,
    SincPi,
    Softplus,
)
from .graph import topological

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
    sp.asinh: "asinh",
    sp.acosh: "acosh",
    sp.atanh: "atanh",
    expm1: "expm1",
    log2: "log2",
    log10: "log10",
    RealCbrt: "cbrt",
    SincPi: "sinc",
    sp.erfc: "erfc",
    sp.erfinv: "erfinv",
    LogAbsGamma: "gammaln",
    Floor: "floor",
    Ceil: "ceil",
    sp.floor: "floor",
    sp.ceiling: "ceil",
    hypot: "hypot",
    sp.Abs: "abs",
    sp.sign: "sign",
    sp.erf: "erf",
    sp.loggamma: "loggamma",
    sp.Heaviside: "heaviside",
    sp.DiracDelta: "dirac_delta",
    sp.polygamma: "polygamma",
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


class Program:
    """A SymPy expression compiled to a flat list of backend calls (see :func:`compile_sympy`).

    ``slots`` maps every distinct subexpression to the index of its value in :meth:`trace`.
    """

    def __init__(self, steps: list[tuple[Callable[..., Any], tuple[int, ...], tuple[Any, ...]]],
                 slots: dict[sp.Basic, int], result: int) -> None:
        self.steps, self.slots, self.result = steps, slots, result

    def trace(self, values: Sequence[Any]) -> list[Any]:
        """Every intermediate value: the inputs, then one per step."""
        memory = list(values)
        for function, args, extra in self.steps:
            memory.append(function(*[memory[a] for a in args], *extra))
        return memory

    def __call__(self, values: Sequence[Any]) -> Any:
        return self.trace(values)[self.result]


def compile_sympy(expr: sp.Expr, ops: Mapping[str, Callable[..., Any]],
                  symbols: Sequence[sp.Symbol]) -> Program:
    """Compile ``expr`` once into ``program(values) -> backend value`` over ``ops``.

    ``values`` gives one backend value per symbol of ``symbols``, in that order. The result is
    a flat program: every distinct subexpression is one backend call, evaluated in order, so a
    call costs no tree walk. Raises :class:`UnsupportedError` for a SymPy class the table does
    not know, or an op the backend lacks.
    """
    slots: dict[sp.Basic, int] = {s: i for i, s in enumerate(symbols)}
    program: list[tuple[Callable[..., Any], tuple[int, ...], tuple[Any, ...]]] = []
    first = len(symbols)

    def emit(function: Callable[..., Any], args: Sequence[int], extra: tuple[Any, ...] = ()
             ) -> int:
        program.append((function, tuple(args), extra))
        return first + len(program) - 1

    for node in topological(expr):
        if node in slots:
            continue
        if node.is_Symbol:
            raise UnsupportedError(f"symbol {node} has no value")
        if node.is_Number or node in (sp.pi, sp.E):
            slots[node] = emit(_constant(ops["const"](_number(node))), [])
        elif isinstance(node, sp.Piecewise):
            slots[node] = _piecewise(node, slots, emit, ops)
        elif isinstance(node, LogSumExp):
            stacked = emit(lambda *a: ops["stack"](list(a)), [slots[a] for a in node.args])
            slots[node] = emit(_op(ops, "logsumexp", node), [stacked], (None,))
        elif isinstance(node, sp.Pow) and node.exp.is_Integer:
            slots[node] = emit(_op(ops, "pow", node), [slots[node.base]], (int(node.exp),))
        elif isinstance(node, sp.logic.boolalg.BooleanAtom | ExprCondPair):
            continue  # a Piecewise's pieces: the Piecewise itself reads their parts
        else:
            op = TABLE.get(type(node))
            if op is None:
                raise UnsupportedError(f"no translation for SymPy's {type(node).__name__}")
            function = _op(ops, op, node)
            args = [slots[a] for a in node.args]
            slot = emit(function, args[:2])
            for arg in args[2:]:  # n-ary Add, Mul, Max, Min fold pairwise
                slot = emit(function, [slot, arg])
            slots[node] = slot
    return Program(program, slots, slots[expr])


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


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


def _piecewise(node: sp.Piecewise, slots: Mapping[sp.Basic, int],
               emit: Callable[..., int], ops: Mapping[str, Callable[..., Any]]) -> int:
    *pieces, (last, last_condition) = node.args
    if last_condition is not sp.true:
        raise UnsupportedError("a Piecewise without a final 'True' branch is not supported")
    where = _op(ops, "where", node)
    slot = slots[last]
    for expr, condition in reversed(pieces):
        slot = emit(where, [slots[condition], slots[expr], slot])
    return slot
