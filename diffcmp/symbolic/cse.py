"""The shared ``cse``: long sums and products split over several lines (Python's compiler
recurses once per operator of a long ``a + b + ...``), and the replacements one expression
needs."""

from __future__ import annotations

import itertools

import sympy as sp

from .graph import topological

#: Adds and Muls with more arguments than this are split into partial sums/products before
#: ``lambdify``: Python's compiler recurses once per operator of a long ``a + b + ...`` line.
MAX_ARGS_PER_LINE = 200


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


def needed(replacements: list[tuple[sp.Symbol, sp.Expr]],
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
