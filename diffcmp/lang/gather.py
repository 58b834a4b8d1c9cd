"""Integer indexing, ``einsum`` and NumPy's other structural names (issue 19), with NumPy's names,
argument order and semantics: ``x[idx]``, ``X[:, idx]``, ``take``, ``take_along_axis``,
``einsum``, ``dot`` of matrices, ``inner``, ``tensordot``, ``fliplr``, ``flipud``, ``rot90``,
``swapaxes`` and ``moveaxis``.

An index is integer data of the case (or a literal list of integers, or an expression of them
such as ``reshape(y, (-1, 1))``): the compiler reads its values (the case's data shapes carry
them, :class:`Valued`) and passes them to the ``take`` and ``take_along_axis`` ops as a raw
argument, checked here: every value an integer, within ``-n`` to ``n - 1`` along its axis
(negative ones count from the end, as in NumPy; the backends see them non-negative), else an
error naming the data and the offending value. ``einsum``'s spec is normalised to its explicit
form (``"ij,jk"`` is ``"ij,jk->ik"``); the other names compile to the ops they are (``dot(A, B)``
is ``A @ B``, ``fliplr(m)`` is ``flip(m, 1)``, ``tensordot`` an ``einsum``).
"""

from __future__ import annotations

import ast
import math
from typing import Any

import numpy as np

from ..ops import numpy as numpy_ops
from . import layout
from .parse import int_literal
from .shapes import Shape, axis_of, index_key, shape_text

_Compiler = Any
_Node = Any

#: The parameters of the functions compiled here, NumPy's names in NumPy's order, and how many
#: are required (``einsum`` takes its spec and any number of arrays, checked on its own).
SIGNATURES: dict[str, tuple[tuple[str, ...], int]] = {
    "take": (("a", "indices", "axis"), 2),
    "take_along_axis": (("arr", "indices", "axis"), 3),
    "einsum": ((), 0),
    "inner": (("a", "b"), 2),
    "tensordot": (("a", "b", "axes"), 2),
    "fliplr": (("m",), 1),
    "flipud": (("m",), 1),
    "rot90": (("m", "k", "axes"), 1),
    "swapaxes": (("a", "axis1", "axis2"), 3),
    "moveaxis": (("a", "source", "destination"), 3),
}

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class Valued(tuple):
    """The shape of a datum that remembers its values (``values``), so that the compiler can
    read an index from it."""

    values: np.ndarray

    def __new__(cls, values: Any) -> Valued:
        array = np.asarray(values)
        shape = super().__new__(cls, array.shape)
        shape.values = array
        return shape


def valued_shapes(params: dict[str, Any], data: dict[str, Any]) -> dict[str, Shape]:
    """The shapes of a case's params, and of its data with their values (:class:`Valued`)."""
    return {**{name: np.shape(value) for name, value in params.items()},
            **{name: Valued(value) for name, value in data.items()}}


class Indices(tuple):
    """An index as the backends receive it: nested tuples of non-negative ints, which remember
    the source they were read from (``name``, for printing)."""

    name: str

    def __new__(cls, values: np.ndarray, name: str) -> Indices:
        nested = values.tolist()
        out = super().__new__(cls, [tuple(v) if isinstance(v, list) else v for v in nested])
        out.name = name
        return out


def is_indexed(node: ast.Subscript) -> bool:
    """Whether a subscript holds an index that is no integer literal or slice (data)."""
    parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    return any(not isinstance(p, ast.Slice) and int_literal(p) is None for p in parts)


