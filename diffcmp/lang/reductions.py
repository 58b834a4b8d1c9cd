"""The language's reductions with NumPy's keywords, and its scans (issue 19).

- Every reduction (``sum``, ``mean``, ``prod``, ``norm``, ``logsumexp``, ``max``, ``min``) takes
  ``keepdims=True`` (the reduced axes kept with size 1: compiled as the reduction followed by a
  ``reshape``, which the printer writes back as ``keepdims=True``) and ``axis`` as a tuple of
  axes (compiled as one reduction per axis, the last first; every axis is ``axis=None``).
- ``var(a, axis=None, ddof=0, keepdims=False)`` and ``std`` are compiled from other ops:
  ``mean((a - mean(a, axis, keepdims=True))**2, axis)``, or with ``ddof`` the sum of squares
  divided by ``n - ddof``; ``std`` is its ``sqrt`` (not differentiable where every element of a
  line is equal: a square root of a sum of squares at 0, graded as a kink like ``norm`` at 0).
- ``cumsum(a, axis=None)``, ``cumprod(a, axis=None)`` and ``sort(a, axis=-1)``: ``axis=None``
  flattens ``a`` first (a ``reshape`` to a vector), as NumPy does.

Each call is checked here and normalised to the raw arguments of :mod:`diffcmp.ops.spec`
(non-negative int axes) before any backend sees it.
"""

from __future__ import annotations

import ast
import math
from typing import Any

from .parse import int_literal
from .shapes import Shape, axis_of, bind, shape_text, size

#: The compiler (:class:`diffcmp.lang.compile._Compiler`: not imported, it imports this module)
#: and its compiled values.
_Compiler = Any
_Node = Any

#: Each function's parameters by NumPy's names, how many may be given positionally (NumPy's
#: own order: ``ddof`` and ``keepdims`` come after ``dtype`` and ``out``, so by name only here),
#: and the default axis.
SIGNATURES: dict[str, tuple[tuple[str, ...], int, int | None]] = {
    "cumsum": (("a", "axis"), 2, None),
    "cumprod": (("a", "axis"), 2, None),
    "sort": (("a", "axis"), 2, -1),
    "var": (("a", "axis", "ddof", "keepdims"), 2, None),
    "std": (("a", "axis", "ddof", "keepdims"), 2, None),
}


def _bind(c: _Compiler, node: ast.Call, name: str) -> dict[str, ast.expr]:
    """The call's arguments by parameter name (:func:`~diffcmp.lang.shapes.bind`): ``a`` and
    ``axis`` by position, the rest by name."""
    params, positional, _ = SIGNATURES[name]
    return bind(c.expr, node, name, params, 1, positional)


def _is_none(node: ast.expr | None) -> bool:
    return node is None or (isinstance(node, ast.Constant) and node.value is None)


def _flag(c: _Compiler, name: str, node: ast.expr | None) -> bool:
    if node is None:
        return False
    if not (isinstance(node, ast.Constant) and isinstance(node.value, bool)):
        raise c.expr.error(f"{name}()'s keepdims must be True or False", node)
    return node.value


def _axes(c: _Compiler, name: str, shape: Shape, node: ast.expr | None) -> tuple[int, ...] | None:
    """``axis`` as non-negative ints (``None``: every element), each axis once."""
    if _is_none(node):
        return None
    parts = node.elts if isinstance(node, ast.Tuple) else [node]
    if not parts or any(int_literal(p) is None for p in parts):
        raise c.expr.error(f"{name}()'s axis must be an integer literal, a tuple of them or "
                           "None", node)
    axes = [axis_of(c.expr, name, shape, p) for p in parts]
    if len(set(axes)) < len(axes):
        raise c.expr.error(f"{name}()'s axis {ast.unparse(node)} names an axis twice", node)
    return tuple(sorted(axes))


def _kept(shape: Shape, axes: tuple[int, ...] | None) -> Shape:
    """``shape`` with the reduced axes of size 1 (NumPy's ``keepdims=True``)."""
    return tuple(1 if axes is None or i in axes else n for i, n in enumerate(shape))


