"""Symbolic work: the SymPy backend of the language, the exact gradient, and its shared ``cse``.

Arrays on the SymPy side are NumPy object arrays of SymPy expressions, so broadcasting, ``@`` and
indexing follow NumPy exactly; reductions build one flat ``Add``/``Mul``/``Max``.
"""

from __future__ import annotations

import itertools
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
    #: How the components were derived: "diff" (sympy.diff per symbol) or "reverse".
    method: str = "diff"

    def steps(self) -> dict[str, float]:
        """Seconds spent deriving and in the shared ``cse``."""
        return {"derive": self.derive_s, "cse": self.cse_s}

    def sizes(self) -> dict[str, int]:
        """Expression sizes (:func:`tree_ops`): loss, gradient, and gradient after ``cse``."""
        replacements, reduced = self.cse
        return {
            "loss_ops": tree_ops([self.loss]),
            "grad_ops": tree_ops(self.components),
            "grad_cse_ops": tree_ops([e for _, e in replacements] + reduced[1:]),
        }


def tree_ops(exprs: Sequence[sp.Basic]) -> int:
    """Operations in the expression trees, as ``count_ops`` counts them without rewriting: n - 1
    per n-ary ``Add``/``Mul``, one per power or function; a subtree counts every time it occurs
    (that is expression swell). Memoised over the DAG, so it is fast where ``count_ops`` on a
    swollen gradient takes seconds.
    """
    memo: dict[sp.Basic, int] = {}
    for root in exprs:
        for node in topological(root):
            if node in memo:
                continue
            own = max(len(node.args) - 1, 0) if isinstance(node, sp.Add | sp.Mul) else \
                int(bool(node.args))
            memo[node] = own + sum(memo[a] for a in node.args)
    return sum(memo[root] for root in exprs)


#: Above this many (parameters x loss operations), or this many loss operations, ``derive`` uses
#: symbolic reverse mode: one pass for all components instead of one ``sympy.diff`` per
#: parameter (29 s on a 200 x 20 least-squares loss, 2 s in reverse mode; 44 s for a 3,000-term
#: sum in two parameters).
REVERSE_ABOVE = 50_000
REVERSE_ABOVE_OPS = 2_000
#: Adds and Muls with more arguments than this are split into partial sums/products before
#: ``lambdify``: Python's compiler recurses once per operator of a long ``a + b + ...`` line.
MAX_ARGS_PER_LINE = 200


def derive(loss: sp.Expr, symbols: Sequence[sp.Symbol], method: str = "auto") -> Gradient:
    """Differentiate ``loss`` in each symbol (timed from a cleared SymPy cache), then ``cse``.

    ``method`` is ``"diff"`` (``sympy.diff`` per symbol, the textbook forward derivation, whose
    expression swell the sizes show), ``"reverse"`` (:func:`reverse_gradient`) or ``"auto"``
    (reverse above ``REVERSE_ABOVE`` parameters x operations or ``REVERSE_ABOVE_OPS``
    operations).
    """
    sp.core.cache.clear_cache()
    start = time.perf_counter()
    if method == "auto":
        ops = tree_ops([loss])
        large = ops > REVERSE_ABOVE_OPS or len(symbols) * ops > REVERSE_ABOVE
        method = "reverse" if large else "diff"
    real = _as_real(loss)
    if method == "reverse":
        components = reverse_gradient(real, symbols)
    else:
        components = tuple(sp.diff(real, s) for s in symbols)
    if real is not loss:
        components = tuple(_from_real(c) for c in components)
    derived = time.perf_counter()
    replacements, reduced = sp.cse([loss, *components], order="none")
    cse = split_long(replacements, reduced)
    done = time.perf_counter()
    return Gradient(loss, tuple(symbols), components, cse, derived - start, done - derived,
                    method)


class _RealAbs(sp.Function):
    """``Abs`` of an argument known to be real, with derivative ``sign``.

    The language is real-valued, but SymPy cannot prove ``acos(a)`` real (``a`` might exceed
    1), so its own ``Abs`` differentiates through ``re`` and ``im`` and its ``sign`` not at all
    (an unevaluated ``Derivative`` no printer can compile). ``derive`` differentiates these
    stand-ins and puts SymPy's functions back.
    """

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.sign(self.args[0])


