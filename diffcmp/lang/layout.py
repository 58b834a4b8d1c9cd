"""The language's structural functions (issue 19), with NumPy's names, argument order and
semantics: ``stack``, ``concatenate``, list literals (``[w[0], 2*w[1]]``), ``flip`` and negative
slice steps (``w[::-1]``), ``roll``, ``repeat``, ``tile``, ``triu``, ``tril``, ``diag``,
``trace``, ``outer`` and ``kron``; for arrays of any number of dimensions, ``transpose(a,
axes)``, ``expand_dims`` and ``squeeze``.

Each call is checked here (arguments, literals, shapes, the ``MAX_DIMENSIONS`` limit and
``MAX_ELEMENTS``) and normalised to the raw arguments of :mod:`diffcmp.ops.spec` (non-negative
axes, a shift within the axis, ``tile``'s repetitions one per axis) before any backend sees it.
"""

from __future__ import annotations

import ast
from typing import Any

from .parse import MAX_DIMENSIONS, int_literal
from .shapes import Shape, axis_of, bind, shape_text, size

#: The compiler (:class:`diffcmp.lang.compile._Compiler`: not imported, it imports this module)
#: and its compiled values.
_Compiler = Any
_Node = Any

#: The most elements a value built by a structural function may have (a case's own limit).
MAX_ELEMENTS = 5_000_000

#: Each function's parameters, NumPy's names in NumPy's order, and how many are required.
SIGNATURES: dict[str, tuple[tuple[str, ...], int]] = {
    "stack": (("arrays", "axis"), 1),
    "concatenate": (("arrays", "axis"), 1),
    "flip": (("m", "axis"), 1),
    "roll": (("a", "shift", "axis"), 2),
    "repeat": (("a", "repeats", "axis"), 2),
    "tile": (("A", "reps"), 2),
    "triu": (("m", "k"), 1),
    "tril": (("m", "k"), 1),
    "diag": (("v", "k"), 1),
    "trace": (("a", "offset"), 1),
    "outer": (("a", "b"), 2),
    "kron": (("a", "b"), 2),
    # arrays of any number of dimensions (issue 19)
    "transpose": (("a", "axes"), 1),
    "expand_dims": (("a", "axis"), 2),
    "squeeze": (("a", "axis"), 1),
}


def _bind(c: _Compiler, node: ast.Call, name: str,
          signatures: dict[str, tuple[tuple[str, ...], int]] | None = None) -> dict[str, ast.expr]:
    """The call's arguments by parameter name (:func:`~diffcmp.lang.shapes.bind`)."""
    params, required = (signatures or SIGNATURES)[name]
    return bind(c.expr, node, name, params, required)


def _is_none(node: ast.expr | None) -> bool:
    return node is None or (isinstance(node, ast.Constant) and node.value is None)


def _int(c: _Compiler, name: str, what: str, node: ast.expr | None, default: int = 0) -> int:
    if node is None:
        return default
    value = int_literal(node)
    if value is None:
        raise c.expr.error(f"{name}()'s {what} must be an integer literal", node)
    return value


def _axis(c: _Compiler, name: str, shape: Shape, node: ast.expr | None,
          default: int | None = None) -> int | None:
    """An axis literal (or ``None`` where ``node`` is absent or ``None``) for ``shape``."""
    if _is_none(node):
        return default
    if int_literal(node) is None:
        raise c.expr.error(f"{name}()'s axis must be an integer literal or None", node)
    return axis_of(c.expr, name, shape, node)


def _limit(c: _Compiler, node: ast.AST, name: str, shape: Shape) -> Shape:
    if len(shape) > MAX_DIMENSIONS:
        raise c.expr.error(f"{name} would have shape {shape_text(shape)}: values have at most "
                           f"{MAX_DIMENSIONS} dimensions", node)
    if size(shape) > MAX_ELEMENTS:
        raise c.expr.error(f"{name} would have {size(shape):,} elements; the limit is "
                           f"{MAX_ELEMENTS:,}", node)
    return shape


def _parts(c: _Compiler, name: str, node: ast.expr) -> list[_Node]:
    if not isinstance(node, ast.List | ast.Tuple):
        raise c.expr.error(f"{name}() takes a list of arrays, like {name}([a, b])", node)
    if not node.elts:
        raise c.expr.error(f"{name}() of an empty list", node)
    return [c.visit(part) for part in node.elts]


