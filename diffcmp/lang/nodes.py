"""Named intermediate nodes: a case may name sub-expressions of its loss (a ``[nodes]`` table,
``yhat = "w*x"``, ``s = "yhat - y"``) and write the loss with those names (``loss = "s**2"``).

Names are expanded where they are used (:func:`inline`), so every backend compiles one plain
expression; the array graph shares each named sub-expression (its nodes are interned), and
``diffcmp explain`` shows it under its name.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Mapping

from .parse import Expression, parse


def parse_nodes(nodes: Mapping[str, str], origin: str | None = None) -> dict[str, Expression]:
    """Each node's expression, parsed and checked (in the table's order). Raises
    :class:`~diffcmp.errors.ExpressionError` naming the node."""
    parsed = {}
    for name, source in nodes.items():
        where = f"{origin}: nodes.{name}" if origin else f"nodes.{name}"
        parsed[name] = parse(source, where)
    return parsed


def _substitute(tree: ast.AST, trees: Mapping[str, ast.expr]) -> ast.AST:
    """``tree`` (changed in place) with each name of ``trees`` replaced by a copy of its tree."""
    if isinstance(tree, ast.Name) and tree.id in trees:
        return copy.deepcopy(trees[tree.id])
    for field, value in ast.iter_fields(tree):
        if isinstance(value, list):
            setattr(tree, field, [_substitute(v, trees) if isinstance(v, ast.AST) else v
                                  for v in value])
        elif isinstance(value, ast.AST):
            setattr(tree, field, _substitute(value, trees))
    return tree


def inline(expression: Expression, nodes: Mapping[str, Expression]) -> Expression:
    """``expression`` with every node name replaced by the node's (expanded) expression."""
    if not nodes:
        return expression
    trees: dict[str, ast.expr] = {}
    for name, node in nodes.items():  # each node may use the ones before it
        trees[name] = _substitute(copy.deepcopy(node.tree), trees)
    names = set(expression.names)
    while names & set(trees):
        for name in names & set(trees):
            names.discard(name)
            names |= nodes[name].names
    tree = _substitute(copy.deepcopy(expression.tree), trees)
    return Expression(expression.source, tree, frozenset(names), expression.origin)