class _RealSign(sp.Function):
    """``sign`` of an argument known to be real: derivative ``2 DiracDelta``."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return 2 * sp.DiracDelta(self.args[0])


def _as_real(expr: sp.Expr) -> sp.Expr:
    if not expr.has(sp.Abs, sp.sign):
        return expr
    return expr.replace(sp.Abs, _RealAbs).replace(sp.sign, _RealSign)


def _from_real(expr: sp.Expr) -> sp.Expr:
    return expr.replace(_RealAbs, sp.Abs).replace(_RealSign, sp.sign)


def reverse_gradient(loss: sp.Expr, symbols: Sequence[sp.Symbol]) -> tuple[sp.Expr, ...]:
    """The gradient by symbolic reverse mode: the backward pass of the tutorial, in SymPy.

    Every distinct subexpression is a node of the computational graph. Walking the nodes from
    the loss back to the inputs, each node's adjoint (d loss / d node) is the sum, over its
    parents, of the parent's adjoint times the local gradient d parent / d node (the chain
    rule). Local gradients come from SymPy's own rules (``fdiff``), so the result is exact, and
    all components cost one pass instead of one ``sympy.diff`` each.
    """
    order = topological(loss)
    contributions: dict[sp.Basic, list[sp.Expr]] = {loss: [sp.Integer(1)]}
    for node in reversed(order):
        parts = contributions.pop(node, None)
        if not parts or node.is_Symbol:
            if parts:
                contributions[node] = parts
            continue
        adjoint = sp.Add(*parts)
        for child, local in local_gradients(node):
            contributions.setdefault(child, []).append(adjoint * local)
    return tuple(sp.Add(*contributions.get(s, [])) for s in symbols)


def local_gradients(node: sp.Basic) -> list[tuple[sp.Basic, sp.Expr]]:
    """``(child, d node / d child)`` for every child of ``node`` that can carry a gradient."""
    args = node.args
    if isinstance(node, sp.Add):
        return [(a, sp.Integer(1)) for a in args if a.free_symbols]
    if isinstance(node, sp.Mul):
        return [(a, sp.Mul(*args[:i], *args[i + 1:])) for i, a in enumerate(args)
                if a.free_symbols]
    if isinstance(node, sp.Pow):
        base, exponent = args
        out = []
        if base.free_symbols:
            out.append((base, exponent * base ** (exponent - 1)))
        if exponent.free_symbols:
            out.append((exponent, node * sp.log(base)))
        return out
    if isinstance(node, sp.Piecewise):
        return [(expr, sp.Piecewise(*[(sp.Integer(int(j == i)), c)
                                      for j, (_, c) in enumerate(args)]))
                for i, (expr, _) in enumerate(args) if expr.free_symbols]
    if isinstance(node, sp.Function | sp.Max | sp.Min):
        return [(a, node.fdiff(i + 1)) for i, a in enumerate(args) if a.free_symbols]
    if node.is_Atom or isinstance(node, sp.logic.boolalg.Boolean):
        return []
    raise TypeError(f"no local gradient rule for SymPy's {type(node).__name__}")


def topological(root: sp.Basic) -> list[sp.Basic]:
    """Distinct subexpressions of ``root``, children before parents (iterative DFS)."""
    order: list[sp.Basic] = []
    seen: set[sp.Basic] = set()
    stack: list[tuple[sp.Basic, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        stack.extend((child, False) for child in node.args if child not in seen)
    return order


def split_long(replacements: list[tuple[sp.Symbol, sp.Expr]], reduced: list[sp.Expr],
               limit: int = MAX_ARGS_PER_LINE) -> tuple[list[tuple[sp.Symbol, sp.Expr]],
                                                       list[sp.Expr]]:
    """Split every Add/Mul with more than ``limit`` arguments into partial results on lines of
    their own, so that no generated line is too deep for Python's compiler."""
    taken = {lhs.name for lhs, _ in replacements}
    names = (sp.Symbol(f"_p{i}", real=True) for i in itertools.count()
             if f"_p{i}" not in taken)
    out: list[tuple[sp.Symbol, sp.Expr]] = []

    def is_long(node: sp.Basic) -> bool:
        return isinstance(node, sp.Add | sp.Mul) and len(node.args) > limit

    def shorten(expr: sp.Expr) -> sp.Expr:
        mapping: dict[sp.Basic, sp.Basic] = {}
        for node in topological(expr):  # children first, so inner long nodes are split first
            if not is_long(node):
                continue
            parts = [a.xreplace(mapping) for a in node.args]
            while len(parts) > limit:
                chunks = [parts[k:k + limit] for k in range(0, len(parts), limit)]
                parts = []
                for chunk in chunks:
                    symbol = next(names)
                    out.append((symbol, node.func(*chunk, evaluate=False)))
                    parts.append(symbol)
            mapping[node] = node.func(*parts, evaluate=False)
        return expr.xreplace(mapping) if mapping else expr

    for lhs, rhs in replacements:
        rhs = shorten(rhs)
        out.append((lhs, rhs))
    return out, [shorten(e) for e in reduced]


def lambdify_cse(args: Sequence[sp.Symbol], gradient: Gradient, modules: Sequence[Any],
                 loss_only: bool = False) -> Callable[..., Any]:
    """Compile ``[loss, *gradient]`` (or the loss alone) with ``lambdify``.

    The gradient reuses the shared ``cse``. Arguments are renamed ``_a0, _a1, ...`` in one
    ``xreplace`` pass first: ``lambdify`` would otherwise rename every non-identifier symbol
    (``w[0]``) with one pass over the whole expression per symbol, which takes minutes on a
    200 x 20 least-squares case.
    """
    safe = {symbol: sp.Symbol(f"_a{i}", real=True) for i, symbol in enumerate(args)}
    replacements, reduced = gradient.cse
    if loss_only:
        replacements, reduced = _needed(replacements, reduced[0]), reduced[:1]
    renamed = ([(lhs, rhs.xreplace(safe)) for lhs, rhs in replacements],
               [expr.xreplace(safe) for expr in reduced])
    exprs = renamed[1][0] if loss_only else renamed[1]
    return sp.lambdify(list(safe.values()), exprs, modules=list(modules),
                       cse=lambda _: (renamed[0], exprs),  # a scalar stays a scalar
                       docstring_limit=0)


def _needed(replacements: list[tuple[sp.Symbol, sp.Expr]],
            expr: sp.Expr) -> list[tuple[sp.Symbol, sp.Expr]]:
    """The ``cse`` replacements ``expr`` depends on (transitively), in their original order."""
    defined = dict(replacements)
    needed: set[sp.Symbol] = set()
    stack = [s for s in expr.free_symbols if s in defined]
    while stack:
        symbol = stack.pop()
        if symbol not in needed:
            needed.add(symbol)
            stack.extend(s for s in defined[symbol].free_symbols if s in defined)
    return [(lhs, rhs) for lhs, rhs in replacements if lhs in needed]