def reduce(c: _Compiler, node: ast.AST, name: str, a: _Node, axes: tuple[int, ...] | None,
           keepdims: bool) -> _Node:
    """The reduction ``name`` (the language's name) of ``a`` over ``axes`` (``None``: every
    element), the reduced axes kept with size 1 if ``keepdims``."""
    if axes is None or len(axes) == len(a.shape):
        out = c.along(node, name, a, None)
    else:
        out = a
        for k in reversed(axes):
            out = c.along(node, name, out, ast.Constant(value=k))
    kept = _kept(a.shape, axes)
    if keepdims and out.shape != kept:
        out = c.apply("reshape", node, out, shape=kept, raw=(kept,))
    return out


def reduction(c: _Compiler, node: ast.Call, name: str) -> _Node:
    """A reduction's call (one array, its keywords checked by the parser)."""
    keywords = {k.arg: k.value for k in node.keywords}
    a = c.visit(node.args[0])
    axes = _axes(c, name, a.shape, keywords.get("axis"))
    return reduce(c, node, name, a, axes, _flag(c, name, keywords.get("keepdims")))


def call(c: _Compiler, node: ast.Call, name: str) -> _Node:
    """A call of ``var``, ``std``, ``cumsum``, ``cumprod`` or ``sort``, checked and normalised
    (see the module docstring)."""
    bound = _bind(c, node, name)
    a = c.visit(bound["a"])
    if name in ("var", "std"):
        return _statistic(c, node, name, a, bound)
    default = SIGNATURES[name][2]
    axis = bound.get("axis")
    if axis is None and default is not None:
        if not a.shape:
            raise c.expr.error(f"{name}() of a scalar (axis=None sorts it as a vector)", node)
        k = len(a.shape) - 1
    elif _is_none(axis):
        n = size(a.shape)
        if a.shape != (n,):
            a = c.apply("reshape", node, a, shape=(n,), raw=((n,),))
        k = 0
    else:
        if int_literal(axis) is None:
            raise c.expr.error(f"{name}()'s axis must be an integer literal or None", axis)
        k = axis_of(c.expr, name, a.shape, axis)
    return c.apply(name, node, a, shape=a.shape, raw=(k,))


def _statistic(c: _Compiler, node: ast.Call, name: str, a: _Node,
               bound: dict[str, ast.expr]) -> _Node:
    """``var`` (the mean squared deviation from the mean, or with ``ddof`` the sum of squared
    deviations over ``n - ddof``) and ``std``, its square root."""
    axes = _axes(c, name, a.shape, bound.get("axis"))
    ddof_node = bound.get("ddof")
    ddof = 0 if ddof_node is None else int_literal(ddof_node)
    if ddof is None:
        raise c.expr.error(f"{name}()'s ddof must be an integer literal", ddof_node)
    n = size(a.shape) if axes is None else math.prod(a.shape[k] for k in axes)
    if ddof >= n:
        raise c.expr.error(f"{name}()'s ddof={ddof} must be less than the {n} elements it "
                           f"reduces (shape {shape_text(a.shape)}): n - ddof divides", ddof_node)
    centre = reduce(c, node, "mean", a, axes, keepdims=True)
    deviation = c.binary("sub", node, a, centre)
    square = c.apply("pow", node, deviation, shape=deviation.shape, raw=(2,))
    if ddof == 0:
        out = reduce(c, node, "mean", square, axes, keepdims=False)
    else:
        total = reduce(c, node, "sum", square, axes, keepdims=False)
        out = c.binary("div", node, total, c.visit(ast.Constant(value=n - ddof)))
    if name == "std":
        out = c.apply("sqrt", node, out)
    kept = _kept(a.shape, axes)
    if _flag(c, name, bound.get("keepdims")) and out.shape != kept:
        out = c.apply("reshape", node, out, shape=kept, raw=(kept,))
    return out
