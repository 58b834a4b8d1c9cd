"""Arrays of scalars that are not NumPy numbers (SymPy expressions, mpmath numbers): NumPy object
arrays, so that broadcasting, ``@`` and indexing follow NumPy exactly. Shared by the SymPy and
mpmath backends."""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np


def elementwise(function: Callable[..., Any], nin: int = 1) -> Callable[..., Any]:
    """``function`` applied to each element of ``nin`` broadcast object arrays (or scalars)."""
    ufunc = np.frompyfunc(function, nin, 1)
    return lambda *args: ufunc(*args)


def flat(value: Any) -> list[Any]:
    """The elements of an object array, row-major (a scalar: itself)."""
    return list(np.ravel(value)) if isinstance(value, np.ndarray) else [value]


def stack(parts: list[Any]) -> np.ndarray:
    """Scalars as a one-dimensional object array; arrays of one shape stacked along a new first
    axis."""
    if any(isinstance(p, np.ndarray) and p.ndim for p in parts):
        return np.stack([np.asarray(p, dtype=object) for p in parts])
    array = np.empty(len(parts), dtype=object)
    array[:] = parts
    return array


def reduce_along(reduce: Callable[[list[Any]], Any], value: Any, axis: int | None) -> Any:
    """``reduce`` (a list of elements to one) over ``axis`` of an object array: an array without
    that axis, or a scalar for a vector. ``axis=None`` reduces every element to a scalar."""
    if axis is None or not isinstance(value, np.ndarray):
        return reduce(flat(value))
    moved = np.moveaxis(value, axis, -1)
    if moved.ndim == 1:
        return reduce(list(moved))
    out = np.empty(moved.shape[:-1], dtype=object)
    for index in np.ndindex(*out.shape):
        out[index] = reduce(list(moved[index]))
    return out


def map_along(function: Callable[[list[Any]], list[Any]], value: np.ndarray,
              axis: int) -> np.ndarray:
    """``function`` (a list of elements to as many) applied to each line of an object array
    along ``axis`` (softmax of each row): an array of ``value``'s shape."""
    moved = np.moveaxis(value, axis, -1)
    out = np.empty(moved.shape, dtype=object)
    for index in np.ndindex(*moved.shape[:-1]):
        out[index] = stack(function(list(moved[index])))
    return np.moveaxis(out, -1, axis)


def transpose(value: Any) -> Any:
    """The transpose of an array: its axes reversed (a scalar or vector: itself)."""
    return value.T if isinstance(value, np.ndarray) else value


def sum_to(value: Any, shape: tuple[int, ...]) -> Any:
    """``value`` summed down to ``shape``: the axes broadcasting added or stretched from 1 (the
    adjoint of broadcasting). Works on float and object arrays alike."""
    array = np.asarray(value)
    lead = array.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and array.shape[lead + i] != 1)
    if axes:
        array = array.sum(axis=axes, keepdims=True)
    return array.reshape(shape)[()]


def scatter(value: Any, shape: tuple[int, ...], key: Any, zero: Any = 0) -> np.ndarray:
    """An array of ``shape`` holding ``zero`` except ``[key]``, which holds ``value`` (the
    adjoint of indexing)."""
    kind = object if isinstance(np.asarray(value).dtype, np.dtypes.ObjectDType) or not isinstance(
        zero, int) else np.result_type(value, np.float64)
    out = np.full(shape, zero, dtype=kind)
    out[key] = value
    return out


def _triangle(a: np.ndarray, k: int, upper: bool, zero: Any) -> np.ndarray:
    """``triu`` (``upper``) or ``tril`` of a matrix (of each matrix of the last two axes),
    ``zero`` where it is cut away."""
    keep = np.tri(*a.shape[-2:], k - 1 if upper else k, dtype=bool)
    keep = np.broadcast_to(~keep if upper else keep, a.shape)
    out = np.full(a.shape, zero, dtype=object)
    out[keep] = a[keep]
    return out


def _diag(v: np.ndarray, zero: Any, k: int = 0) -> np.ndarray:
    """The square matrix holding ``v`` on its ``k``-th diagonal, ``zero`` elsewhere."""
    n = len(v) + abs(k)
    out = np.full((n, n), zero, dtype=object)
    out[np.arange(len(v)) + max(-k, 0), np.arange(len(v)) + max(k, 0)] = v
    return out


def structure(zero: Any, total: Callable[[list[Any]], Any]) -> dict[str, Callable[..., Any]]:
    """The structural ops of issue 19 on object arrays (one line each): ``zero`` fills what
    ``triu``, ``tril`` and ``diag`` cut away, ``total`` sums a list (``trace``)."""
    return {
        "concatenate": lambda parts, axis: np.concatenate(list(parts), axis),
        "flip": lambda a, axis: np.flip(a, axis),
        "roll": lambda a, shift, axis: np.roll(a, shift, axis),
        "repeat": lambda a, k, axis: np.repeat(a, k, axis),
        "tile": lambda a, reps: np.tile(a, reps),
        "triu": lambda a, k: _triangle(a, k, True, zero),
        "tril": lambda a, k: _triangle(a, k, False, zero),
        "diag": lambda v, k: _diag(v, zero, k),
        "diagonal": lambda a, k: np.diagonal(a, k).copy(),
        "trace": lambda a: total(list(np.diagonal(a))),
        "outer": lambda u, v: elementwise(operator.mul, 2)(u[:, None], v[None, :]),
        "kron": lambda a, b: np.kron(a, b),
    }


