"""Shapes of the language's values: NumPy broadcasting, sizes, how errors name a shape, and the
shapes of axes, indexing (slices too) and ``reshape``, normalised the way backends receive them
(see :mod:`diffcmp.ops.spec`)."""

from __future__ import annotations

import ast
import math
from typing import Any

from .parse import Expression, did_you_mean, int_literal

Shape = tuple[int, ...]


def broadcast_shapes(shapes: list[Shape]) -> Shape:
    """The shape NumPy broadcasting gives ``shapes``; ``ValueError`` when they do not fit."""
    ndim = max(len(s) for s in shapes)
    result = []
    for axis in range(ndim):
        sizes = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0} - {1}
        if len(sizes) > 1:
            raise ValueError(shapes)
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)


def matmul_shape(a: Shape, b: Shape) -> Shape:
    """The shape of ``a @ b`` by NumPy's rules: a vector is a matrix of one row (on the left) or
    one column (on the right), that axis removed again; arrays of more than two dimensions are
    stacks of matrices, their leading (batch) axes broadcast. ``ValueError`` when they do not
    fit (``a`` or ``b`` a scalar, the inner sizes differ, the batch axes do not broadcast)."""
    if not a or not b:
        raise ValueError("scalar")
    left, right = (1, *a) if len(a) == 1 else a, (*b, 1) if len(b) == 1 else b
    if left[-1] != right[-2]:
        raise ValueError("inner")
    batch = broadcast_shapes([left[:-2], right[:-2]])
    return (*batch, *(a[-2:-1] if len(a) > 1 else ()), *(b[-1:] if len(b) > 1 else ()))


def shape_text(shape: Shape) -> str:
    """``scalar`` or ``(3, 2)``: a shape as errors name it."""
    return "scalar" if shape == () else "(" + ", ".join(str(n) for n in shape) + ")"


def size(shape: Shape) -> int:
    """The number of elements of an array of ``shape``."""
    return math.prod(shape)


def axis_of(expr: Expression, name: str, shape: Shape, node: ast.AST) -> int:
    """The axis literal ``node`` of ``name(a, axis=...)`` as a non-negative int for ``shape``."""
    axis = int_literal(node)
    if axis is None:  # refused by the parser
        raise expr.error("an axis must be an integer literal", node)
    if not shape:
        raise expr.error(f"{name}() of a scalar takes no axis", node)
    if not -len(shape) <= axis < len(shape):
        raise expr.error(f"axis {axis} is out of range for shape {shape_text(shape)} (axes "
                         f"{-len(shape)} to {len(shape) - 1})", node)
    return axis % len(shape)


def index_key(expr: Expression, node: ast.Subscript, shape: Shape) -> tuple[Any, Shape]:
    """The backend key of the subscript ``node`` of a value of ``shape``, and the result's shape.

    Integer indices become non-negative ints and slices ``slice(start, stop, step)`` with all
    three non-negative ints; a key of one part is that part, of several a tuple (the raw key of
    ``index(a, key)``). Indices and slice bounds must lie within the axis (``-n`` to ``n - 1``
    for an index, ``-n`` to ``n`` for a bound: unlike NumPy, a bound past the end is an error,
    not clipped), and a slice must not be empty.
    """
    index = node.slice
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    if not shape:
        raise expr.error("a scalar cannot be indexed", node)
    if len(parts) > len(shape):
        raise expr.error(f"{len(parts)} indices for a value of shape {shape_text(shape)}", node)
    key: list[Any] = []
    kept: list[int] = []
    for axis, (part, n) in enumerate(zip(parts, shape, strict=False)):
        if isinstance(part, ast.Slice):
            bounds = [_bound(expr, bound, axis, shape) for bound in (part.lower, part.upper)]
            step = 1 if part.step is None else int_literal(part.step)
            chosen = slice(*slice(*bounds, step).indices(n))
            length = len(range(chosen.start, chosen.stop, chosen.step))
            if length == 0:
                raise expr.error(f"the slice {ast.unparse(part)} of axis {axis} of shape "
                                 f"{shape_text(shape)} is empty", part)
            key.append(chosen)
            kept.append(length)
            continue
        i = int_literal(part)
        if i is None or not -n <= i < n:
            raise expr.error(f"index {i} is out of range for axis {axis} of shape "
                             f"{shape_text(shape)} (indices lie in {-n} to {n - 1})", part)
        key.append(i % n)
    result = (*kept, *shape[len(parts):])
    return (key[0] if len(key) == 1 else tuple(key)), result