def _vector(c: _Compiler, node: ast.AST, a: _Node) -> _Node:
    """``a`` as a vector: a scalar as one element, a matrix flattened (row-major)."""
    if not a.shape:
        return c.apply("stack", node, a, shape=(1,), listed=True)
    if len(a.shape) >= 2:
        return c.apply("reshape", node, a, shape=(size(a.shape),), raw=((size(a.shape),),))
    return a


def stack(c: _Compiler, node: ast.AST, parts: list[_Node], axis: ast.expr | None = None,
          what: str = "stack()") -> _Node:
    """Parts of one shape along a new axis (``axis``, 0 by default): a list literal too."""
    shapes = [p.shape for p in parts]
    if len(set(shapes)) > 1:
        raise c.expr.error(f"{what} needs parts of one shape, got "
                           f"{', '.join(shape_text(s) for s in shapes)}", node)
    shape = _limit(c, node, what, (len(parts), *shapes[0]))
    k = 0 if _is_none(axis) else axis_of(c.expr, "stack", shape, axis)
    stacked = c.apply("stack", node, *parts, shape=shape, listed=True)
    return permute(c, node, stacked, (*range(1, k + 1), 0, *range(k + 1, len(shape))))


def _diagonal(c: _Compiler, node: ast.AST, a: _Node, k: int) -> _Node:
    """The ``k``-th diagonal of the matrix ``a`` (NumPy's ``diag(A, k)``)."""
    length = min(a.shape[0], a.shape[1] - k) if k >= 0 else min(a.shape[0] + k, a.shape[1])
    if length <= 0:
        raise c.expr.error(f"the matrix of shape {shape_text(a.shape)} has no diagonal k={k} "
                           f"(k lies in {1 - a.shape[0]} to {a.shape[1] - 1})", node)
    return c.apply("diagonal", node, a, shape=(length,), raw=(k,))


def permute(c: _Compiler, node: ast.AST, a: _Node, axes: tuple[int, ...]) -> _Node:
    """``a`` with its axes permuted: itself for the identity, ``transpose`` (``a.T``) for the
    reversal, else ``permute_dims``."""
    if axes == tuple(range(len(axes))):
        return a
    shape = tuple(a.shape[i] for i in axes)
    if axes == tuple(reversed(range(len(axes)))):
        return c.apply("transpose", node, a, shape=shape)
    return c.apply("permute_dims", node, a, shape=shape, raw=(axes,))


def list_literal(c: _Compiler, node: ast.List) -> _Node:
    """``[a, b, ...]``: an array, the parts (of one shape) along a new first axis."""
    if not node.elts:
        raise c.expr.error("an empty list is not an array", node)
    return stack(c, node, [c.visit(part) for part in node.elts], what="a list literal")


def subscript(c: _Compiler, node: ast.Subscript, inner: _Node, key: Any,
              shape: Shape) -> _Node:
    """``inner[key]``, a slice of negative step taken as the ascending slice of the same
    elements, then flipped (backends receive non-negative steps only)."""
    parts, axis, flips = list(key) if isinstance(key, tuple) else [key], 0, []
    for i, part in enumerate(parts):
        if isinstance(part, slice):
            if part.step < 0:
                chosen = range(part.start, part.stop, part.step)
                parts[i] = slice(chosen[-1], chosen[0] + 1, -part.step)
                flips.append(axis)
            axis += 1
    key = tuple(parts) if isinstance(key, tuple) else parts[0]
    out = c.apply("index", node, inner, shape=shape, raw=(key,))
    for k in flips:
        out = c.apply("flip", node, out, shape=shape, raw=(k,))
    return out


