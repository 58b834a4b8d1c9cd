"""The graph backend's op table (:data:`GRAPH_OPS`): the language's operations building array-graph
nodes (:mod:`diffcmp.matcalc.graph`), one line each, like every other backend's table, plus the
structural builders the gradient needs (broadcasting, summing back, scattering)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..lang.shapes import Shape
from .graph import (
    Node,
    add,
    const,
    div,
    elementwise,
    lift,
    matmul,
    mul,
    neg,
    power,
    sub,
    transpose,
    where,
)

__all__ = ["GRAPH_OPS", "LISTED", "broadcast_to", "index", "lift", "reduction", "scatter",
           "stack", "sum_to"]


def index(a: Node, key: Any) -> Node:
    """``a[key]`` for a NumPy basic-indexing key (ints, slices)."""
    shape = np.empty(a.shape, dtype=bool)[key].shape
    return Node("index", (a,), (key,), shape)


def stack(parts: Sequence[Node]) -> Node:
    """Scalars as a vector; arrays of one shape along a new first axis."""
    return Node("stack", tuple(parts), (), (len(parts), *parts[0].shape))


#: Ops whose node arguments come as one list (``stack(parts)``, ``concatenate(parts, axis)``).
LISTED = frozenset({"stack", "concatenate", "einsum"})


def _concatenate(parts: Sequence[Node], axis: int) -> Node:
    shape = list(parts[0].shape)
    shape[axis] = sum(p.shape[axis] for p in parts)
    return Node("concatenate", tuple(parts), (axis,), tuple(shape))


def _repeat(a: Node, k: int, axis: int | None) -> Node:
    shape = (a.size * k,) if axis is None else tuple(
        n * k if i == axis else n for i, n in enumerate(a.shape))
    return Node("repeat", (a,), (k, axis), shape)


def _tile(a: Node, reps: tuple[int, ...]) -> Node:
    return Node("tile", (a,), (tuple(reps),),
                tuple(n * r for n, r in zip(a.shape, reps, strict=True)))


def permute_dims(a: Node, axes: tuple[int, ...]) -> Node:
    """``a`` with its axes permuted (NumPy's ``transpose(a, axes)``); a permutation of a
    permutation is one, the identity none, and reversing every axis is ``transpose``."""
    axes = tuple(axes)
    if a.op == "permute_dims":
        return permute_dims(a.args[0], tuple(a.raw[0][i] for i in axes))
    if axes == tuple(range(len(axes))):
        return a
    shape = tuple(a.shape[i] for i in axes)
    if axes == tuple(reversed(range(len(axes)))):
        return transpose(a)
    return Node("permute_dims", (a,), (axes,), shape)
def _take(a: Node, index: Any, axis: int) -> Node:
    shape = (*a.shape[:axis], *np.shape(index), *a.shape[axis + 1:])
    return Node("take", (a,), (index, axis), shape)


def _einsum(parts: Sequence[Node], spec: str) -> Node:
    inputs, output = spec.split("->")
    sizes = {letter: n for term, part in zip(inputs.split(","), parts, strict=True)
             for letter, n in zip(term, part.shape, strict=True)}
    return Node("einsum", tuple(parts), (spec,), tuple(sizes[letter] for letter in output))


def broadcast_to(a: Node, shape: Shape) -> Node:
    """``a`` broadcast to ``shape`` (the adjoint of a reduction)."""
    shape = tuple(shape)
    if a.shape == shape:
        return a
    if a.op == "broadcast_to":
        return broadcast_to(a.args[0], shape)
    return Node("broadcast_to", (a,), (shape,), shape)


def sum_to(a: Node, shape: Shape) -> Node:
    """``a`` summed down to ``shape`` (the adjoint of broadcasting)."""
    shape = tuple(shape)
    if a.shape == shape:
        return a
    if a.op == "broadcast_to" and a.args[0].shape == () and shape == ():
        return mul(a.args[0], const(a.size))
    return Node("sum_to", (a,), (shape,), shape)


def scatter(g: Node, shape: Shape, key: Any) -> Node:
    """An array of ``shape``, zero except ``[key]``, which holds ``g`` (the adjoint of
    indexing)."""
    return Node("scatter", (g,), (tuple(shape), key), tuple(shape))


def reduction(op: str, a: Node, axis: int | None = None) -> Node:
    """A reduction (``sum``, ``mean``, ``prod``, ``norm``, ``logsumexp``, ``amax``, ``amin``)
    over every element (``axis=None``) or one axis."""
    shape = () if axis is None else a.shape[:axis] + a.shape[axis + 1:]
    return Node(op, (a,), (axis,), shape)


def along(op: str, a: Node, axis: int) -> Node:
    """An operation along one axis that keeps the shape (``softmax``, ``log_softmax``)."""
    return Node(op, (a,), (axis,), a.shape)


def reshape(a: Node, shape: Shape) -> Node:
    """``a`` with the same elements in ``shape`` (row-major; a :class:`~diffcmp.lang.shapes.Written`
    shape is kept as it is, for the printer)."""
    shape = shape if isinstance(shape, tuple) else tuple(shape)
    if a.shape == shape:
        return a
    if a.op == "reshape":
        return reshape(a.args[0], shape)
    return Node("reshape", (a,), (shape,), shape)


def function(op: str) -> Callable[..., Node]:
    """An elementwise function of the language (``exp``, ``maximum``, ``atan2``...)."""
    return lambda *args: elementwise(op, *args)


def compare(op: str) -> Callable[[Node, Node], Node]:
    """A comparison (``lt``, ``le``...): a boolean node."""
    return lambda a, b: elementwise(op, a, b, dtype="bool")


def _dot(a: Node, b: Node) -> Node:
    return Node("dot", (a, b), (), ())


#: The language's operations building graph nodes (one line each), like every backend's table.
GRAPH_OPS: dict[str, Callable[..., Any]] = {
    "const": const,
    "add": add,
    "sub": sub,
    "mul": mul,
    "div": div,
    "pow": power,
    "neg": neg,
    "matmul": matmul,
    "transpose": transpose,
    "index": index,
    "reshape": reshape,
    "stack": stack,
    **{name: compare(name) for name in ("lt", "le", "gt", "ge", "eq", "ne")},
    **{name: function(name) for name in (
        "exp", "log", "log1p", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh",
        "cosh", "tanh", "abs", "sign", "erf", "sigmoid", "softplus", "relu", "maximum",
        "minimum", "atan2", "loggamma", "heaviside", "dirac_delta", "polygamma", "asinh",
        "acosh", "atanh", "expm1", "log2", "log10", "square", "cbrt", "reciprocal", "sinc",
        "erfc", "erfinv", "gammaln", "digamma", "floor", "ceil", "hypot", "logaddexp", "mod",
        "clip")},
    "where": where,
    **{name: (lambda op: lambda a, axis=None: reduction(op, a, axis))(name) for name in (
        "sum", "mean", "prod", "norm", "logsumexp", "amax", "amin")},
    "softmax": lambda a, axis: along("softmax", a, axis),
    "log_softmax": lambda a, axis: along("log_softmax", a, axis),
    "dot": _dot,
    # structure (issue 19)
    "concatenate": _concatenate,
    "flip": lambda a, axis: Node("flip", (a,), (axis,), a.shape),
    "roll": lambda a, shift, axis: Node("roll", (a,), (shift, axis), a.shape),
    "repeat": _repeat,
    "tile": _tile,
    "triu": lambda a, k: Node("triu", (a,), (k,), a.shape),
    "tril": lambda a, k: Node("tril", (a,), (k,), a.shape),
    "diag": lambda v, k: Node("diag", (v,), (k,), (v.shape[0] + abs(k),) * 2),
    "diagonal": lambda a, k: Node("diagonal", (a,), (k,), np.diagonal(np.empty(a.shape), k).shape),
    "trace": lambda a: Node("trace", (a,), (), ()),
    "outer": lambda u, v: Node("outer", (u, v), (), (u.shape[0], v.shape[0])),
    "kron": lambda a, b: Node("kron", (a, b), (), tuple(
        m * n for m, n in zip(a.shape, b.shape, strict=True))),
    "broadcast_to": broadcast_to,
    "sum_to": sum_to,
    "scatter": scatter,
    # arrays of any number of dimensions (issue 19)
    "permute_dims": permute_dims,
    # reductions and scans (issue 19)
    **{name: (lambda op: lambda a, axis: Node(op, (a,), (axis,), a.shape))(name)
       for name in ("cumsum", "cumprod", "sort")},
    **{name: (lambda op: lambda x, a, axis: Node(op, (x, a), (axis,), a.shape))(name)
       for name in ("sort_scatter", "sort_gather")},
    # integer indexing and einsum (issue 19)
    "take": _take,
    "take_along_axis": lambda a, index, axis: Node("take_along_axis", (a,), (index, axis),
                                                   np.shape(index)),
    "einsum": _einsum,
    "scatter_add": lambda g, shape, index, axis: Node("scatter_add", (g,), (
        tuple(shape), index, axis), tuple(shape)),
    # linear algebra (issue 19)
    "inv": lambda a: Node("inv", (a,), (), a.shape),
    "solve": lambda a, b: Node("solve", (a, b), (), b.shape),
    "det": lambda a: Node("det", (a,), (), ()),
    "logdet": lambda a: Node("logdet", (a,), (), ()),
    "cholesky": lambda a: Node("cholesky", (a,), (), a.shape),
    "eigvalsh": lambda a: Node("eigvalsh", (a,), (), a.shape[:1]),
    "svdvals": lambda a: Node("svdvals", (a,), (), (min(a.shape),)),
    "matrix_power": lambda a, k: Node("matrix_power", (a,), (k,), a.shape),
    "eigh_vectors": lambda a: Node("eigh_vectors", (a,), (), a.shape),
}
