"""Vector-Jacobian rules of the structural operations of issue 19 (stacking, concatenation,
repeats, tiles, diagonals, ``kron``, the scans, integer indexing and ``einsum``), in the
namespace of :mod:`diffcmp.matcalc.namespace`; :data:`diffcmp.matcalc.rules.VJP` registers them,
one line each."""

from __future__ import annotations

import math
import string
from typing import Any

import numpy as np

from .namespace import Namespace, sum_along


def stack(k: Namespace, g: Any, ans: Any, *parts: Any) -> tuple[Any, ...]:
    return tuple(k.raw("index")(g, i) for i in range(len(parts)))


def concatenate(k: Namespace, g: Any, ans: Any, *parts_axis: Any) -> tuple[Any, ...]:
    """Each part's slice of ``g`` along the axis."""
    *parts, axis = parts_axis
    out, start = [], 0
    for part in parts:
        stop = start + part.shape[axis]
        key = (*(slice(0, n, 1) for n in g.shape[:axis]), slice(start, stop, 1))
        out.append(k.raw("index")(g, key if axis else key[0]))
        start = stop
    return tuple(out)


def unrepeat(k: Namespace, g: Any, shape: Any, times: int, axis: int | None) -> Any:
    """The adjoint of ``repeat(a, times, axis)`` for ``a`` of ``shape`` (any number of
    dimensions): each run of ``times`` copies, an axis of its own after a reshape, summed."""
    reshape, shape = k.raw("reshape"), tuple(shape)
    if axis is None:  # the flattened array repeated
        return reshape(sum_along(k, reshape(g, (math.prod(shape), times)), 1), shape)
    runs = (*shape[:axis], shape[axis], times, *shape[axis + 1:])
    return sum_along(k, reshape(g, runs), axis + 1)


def untile(k: Namespace, g: Any, shape: Any, reps: tuple[int, ...]) -> Any:
    """The adjoint of ``tile(a, reps)`` for ``a`` of ``shape`` (one repetition per axis, any
    number of axes): the tiles summed, each axis split by a reshape into (tile, element)."""
    split = tuple(n for r, m in zip(reps, shape, strict=True) for n in (r, m))
    out = k.raw("reshape")(g, split)
    for axis in reversed(range(len(reps))):
        out = sum_along(k, out, 2 * axis)
    return out


def undiagonal(k: Namespace, d: Any, shape: Any, offset: int = 0) -> Any:
    """A matrix of ``shape`` holding ``d`` on its ``offset``-th diagonal (the adjoint of
    ``diagonal``)."""
    square = k.raw("diag")(d, 0)
    if tuple(square.shape) == tuple(shape):
        return square
    p, row, column = square.shape[0], max(-offset, 0), max(offset, 0)
    return k.raw("scatter")(square, tuple(shape), (slice(row, row + p, 1),
                                                   slice(column, column + p, 1)))


def kron(k: Namespace, g: Any, ans: Any, a: Any, b: Any) -> tuple[Any, Any]:
    """``kron(a, b)`` is ``repeat(a) * tile(b)`` elementwise (each element of ``a`` spread over
    a block of ``b``'s shape, ``b`` tiled over ``a``'s): the adjoints by those two moves."""
    spread = a
    for axis, n in enumerate(b.shape):
        spread = k.raw("repeat")(spread, n, axis)
    tiled = k.raw("tile")(b, tuple(a.shape))
    da = g * tiled
    for axis in reversed(range(len(b.shape))):
        within = tuple(n * b.shape[i] if i < axis else n for i, n in enumerate(a.shape))
        da = unrepeat(k, da, within, b.shape[axis], axis)
    return da, untile(k, g * spread, b.shape, tuple(a.shape))


# reductions and scans (issue 19)
def exclusive(k: Namespace, a: Any, axis: int) -> Any:
    """The product of the elements before each one along ``axis`` (1 for the first), with no
    division: the cumulative product of ``a`` shifted one place along the line."""
    position = k.raw("cumsum")(k.raw("broadcast_to")(1, a.shape), axis)  # 1 to n on each line
    return k.raw("cumprod")(k.where(k.eq(position, 1), 1, k.raw("roll")(a, 1, axis)), axis)