def call(c: _Compiler, node: ast.Call, name: str) -> _Node:
    """A structural function's call, checked and normalised (see the module docstring)."""
    bound = _bind(c, node, name)
    if name in ("stack", "concatenate"):
        parts = _parts(c, name, bound["arrays"])
        if name == "stack":
            return stack(c, node, parts, bound.get("axis"))
        return _concatenate(c, node, parts, bound.get("axis", ast.Constant(0)))
    a = c.visit(bound.get("a") or bound.get("m") or bound.get("v") or bound["A"])
    if name == "flip":
        if not a.shape:
            return a
        axis = _axis(c, name, a.shape, bound.get("axis"), None if len(a.shape) > 1 else 0)
        return c.apply("flip", node, a, shape=a.shape, raw=(axis,))
    if name == "roll":
        shift = _int(c, name, "shift", bound["shift"])
        axis = _axis(c, name, a.shape, bound.get("axis"))
        n = size(a.shape) if axis is None else a.shape[axis]
        if not a.shape or shift % n == 0:
            return a
        return c.apply("roll", node, a, shape=a.shape, raw=(shift % n, axis))
    if name == "repeat":
        return _repeat(c, node, a, bound)
    if name == "tile":
        return _tile(c, node, a, bound["reps"])
    if name in ("transpose", "expand_dims", "squeeze"):
        return _axes(c, node, name, a, bound.get("axes", bound.get("axis")))
    if name in ("triu", "tril", "trace"):
        if len(a.shape) < 2 or (name == "trace" and len(a.shape) > 2):
            stacks = "" if name == "trace" else " (or a stack of them)"
            raise c.expr.error(f"{name}() takes a matrix{stacks}, not shape "
                               f"{shape_text(a.shape)}", node)
        if name == "trace" and not _int(c, name, "offset", bound.get("offset")):
            return c.apply("trace", node, a, shape=())
        if name == "trace":  # NumPy's offset: the sum of that diagonal
            diagonal = _diagonal(c, node, a, _int(c, name, "offset", bound.get("offset")))
            return c.apply("sum", node, diagonal, shape=(), raw=(None,))
        k = _int(c, name, "k", bound.get("k"))
        return c.apply(name, node, a, shape=a.shape, raw=(k,))
    if name == "diag":  # the k-th diagonal (issue 19)
        k = _int(c, name, "k", bound.get("k"))
        if len(a.shape) == 1:
            n = a.shape[0] + abs(k)
            return c.apply("diag", node, a, shape=_limit(c, node, "diag()", (n, n)), raw=(k,))
        if len(a.shape) == 2:
            return _diagonal(c, node, a, k)
        raise c.expr.error("diag() takes a vector (its diagonal matrix) or a matrix (its "
                           "diagonal), not a scalar", node)
    b = c.visit(bound["b"])
    if name == "outer":
        u, v = _vector(c, node, a), _vector(c, node, b)
        shape = _limit(c, node, "outer()", (u.shape[0], v.shape[0]))
        return c.apply("outer", node, u, v, shape=shape)
    return _kron(c, node, a, b)


def _concatenate(c: _Compiler, node: ast.AST, parts: list[_Node],
                 axis_node: ast.expr) -> _Node:
    if _is_none(axis_node):  # NumPy flattens every part first
        parts, axis_node = [_vector(c, node, p) for p in parts], ast.Constant(0)
    if any(not p.shape for p in parts):
        raise c.expr.error("concatenate() takes vectors or matrices, not scalars (stack() or "
                           "a list literal takes scalars)", node)
    if len({len(p.shape) for p in parts}) > 1:
        raise c.expr.error("concatenate() needs parts of one number of dimensions, got "
                           f"{', '.join(shape_text(p.shape) for p in parts)}", node)
    axis = axis_of(c.expr, "concatenate", parts[0].shape, axis_node)
    rest = {p.shape[:axis] + p.shape[axis + 1:] for p in parts}
    if len(rest) > 1:
        raise c.expr.error(f"concatenate() along axis {axis} needs parts that agree on every "
                           f"other axis, got {', '.join(shape_text(p.shape) for p in parts)}",
                           node)
    shape = list(parts[0].shape)
    shape[axis] = sum(p.shape[axis] for p in parts)
    shape = _limit(c, node, "concatenate()", tuple(shape))
    return c.apply("concatenate", node, *parts, shape=shape, raw=(axis,), listed=True)


def _repeat(c: _Compiler, node: ast.AST, a: _Node, bound: dict[str, ast.expr]) -> _Node:
    k = _int(c, "repeat", "repeats", bound["repeats"])
    if k < 1:
        raise c.expr.error(f"repeat()'s repeats must be a positive integer, not {k}",
                           bound["repeats"])
    if not a.shape:
        a = _vector(c, node, a)
    axis = _axis(c, "repeat", a.shape, bound.get("axis"), None if len(a.shape) > 1 else 0)
    if axis is None:
        shape: Shape = (size(a.shape) * k,)
    else:
        shape = (*a.shape[:axis], a.shape[axis] * k, *a.shape[axis + 1:])
    shape = _limit(c, node, "repeat()", shape)
    return a if k == 1 and axis is not None else c.apply("repeat", node, a, shape=shape,
                                                          raw=(k, axis))


