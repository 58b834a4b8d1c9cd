"""The language's linear algebra (issue 19), with NumPy's names, argument order and semantics:
``inv(A)``, ``solve(A, b)``, ``det(A)``, ``logdet(A)``, ``cholesky(A)``, ``eigvalsh(A)``,
``svdvals(A)``, ``matrix_power(A, n)``, and NumPy's ``norm(x, ord=None, axis=None)``.

Each call is checked here: its arguments, that the matrix is a matrix (2-d: values of the
language have at most two dimensions, so there are no batches of matrices) and square where the
op needs it, and ``solve``'s right-hand side. ``norm`` with ``ord`` is written with the
language's own ops, as NumPy defines it: for vectors (or along ``axis``) ``ord=1`` is
``sum(abs(x))``, ``inf`` ``max(abs(x))``, ``-inf`` ``min(abs(x))``, 2 (or ``None``) the 2-norm,
another positive ``p`` ``sum(abs(x)**p)**(1/p)``; for a matrix (no ``axis``) ``1`` and ``inf``
are the largest column and row sums of ``abs(A)`` (``-1``, ``-inf`` the smallest), ``2`` and
``-2`` the largest and smallest singular values, ``'fro'`` (or ``None``) the Frobenius norm and
``'nuc'`` the sum of the singular values. Their kinks are those of ``abs``, ``max`` and
``svdvals``.
"""

from __future__ import annotations

import ast
import math
from fractions import Fraction
from typing import Any

from .parse import int_literal
from .shapes import Shape, axis_of, bind, shape_text

#: The compiler (:class:`diffcmp.lang.compile._Compiler`: not imported, it imports this module)
#: and its compiled values.
_Compiler = Any
_Node = Any

#: The largest ``|n|`` of ``matrix_power(A, n)``.
MAX_MATRIX_POWER = 64

#: Each function's parameters, NumPy's names in NumPy's order, and how many are required.
SIGNATURES: dict[str, tuple[tuple[str, ...], int]] = {
    "inv": (("a",), 1),
    "solve": (("a", "b"), 2),
    "det": (("a",), 1),
    "logdet": (("a",), 1),
    "cholesky": (("a",), 1),
    "eigvalsh": (("a",), 1),
    "svdvals": (("x",), 1),
    "matrix_power": (("a", "n"), 2),
    "norm": (("x", "ord", "axis"), 1),
}


def _bind(c: _Compiler, node: ast.Call, name: str) -> dict[str, ast.expr]:
    """The call's arguments by parameter name (:func:`~diffcmp.lang.shapes.bind`)."""
    return bind(c.expr, node, name, *SIGNATURES[name])


def _matrix(c: _Compiler, node: ast.AST, name: str, a: _Node, square: bool = True) -> int:
    """``a``'s size ``n`` (rows), after checking that it is a (square) matrix."""
    if len(a.shape) != 2:
        raise c.expr.error(f"{name}() takes a matrix (2-d; no stacks of matrices), not "
                           f"{'a scalar' if not a.shape else 'shape ' + shape_text(a.shape)}",
                           node)
    if square and a.shape[0] != a.shape[1]:
        raise c.expr.error(f"{name}() takes a square matrix, not shape {shape_text(a.shape)}",
                           node)
    return a.shape[0]


def _cost(c: _Compiler, n: int, scalar: int | None = None) -> None:
    """An O(n**3) factorisation's operations, beyond the one per element ``apply`` counts."""
    c.array_ops += 2 * n**3
    c.scalar_ops += 2 * n**3 if scalar is None else scalar


def call(c: _Compiler, node: ast.Call, name: str) -> _Node:
    """A linear-algebra function's call (or ``norm`` with ``ord``), checked (see the module
    docstring)."""
    bound = _bind(c, node, name)
    first = bound.get("a") or bound["x"]
    a = c.visit(first)
    if name == "norm":
        return _norm(c, node, a, bound.get("ord"), bound.get("axis"))
    n = _matrix(c, first, name, a, square=name != "svdvals")
    if name == "solve":
        b = c.visit(bound["b"])
        if not 1 <= len(b.shape) <= 2 or b.shape[0] != n:
            raise c.expr.error(f"solve(a, b) needs b of a's {n} rows (a vector of {n}, or a "
                               f"matrix of shape ({n}, k)), not "
                               f"{'a scalar' if not b.shape else 'shape ' + shape_text(b.shape)}",
                               bound["b"])
        out = c.apply("solve", node, a, b, shape=b.shape)
        _cost(c, n)
        return out
    if name == "matrix_power":
        k = int_literal(bound["n"])
        if k is None:
            raise c.expr.error("matrix_power()'s n must be an integer literal", bound["n"])
        if abs(k) > MAX_MATRIX_POWER:
            raise c.expr.error(f"matrix_power() takes |n| up to {MAX_MATRIX_POWER}, not {k}",
                               bound["n"])
        out = c.apply("matrix_power", node, a, shape=a.shape, raw=(k,))
        _cost(c, n * max(1, abs(k).bit_length()))
        return out
    shapes: dict[str, Shape] = {"inv": a.shape, "det": (), "logdet": (), "cholesky": a.shape,
                                "eigvalsh": (n,), "svdvals": (min(a.shape),)}
    out = c.apply(name, node, a, shape=shapes[name])
    # SymPy writes a determinant and its inverse out: many more operations than n**3
    _cost(c, max(a.shape), scalar=(8 * n**4 if name in ("inv", "det", "logdet") else None))
    return out