def _values(c: _Compiler, node: ast.expr, n: int, axis: int) -> tuple[Indices | int, Shape]:
    """The index ``node`` (integer data) for an axis of ``n`` elements, checked and made
    non-negative."""
    called = {id(x.func) for x in ast.walk(node) if isinstance(x, ast.Call)}
    names = sorted({x.id for x in ast.walk(node) if isinstance(x, ast.Name)
                    and id(x) not in called} - {"pi", "E"})
    text = ast.get_source_segment(c.expr.text, node) or ast.unparse(node)
    for name in names:
        if getattr(c.shapes.get(name), "values", None) is None:
            raise c.expr.error(f"an index must be integer data of the case (or a list of "
                               f"integers), and '{name}' is not data", node)
    compiled = type(c)(c.expr, numpy_ops.OPS, c.shapes).visit(node)
    env = {name: c.shapes[name].values for name in names}
    value = np.asarray(compiled.literal if compiled.run is None else compiled.run(env),
                       dtype=np.float64)
    where = f"data {', '.join(names)}: " if names else ""
    if value.ndim > 2:
        raise c.expr.error(f"{where}the index {text} has {value.ndim} dimensions", node)
    wrong = ~np.isfinite(value) | (value != np.round(value))
    if np.any(wrong):
        at = [int(i) for i in np.unravel_index(int(np.argmax(wrong)), value.shape)]
        raise c.expr.error(f"{where}the index {text} holds {float(value[tuple(at)])!r} at {at}: "
                           "indices must be integers", node)
    outside = (value < -n) | (value >= n)
    if np.any(outside):
        at = [int(i) for i in np.unravel_index(int(np.argmax(outside)), value.shape)]
        raise c.expr.error(f"{where}the index {text} holds {int(value[tuple(at)])} at {at}, out "
                           f"of range for axis {axis} of {n} elements (indices lie in {-n} to "
                           f"{n - 1})", node)
    integers = (value.astype(np.int64) % n) if n else value.astype(np.int64)
    if not integers.shape:  # one integer: basic indexing
        return int(integers), ()
    return Indices(integers, text), integers.shape


def _take(c: _Compiler, node: ast.AST, a: _Node, index_node: ast.expr, axis: int) -> _Node:
    index, index_shape = _values(c, index_node, a.shape[axis], axis)
    shape = layout._limit(c, node, "take()",
                          (*a.shape[:axis], *index_shape, *a.shape[axis + 1:]))
    if isinstance(index, int):  # take(v, 2) is v[2]
        key = (*(slice(0, n, 1) for n in a.shape[:axis]), index)
        return c.apply("index", node, a, shape=shape, raw=(key if axis else index,))
    return c.apply("take", node, a, shape=shape, raw=(index, axis))


def subscript(c: _Compiler, node: ast.Subscript, inner: _Node) -> _Node:
    """``x[idx]``, ``X[:, idx]``, ``X[i, idx]``: the basic parts of the key first (the indexed
    axis whole), then ``take`` along the axis left of the index."""
    tupled = isinstance(node.slice, ast.Tuple)
    parts = list(node.slice.elts) if tupled else [node.slice]
    indexed = [i for i, p in enumerate(parts)
               if not isinstance(p, ast.Slice) and int_literal(p) is None]
    if len(indexed) > 1:
        raise c.expr.error("one integer-array index per subscript (NumPy pairs several up: "
                           "write take_along_axis, or index twice)", node)
    k = indexed[0]
    if not inner.shape:
        raise c.expr.error("a scalar cannot be indexed", node)
    if k >= len(inner.shape):
        raise c.expr.error(f"{len(parts)} indices for a value of shape "
                           f"{shape_text(inner.shape)}", node)
    whole = ast.copy_location(ast.Slice(), parts[k])
    basic = [whole if i == k else p for i, p in enumerate(parts)]
    value = inner
    if any(not isinstance(p, ast.Slice) or p.lower or p.upper or p.step for p in basic):
        key_node = ast.copy_location(ast.Tuple(elts=basic, ctx=ast.Load()), node.slice) \
            if tupled else whole
        plain = ast.copy_location(ast.Subscript(value=node.value, slice=key_node,
                                                ctx=ast.Load()), node)
        key, shape = index_key(c.expr, plain, inner.shape)
        value = layout.subscript(c, plain, inner, key, shape)
    axis = sum(1 for p in parts[:k] if isinstance(p, ast.Slice))
    return _take(c, node, value, parts[k], axis)


def call(c: _Compiler, node: ast.Call, name: str) -> _Node:
    """A call of one of :data:`SIGNATURES`' functions, checked and compiled."""
    if name == "einsum":
        return _einsum_call(c, node)
    bound = layout._bind(c, node, name, SIGNATURES)
    a = c.visit(bound.get("a") or bound.get("m") or bound["arr"])
    if name in ("take", "take_along_axis"):
        axis_node = bound.get("axis")
        if layout._is_none(axis_node) or not a.shape:
            a, axis_node = layout._vector(c, node, a), ast.Constant(0)
        axis = axis_of(c.expr, name, a.shape, axis_node)
        if name == "take":
            return _take(c, node, a, bound["indices"], axis)
        return _along(c, node, a, bound["indices"], axis)
    if name in ("inner", "tensordot"):
        b = c.visit(bound["b"])
        if not a.shape or not b.shape:
            return c.apply("mul", node, a, b)
        if name == "inner":
            return _contract(c, node, a, b, [len(a.shape) - 1], [len(b.shape) - 1])
        return _tensordot(c, node, a, b, bound.get("axes"))
    return _turn(c, node, name, a, bound)