def _bound(expr: Expression, node: ast.AST | None, axis: int, shape: Shape) -> int | None:
    if node is None:
        return None
    bound, n = int_literal(node), shape[axis]
    if bound is None or not -n <= bound <= n:
        raise expr.error(f"slice bound {bound} is out of range for axis {axis} of shape "
                         f"{shape_text(shape)} (bounds lie in {-n} to {n})", node)
    return bound


class Written(tuple):
    """A shape with ``-1`` resolved, as every backend receives it, that remembers its sizes as
    the case wrote them (``written``: ``(-1, 1)`` for ``(4, 1)``), to print the formula as
    written."""

    written: Shape

    def __new__(cls, sizes: Shape, written: Shape | None = None) -> Written:
        self = super().__new__(cls, sizes)
        self.written = tuple(sizes) if written is None else tuple(written)
        return self


def reshaped(expr: Expression, node: ast.AST, shape: Shape) -> Written:
    """The shape that ``reshape``'s literal ``node`` (``(2, 3)``, ``(-1, 3)``, ``6``) gives a
    value of ``shape``, ``-1`` resolved (the sizes as written kept beside it, :class:`Written`);
    the sizes must match."""
    parts = node.elts if isinstance(node, ast.Tuple) else [node]
    sizes = [int_literal(part) or 0 for part in parts]
    written = tuple(sizes)
    total = size(shape)
    if not shape:
        raise expr.error("reshape() takes a vector or matrix, not a scalar (index it, or "
                         "use it as it is)", node)
    if -1 in sizes:
        known = size(tuple(n for n in sizes if n != -1))
        if total % known:
            raise expr.error(f"cannot reshape shape {shape_text(shape)} ({total} elements) "
                             f"into {ast.unparse(node)}: {total} is not a multiple of {known}",
                             node)
        sizes[sizes.index(-1)] = total // known
    if size(tuple(sizes)) != total:
        raise expr.error(f"cannot reshape shape {shape_text(shape)} ({total} elements) into "
                         f"{shape_text(tuple(sizes))} ({size(tuple(sizes))} elements)", node)
    return Written(tuple(sizes), written)


def bind(expr: Expression, node: ast.Call, name: str, params: tuple[str, ...], required: int,
         positional: int | None = None) -> dict[str, ast.expr]:
    """The call's arguments by parameter name, positional or keyword, as NumPy binds them: the
    first ``required`` parameters must be given, at most ``positional`` (all, by default) by
    position; an unknown keyword gets a suggestion."""
    most = len(params) if positional is None else positional
    if len(node.args) > most:
        by_name = "" if positional is None else f"; {', '.join(params[most:])} by name"
        what = "positional arguments" if positional is not None else (
            "arguments" if most > 1 else "argument")
        raise expr.error(f"{name}() takes at most {most} {what} ({', '.join(params[:most])}), "
                         f"got {len(node.args)}{by_name}", node)
    bound = dict(zip(params, node.args, strict=False))
    for keyword in node.keywords:
        if keyword.arg is None:
            raise expr.error(f"{name}() takes no ** arguments", keyword)
        if keyword.arg not in params:
            raise expr.error(f"{name}() takes no keyword argument '{keyword.arg}' (its "
                             f"parameters: {', '.join(params)}){did_you_mean(keyword.arg, params)}",
                             keyword)
        if keyword.arg in bound:
            raise expr.error(f"{name}() is given {keyword.arg} twice", keyword)
        bound[keyword.arg] = keyword.value
    missing = [p for p in params[:required] if p not in bound]
    if missing:
        raise expr.error(f"{name}() is missing its argument '{missing[0]}'", node)
    return bound