def uncumsum(k: Namespace, g: Any, axis: int) -> Any:
    """The adjoint of ``cumsum``: each element's share of every partial sum from it on, the
    cumulative sum taken from the end of the line (``flip(cumsum(flip(g)))``)."""
    return k.raw("flip")(k.raw("cumsum")(k.raw("flip")(g, axis), axis), axis)


def cumprod(k: Namespace, g: Any, ans: Any, a: Any, axis: int) -> tuple[Any]:
    """``sum_{j >= i} g_j prod_{m <= j, m != i} a_m`` with no division, so that it is exact
    where elements are zero, and so is its own derivative (second order): the product of the
    elements before ``i`` (an exclusive cumulative product) times ``s_i = g_i + a_{i+1}
    s_{i+1}``, a linear recurrence from the end of the line, solved by doubling (``log2 n``
    steps of shifts, each composing the recurrence's steps pairwise)."""
    n = a.shape[axis]
    g = k.raw("broadcast_to")(g, a.shape)
    if n == 1:
        return (g,)
    position = k.raw("cumsum")(k.raw("broadcast_to")(1, a.shape), axis)  # 1 to n on each line

    def ahead(x: Any, d: int) -> Any:  # x_{i+d} at i, 0 past the end of the line
        return k.where(k.le(position, n - d), k.raw("roll")(x, n - d, axis), 0)

    factor, total, d = ahead(a, 1), g, 1
    while d < n:
        total = total + factor * ahead(total, d)
        factor = factor * ahead(factor, d)
        d *= 2
    return (exclusive(k, a, axis) * total,)


# integer indexing and einsum (issue 19)
def flat_indices(index: Any, shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    """``take_along_axis(a, index, axis)`` of ``a`` of ``shape`` as ``take`` of ``a`` flattened:
    the flat position of each element it takes (row-major, ``index``'s order)."""
    coordinates = list(np.indices(np.shape(index)))
    coordinates[axis] = np.asarray(index)
    return tuple(np.ravel_multi_index(coordinates, shape).ravel().tolist())


def take_along_axis(k: Namespace, g: Any, ans: Any, a: Any, index: Any,
                     axis: int) -> tuple[Any]:
    """``g`` added back where it was taken: a ``scatter_add`` into ``a`` flattened."""
    reshape, size = k.raw("reshape"), math.prod(a.shape)
    spread = k.raw("scatter_add")(reshape(g, (math.prod(np.shape(index)),)), (size,),
                                  flat_indices(index, tuple(a.shape), axis), 0)
    return (reshape(spread, tuple(a.shape)),)


def einsum(k: Namespace, g: Any, ans: Any, *parts_spec: Any) -> tuple[Any, ...]:
    """Each part's adjoint: the einsum of ``g`` with the other parts onto the part's term. A
    letter repeated in the term (``"ii"``) is renamed and joined to the first by an identity
    matrix (the adjoint of a diagonal is zero off it); a letter only the part has is spread by a
    vector of ones."""
    *parts, spec = parts_spec
    inputs, output = spec.split("->")
    terms = inputs.split(",")
    sizes = {letter: n for term, part in zip(terms, parts, strict=True)
             for letter, n in zip(term, part.shape, strict=True)}
    free = iter(sorted(set(string.ascii_letters) - set(spec)))
    adjoints = []
    for i, term in enumerate(terms):
        others = [(t, p) for j, (t, p) in enumerate(zip(terms, parts, strict=True)) if j != i]
        factors, written = [(output, g), *others], ""
        for letter in term:
            if letter in written:  # a repeated letter: a fresh one, tied to it by the identity
                fresh = next(free)
                ones = k.raw("broadcast_to")(1, (sizes[letter],))
                factors.append((letter + fresh, k.raw("diag")(ones, 0)))
                letter = fresh
            elif not any(letter in t for t, _ in factors):  # summed in this part alone
                factors.append((letter, k.raw("broadcast_to")(1, (sizes[letter],))))
            written += letter
        adjoint_spec = ",".join(t for t, _ in factors) + "->" + written
        adjoints.append(k.listed("einsum")([p for _, p in factors], adjoint_spec))
    return tuple(adjoints)