def dot(c: _Compiler, node: ast.Call, a: _Node, b: _Node) -> _Node:
    """NumPy's ``dot``: of vectors their dot product, of a scalar a product, else ``a @ b``."""
    if not a.shape or not b.shape:
        return c.apply("mul", node, a, b)
    if len(a.shape) == len(b.shape) == 1:
        if a.shape != b.shape:
            raise c.expr.error(f"dot() needs two vectors of the same length, got shapes "
                               f"{shape_text(a.shape)} and {shape_text(b.shape)}", node)
        return c.apply("dot", node, a, b, shape=())
    return c.binary("matmul", node, a, b)


def _along(c: _Compiler, node: ast.AST, a: _Node, index_node: ast.expr, axis: int) -> _Node:
    index, shape = _values(c, index_node, a.shape[axis], axis)
    if isinstance(index, int) or len(shape) != len(a.shape) or any(
            m not in (n, 1) for i, (m, n) in enumerate(zip(shape, a.shape, strict=True))
            if i != axis):
        raise c.expr.error(f"take_along_axis() needs indices of {len(a.shape)} dimensions that "
                           f"match {shape_text(a.shape)} except along axis {axis} (or are 1 "
                           f"there), got {shape_text(shape)}", index_node)
    full = tuple(shape[axis] if i == axis else n for i, n in enumerate(a.shape))
    index = Indices(np.broadcast_to(np.array(index), full), index.name)
    shape = layout._limit(c, node, "take_along_axis()", full)
    return c.apply("take_along_axis", node, a, shape=shape, raw=(index, axis))


def _einsum_call(c: _Compiler, node: ast.Call) -> _Node:
    if node.keywords:
        raise c.expr.error("einsum() takes no keyword arguments", node.keywords[0])
    if not node.args or not isinstance(node.args[0], ast.Constant) \
            or not isinstance(node.args[0].value, str):
        raise c.expr.error('einsum() takes its subscripts first, a string like "ij,jk->ik"',
                           node)
    parts = [c.visit(arg) for arg in node.args[1:]]
    if not parts:
        raise c.expr.error("einsum() of no arrays", node)
    text = node.args[0].value.replace(" ", "")
    if "." in text:
        raise c.expr.error("einsum()'s ellipsis (...) is not supported: name every axis",
                           node.args[0])
    inputs, arrow, output = text.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(parts):
        raise c.expr.error(f"einsum()'s subscripts name {len(terms)} operands, got "
                           f"{len(parts)} arrays", node)
    if any(letter not in _LETTERS for letter in inputs.replace(",", "") + output):
        raise c.expr.error("einsum()'s subscripts are letters, commas and one '->'",
                           node.args[0])
    if not arrow:  # NumPy's implicit output: the letters seen once, in alphabetical order
        output = "".join(sorted(x for x in set(inputs) - {","} if inputs.count(x) == 1))
    return einsum(c, node, terms, output, parts)


def einsum(c: _Compiler, node: ast.AST, terms: list[str], output: str,
           parts: list[_Node]) -> _Node:
    """``einsum`` of ``parts`` with the given terms and output, shapes checked."""
    sizes: dict[str, tuple[int, int]] = {}
    for i, (term, part) in enumerate(zip(terms, parts, strict=True)):
        if len(term) != len(part.shape):
            raise c.expr.error(f"einsum()'s term '{term}' has {len(term)} letters for operand "
                               f"{i} of shape {shape_text(part.shape)}", node)
        for letter, n in zip(term, part.shape, strict=True):
            first = sizes.setdefault(letter, (n, i))
            if first[0] != n:
                raise c.expr.error(f"einsum()'s letter '{letter}' is {first[0]} in operand "
                                   f"{first[1]} but {n} in operand {i} (shapes "
                                   f"{', '.join(shape_text(p.shape) for p in parts)})", node)
    if len(set(output)) != len(output) or not set(output) <= set(sizes):
        raise c.expr.error(f"einsum()'s output '{output}' must name letters of its inputs, "
                           "each once", node)
    shape = layout._limit(c, node, "einsum()", tuple(sizes[x][0] for x in output))
    work = math.prod(n for n, _ in sizes.values()) * len(parts)
    c.array_ops, c.scalar_ops = c.array_ops + work, c.scalar_ops + work
    spec = ",".join(terms) + "->" + output
    return c.apply("einsum", node, *parts, shape=shape, raw=(spec,), listed=True)