def _tile(c: _Compiler, node: ast.AST, a: _Node, reps_node: ast.expr) -> _Node:
    parts = reps_node.elts if isinstance(reps_node, ast.Tuple | ast.List) else [reps_node]
    reps = [_int(c, "tile", "reps", p) for p in parts]
    if not parts or any(r < 1 for r in reps):
        raise c.expr.error("tile()'s reps must be positive integers, like 3 or (2, 3)",
                           reps_node)
    ndim = max(len(a.shape), len(reps), 1)
    if ndim > MAX_DIMENSIONS:
        raise c.expr.error(f"tile() with {len(reps)} repetitions would have {ndim} dimensions; "
                           f"values have at most {MAX_DIMENSIONS}", reps_node)
    if not a.shape:
        a = _vector(c, node, a)
    if len(a.shape) < ndim:
        a = _promote(c, node, a, ndim)
    full = (1,) * (ndim - len(reps)) + tuple(reps)
    shape = _limit(c, node, "tile()", tuple(n * r for n, r in zip(a.shape, full, strict=True)))
    if all(r == 1 for r in full):
        return a
    return c.apply("tile", node, a, shape=shape, raw=(full,))


def _promote(c: _Compiler, node: ast.AST, a: _Node, ndim: int) -> _Node:
    """``a`` with axes of size 1 put in front up to ``ndim`` dimensions (as NumPy's ``tile``
    and ``kron`` promote the smaller)."""
    if len(a.shape) >= ndim:
        return a
    shape = (1,) * (ndim - len(a.shape)) + a.shape
    return c.apply("reshape", node, a, shape=shape, raw=(shape,))


def _kron(c: _Compiler, node: ast.AST, a: _Node, b: _Node) -> _Node:
    if not a.shape or not b.shape:  # NumPy's kron of a scalar is the product
        return c.apply("mul", node, a, b)
    a, b = _promote(c, node, a, len(b.shape)), _promote(c, node, b, len(a.shape))
    shape = tuple(m * n for m, n in zip(a.shape, b.shape, strict=True))
    return c.apply("kron", node, a, b, shape=_limit(c, node, "kron()", shape))


def _axes(c: _Compiler, node: ast.AST, name: str, a: _Node, axes: ast.expr | None) -> _Node:
    """``transpose(a, axes)`` (every axis reversed without ``axes``), ``expand_dims(a, axis)``
    and ``squeeze(a, axis=None)`` (every axis of size 1 without ``axis``), as NumPy: the
    first a permutation, the others reshapes."""
    if name == "expand_dims":
        shape = _limit(c, node, "expand_dims()", (*a.shape, 1))
        k = axis_of(c.expr, name, shape, axes)
        shape = (*a.shape[:k], 1, *a.shape[k:])
        return c.apply("reshape", node, a, shape=shape, raw=(shape,))
    parts = [] if _is_none(axes) else axes.elts if isinstance(axes, ast.Tuple | ast.List) \
        else [axes]
    chosen = [_axis(c, name, a.shape, part) for part in parts]
    if len(set(chosen)) < len(chosen):
        raise c.expr.error(f"{name}() is given an axis twice", axes)
    if name == "transpose":
        if _is_none(axes):
            return c.apply("transpose", node, a, shape=a.shape[::-1]) if a.shape else a
        if len(chosen) != len(a.shape):
            raise c.expr.error(f"transpose()'s axes must name each of the {len(a.shape)} axes "
                               f"of shape {shape_text(a.shape)} once, got {len(chosen)}", axes)
        return permute(c, node, a, tuple(int(k) for k in chosen))
    if not chosen:
        chosen = [k for k, n in enumerate(a.shape) if n == 1]
    wide = [k for k in chosen if a.shape[k] != 1]
    if wide:
        raise c.expr.error(f"squeeze() of axis {wide[0]} of shape {shape_text(a.shape)}: its "
                           f"size is {a.shape[wide[0]]}, not 1", axes)
    shape = tuple(n for k, n in enumerate(a.shape) if k not in chosen)
    if shape == a.shape:
        return a
    if not shape:  # every axis squeezed away: the one element
        key = (0,) * len(a.shape)
        return c.apply("index", node, a, shape=(), raw=(key if len(key) > 1 else 0,))
    return c.apply("reshape", node, a, shape=shape, raw=(shape,))