def _ord(c: _Compiler, node: ast.expr | None) -> float | str | None:
    """``norm``'s ``ord``: ``None``, a number (``inf`` and ``-inf`` by name), or ``'fro'`` or
    ``'nuc'``."""
    if node is None or (isinstance(node, ast.Constant) and node.value is None):
        return None
    sign, inner = 1, node
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        sign, inner = -1, node.operand
    if isinstance(inner, ast.Name) and inner.id == "inf":
        return sign * math.inf
    if isinstance(inner, ast.Constant) and type(inner.value) in (int, float):
        return sign * inner.value
    if isinstance(node, ast.Constant) and node.value in ("fro", "nuc"):
        return node.value
    raise c.expr.error("norm()'s ord must be a number, inf, -inf, 'fro' or 'nuc'", node)


def _norm(c: _Compiler, node: ast.Call, x: _Node, ord_node: ast.expr | None,
          axis_node: ast.expr | None) -> _Node:
    """``norm(x, ord, axis)`` in the language's ops (see the module docstring)."""
    order = _ord(c, ord_node)
    if axis_node is not None and int_literal(axis_node) is None and not (
            isinstance(axis_node, ast.Constant) and axis_node.value is None):
        raise c.expr.error("norm()'s axis must be an integer literal or None (one axis)",
                           axis_node)
    axis = None if axis_node is None or int_literal(axis_node) is None else axis_of(
        c.expr, "norm", x.shape, axis_node)
    if not x.shape:
        raise c.expr.error("norm() with ord takes a vector or a matrix, not a scalar", node)
    if len(x.shape) == 2 and axis is None:
        return _matrix_norm(c, node, x, order, ord_node)
    if order is None or order == 2:
        return c.along(node, "norm", x, axis_node)
    if isinstance(order, str) or (order <= 0 and not math.isinf(order)):
        raise c.expr.error(f"norm() of a vector takes ord 1, 2, inf, -inf or another positive "
                           f"number, not {order!r}", ord_node)
    shape = () if axis is None else x.shape[:axis] + x.shape[axis + 1:]
    size = c.apply("abs", node, x)
    if math.isinf(order):
        return c.apply("amax" if order > 0 else "amin", node, size, shape=shape, raw=(axis,))
    if order == 1:
        return c.apply("sum", node, size, shape=shape, raw=(axis,))
    p = c.visit(ast.Constant(order))
    total = c.apply("sum", node, c.binary("pow", node, size, p), shape=shape, raw=(axis,))
    inverse = Fraction(1, order) if isinstance(order, int) else 1 / order
    return c.binary("pow", node, total, c.visit(ast.Constant(inverse)))


def _matrix_norm(c: _Compiler, node: ast.Call, a: _Node, order: float | str | None,
                 ord_node: ast.expr | None) -> _Node:
    """A matrix norm (``norm(A, ord)`` without an axis), as NumPy defines it."""
    if order is None or order == "fro":
        return c.along(node, "norm", a, None)
    if order in (1, -1, math.inf, -math.inf):
        lines = 0 if abs(order) == 1 else 1  # column sums for 1, row sums for inf
        size = c.apply("abs", node, a)
        sums = c.apply("sum", node, size, shape=(a.shape[1 - lines],), raw=(lines,))
        return c.apply("amax" if order > 0 else "amin", node, sums, shape=(), raw=(None,))
    if order in (2, -2, "nuc"):
        values = c.apply("svdvals", node, a, shape=(min(a.shape),))
        _cost(c, max(a.shape))
        if order == "nuc":
            return c.apply("sum", node, values, shape=(), raw=(None,))
        last = 0 if order == 2 else min(a.shape) - 1
        return c.apply("index", node, values, shape=(), raw=(last,))
    raise c.expr.error(f"norm() of a matrix takes ord 1, -1, 2, -2, inf, -inf, 'fro' or "
                       f"'nuc', not {order!r}", ord_node)