def _contract(c: _Compiler, node: ast.AST, a: _Node, b: _Node, left: list[int],
              right: list[int]) -> _Node:
    """The sum over ``a``'s axes ``left`` paired with ``b``'s ``right``: the rest of ``a``'s
    axes, then the rest of ``b``'s (``tensordot``, ``inner``)."""
    for i, j in zip(left, right, strict=True):
        if a.shape[i] != b.shape[j]:
            raise c.expr.error(f"axis {i} of shape {shape_text(a.shape)} and axis {j} of "
                               f"{shape_text(b.shape)} differ ({a.shape[i]} vs {b.shape[j]})",
                               node)
    first = _LETTERS[:len(a.shape)]
    second = list(_LETTERS[len(a.shape):len(a.shape) + len(b.shape)])
    for i, j in zip(left, right, strict=True):
        second[j] = first[i]
    output = "".join(x for i, x in enumerate(first) if i not in left) + "".join(
        x for j, x in enumerate(second) if j not in right)
    return einsum(c, node, [first, "".join(second)], output, [a, b])


def _tensordot(c: _Compiler, node: ast.AST, a: _Node, b: _Node, axes: ast.expr | None) -> _Node:
    count = 2 if axes is None else int_literal(axes)
    if count is not None:
        if not 0 <= count <= min(len(a.shape), len(b.shape)):
            raise c.expr.error(f"tensordot()'s axes={count} is out of range for shapes "
                               f"{shape_text(a.shape)} and {shape_text(b.shape)}", axes or node)
        return _contract(c, node, a, b, list(range(len(a.shape) - count, len(a.shape))),
                         list(range(count)))
    if not isinstance(axes, ast.Tuple | ast.List) or len(axes.elts) != 2:
        raise c.expr.error("tensordot()'s axes is an integer or a pair of axis lists, like "
                           "([1], [0])", axes)
    pairs = [p.elts if isinstance(p, ast.Tuple | ast.List) else [p] for p in axes.elts]
    if len(pairs[0]) != len(pairs[1]):
        raise c.expr.error("tensordot()'s two axis lists differ in length", axes)
    left = [axis_of(c.expr, "tensordot", a.shape, p) for p in pairs[0]]
    right = [axis_of(c.expr, "tensordot", b.shape, p) for p in pairs[1]]
    if len(set(left)) != len(left) or len(set(right)) != len(right):
        raise c.expr.error("tensordot() names an axis twice", axes)
    return _contract(c, node, a, b, left, right)


def _turn(c: _Compiler, node: ast.AST, name: str, a: _Node,
          bound: dict[str, ast.expr]) -> _Node:
    """``fliplr``, ``flipud``, ``rot90``, ``swapaxes``, ``moveaxis``: flips and transposes."""
    def flip(x: _Node, axis: int) -> _Node:
        return c.apply("flip", node, x, shape=x.shape, raw=(axis,))

    def transpose(x: _Node) -> _Node:
        return c.apply("transpose", node, x, shape=x.shape[::-1])

    need = {"fliplr": 2, "flipud": 1, "rot90": 2}.get(name, 1)
    if len(a.shape) < need or (name == "rot90" and len(a.shape) != 2):
        raise c.expr.error(f"{name}() takes an array of {need}"
                           f"{'' if name == 'rot90' else ' or more'} dimensions, not shape "
                           f"{shape_text(a.shape)}", node)
    if name in ("fliplr", "flipud"):
        return flip(a, 1 if name == "fliplr" else 0)
    if name == "rot90":
        turns = layout._int(c, name, "k", bound.get("k"), 1)
        if bound.get("axes") is not None:
            axes = bound["axes"]
            pair = [int_literal(x) for x in getattr(axes, "elts", [])]
            if len(pair) != 2 or None in pair or pair[0] % 2 == pair[1] % 2:
                raise c.expr.error("rot90()'s axes are two different axes, like (0, 1)", axes)
            turns = turns if pair[0] % 2 == 0 else -turns
        turns %= 4
        if turns == 0:
            return a
        if turns == 2:
            return flip(flip(a, 0), 1)
        return transpose(flip(a, 1)) if turns == 1 else flip(transpose(a), 1)
    first, second = (axis_of(c.expr, name, a.shape, bound[p]) for p in
                     (("axis1", "axis2") if name == "swapaxes" else ("source", "destination")))
    axes = list(range(len(a.shape)))
    if name == "swapaxes":
        axes[first], axes[second] = second, first
    else:
        axes.insert(second, axes.pop(first))
    return layout.permute(c, node, a, tuple(axes))