def einsum_terms(spec: str) -> tuple[list[str], str]:
    """An explicit einsum spec (``"ij,jk->ik"``) as its input terms and its output term."""
    inputs, output = spec.split("->")
    return inputs.split(","), output


def einsum(parts: list[Any], spec: str, total: Callable[[list[Any]], Any]) -> Any:
    """NumPy's ``einsum`` of an explicit spec on object arrays: each output element the ``total``
    of its products (a scalar for an empty output term)."""
    terms, output = einsum_terms(spec)
    arrays = [np.asarray(p, dtype=object) for p in parts]
    sizes = {letter: n for term, a in zip(terms, arrays, strict=True)
             for letter, n in zip(term, a.shape, strict=True)}
    summed = sorted(set(sizes) - set(output))
    out = np.empty(tuple(sizes[letter] for letter in output), dtype=object)
    for at in np.ndindex(*out.shape):
        chosen = dict(zip(output, at, strict=True))
        products = []
        for inner in np.ndindex(*(sizes[letter] for letter in summed)):
            chosen.update(zip(summed, inner, strict=True))
            factors = [a[tuple(chosen[letter] for letter in term)]
                       for term, a in zip(terms, arrays, strict=True)]
            product = factors[0]
            for factor in factors[1:]:
                product = product * factor
            products.append(product)
        out[at] = total(products) if len(products) > 1 else products[0]
    return out[()] if not output else out


def _scatter_add(g: Any, shape: tuple[int, ...], index: Any, axis: int, zero: Any) -> np.ndarray:
    out = np.full(shape, zero, dtype=object)
    np.add.at(out, (slice(None),) * axis + (np.array(index, dtype=np.intp),),
              np.asarray(g, dtype=object))
    return out


def gathering(zero: Any, total: Callable[[list[Any]], Any]) -> dict[str, Callable[..., Any]]:
    """Integer indexing and einsum (issue 19) on object arrays (one line each): ``zero`` starts
    ``scatter_add``'s sums, ``total`` sums a list (``einsum``)."""
    return {
        "take": lambda a, index, axis: np.take(a, np.array(index, dtype=np.intp), axis),
        "take_along_axis": lambda a, index, axis: np.take_along_axis(
            a, np.array(index, dtype=np.intp), axis),
        "einsum": lambda parts, spec: einsum(list(parts), spec, total),
        "scatter_add": lambda g, shape, index, axis: _scatter_add(g, shape, index, axis, zero),
    }


#: Arithmetic and structure on object arrays, the same for every such backend (one line each).
ARITHMETIC: dict[str, Callable[..., Any]] = {
    "add": elementwise(operator.add, 2),
    "sub": elementwise(operator.sub, 2),
    "mul": elementwise(operator.mul, 2),
    "div": elementwise(operator.truediv, 2),
    "pow": elementwise(operator.pow, 2),
    "neg": elementwise(operator.neg),
    "matmul": lambda a, b: np.matmul(a, b),
    "transpose": transpose,
    "index": lambda a, key: (a if isinstance(a, np.ndarray) else np.array(a, dtype=object))[key],
    "reshape": lambda a, shape: np.reshape(a, shape),
    "stack": stack,
    "broadcast_to": lambda a, shape: np.broadcast_to(np.asarray(a, dtype=object), shape),
    "sum_to": sum_to,
    # arrays of any number of dimensions (issue 19)
    "permute_dims": lambda a, axes: np.transpose(a, axes),
}


# reductions and scans (issue 19)
def _permute(x: Any, a: np.ndarray, axis: int, compare: Callable[[Any, Any], int],
             inverse: bool) -> np.ndarray:
    """``x`` (of ``a``'s shape) reordered along ``axis`` as ``a``'s lines sort (stably, by
    ``compare``: negative, zero or positive), or put back (``inverse``) where that order took
    each element from."""
    lines = np.moveaxis(np.asarray(a, dtype=object), axis, -1)
    values = np.moveaxis(np.broadcast_to(np.asarray(x, dtype=object), np.shape(a)), axis, -1)
    out = np.empty(lines.shape, dtype=object)
    key = functools.cmp_to_key(compare)
    for index in np.ndindex(*lines.shape[:-1]):
        line = list(lines[index])
        order = sorted(range(len(line)), key=lambda i: key(line[i]))  # sorted() is stable
        row = values[index]
        if inverse:
            placed = [None] * len(order)
            for position, source in enumerate(order):
                placed[source] = row[position]
            out[index] = stack(placed)
        else:
            out[index] = stack([row[source] for source in order])
    return np.moveaxis(out, -1, axis)


def scans(compare: Callable[[Any, Any], int]) -> dict[str, Callable[..., Any]]:
    """``cumsum``, ``cumprod``, ``sort`` and ``sort``'s derivative ops on object arrays (one
    line each), ``compare`` ordering two elements (negative, zero or positive)."""
    return {
        "cumsum": lambda a, axis: map_along(lambda v: list(itertools.accumulate(v)), a, axis),
        "cumprod": lambda a, axis: map_along(
            lambda v: list(itertools.accumulate(v, operator.mul)), a, axis),
        "sort": lambda a, axis: _permute(a, a, axis, compare, False),
        "sort_scatter": lambda g, a, axis: _permute(g, a, axis, compare, True),
        "sort_gather": lambda x, a, axis: _permute(x, a, axis, compare, False),
    }
