"""The computational graph of a SymPy expression: its nodes in order, their local gradients, and
the backward pass that chains them (shared by the symbolic derivation and ``explain``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sympy as sp


def topological(*roots: sp.Basic) -> list[sp.Basic]:
    """Distinct subexpressions of ``roots``, children before parents, each once however many
    roots share it (iterative DFS)."""
    order: list[sp.Basic] = []
    seen: set[sp.Basic] = set()
    for root in roots:
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


def tree_ops(exprs: Sequence[sp.Basic]) -> int:
    """Operations in the expression trees, as ``count_ops`` counts them without rewriting: n - 1
    per n-ary ``Add``/``Mul``, one per power or function; a subtree counts every time it occurs
    (that is expression swell). Memoised over the DAG, so it is fast where ``count_ops`` on a
    swollen gradient takes seconds.
    """
    memo: dict[sp.Basic, int] = {}
    for node in topological(*exprs):
        own = max(len(node.args) - 1, 0) if isinstance(node, sp.Add | sp.Mul) else \
            int(bool(node.args))
        memo[node] = own + sum(memo[a] for a in node.args)
    return sum(memo[root] for root in exprs)


#: Above this many (parameters x loss operations), or this many loss operations, ``derive`` uses


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
    if isinstance(node, sp.Max | sp.Min) and len(args) > 2:
        # SymPy's fdiff, with the other arguments' extremum left unevaluated: evaluating it
        # compares every pair of them, which took seconds for a Min over 4 symbolic distances
        rests = (node.func(*args[:i], *args[i + 1:], evaluate=False) for i in range(len(args)))
        gaps = [(a, a - rest if isinstance(node, sp.Max) else rest - a)
                for a, rest in zip(args, rests, strict=True)]
        return [(a, sp.Heaviside(gap, evaluate=False)) for a, gap in gaps if a.free_symbols]
    if isinstance(node, sp.Function | sp.Max | sp.Min):
        return [(a, node.fdiff(i + 1)) for i, a in enumerate(args) if a.free_symbols]
    if node.is_Atom or isinstance(node, sp.logic.boolalg.Boolean):
        return []
    raise TypeError(f"no local gradient rule for SymPy's {type(node).__name__}")


def backpropagate(order: Sequence[Any], root: Any, local: Callable[[Any], list[tuple[Any, Any]]],
                  one: Any, total: Callable[[list[Any]], Any]) -> dict[Any, Any]:
    """The backward pass: ``d root / d node`` for every node reached from ``root``.

    ``order`` lists the nodes children before parents (:func:`topological`); ``local(node)``
    gives ``(child, d node / d child)`` pairs. Walking from ``root`` back to the inputs, each
    node's adjoint is the ``total`` over its parents of the parent's adjoint times the local
    gradient (the chain rule); ``one`` is the root's own. Works on SymPy expressions (the
    symbolic gradient) and on numbers (``explain``'s values) alike.
    """
    contributions: dict[Any, list[Any]] = {root: [one]}
    adjoints: dict[Any, Any] = {}
    for node in reversed(order):
        parts = contributions.pop(node, None)
        if not parts:
            continue
        adjoint = adjoints[node] = total(parts)
        for child, value in local(node):
            contributions.setdefault(child, []).append(adjoint * value)
    return adjoints


def short(expr: Any, limit: int = 60) -> str:
    """``expr`` as text for a message, cut to ``limit`` characters with ``...``."""
    text = str(expr)
    return text if len(text) <= limit else text[:limit - 3] + "..."
