"""Case values: numbers and arrays of any number of dimensions (up to ``MAX_DIMENSIONS``)
checked and converted to float64 arrays, with
errors that name the key (``params.w[2] is nan``), and sizes refused before anything is walked.

Values may also be arrays of other libraries: PyTorch tensors (``requires_grad``, on any device),
JAX arrays, or anything with ``__array__``; they are read as NumPy arrays by duck typing
(:func:`as_numpy`), without importing those libraries here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy as sp

from ..errors import CaseError
from ..lang.parse import MAX_DIMENSIONS

MAX_ARRAY_ELEMENTS = 5_000_000


def as_numpy(value: Any, key: str, where: str) -> Any:
    """``value`` as a NumPy array when it is another library's array, else unchanged.

    A PyTorch tensor is read with ``.detach().cpu()`` (gradient tracking and device left behind),
    a JAX array or anything else with ``__array__`` with :func:`numpy.asarray`. Complex values are
    refused: a parameter is a point in real space.
    """
    if isinstance(value, np.ndarray | list | tuple | str | bytes | int | float | np.generic) \
            or value is None or isinstance(value, sp.Basic | sp.MatrixBase):
        return value
    if all(hasattr(value, name) for name in ("detach", "cpu", "numpy")):  # a torch.Tensor
        tensor = value.detach().cpu()
        if getattr(tensor, "is_complex", lambda: False)():
            raise CaseError(f"{key} is a complex tensor: values must be real", where)
        if tensor.is_floating_point():
            tensor = tensor.double()  # bfloat16 and float16 have no NumPy reading of their own
        return tensor.numpy()
    if hasattr(value, "__array__"):  # a JAX array, a pandas Series...
        try:
            array = np.asarray(value)
        except Exception as exc:
            raise CaseError(f"{key} cannot be read as an array: {exc}", where) from None
        if array.dtype.kind == "c":
            raise CaseError(f"{key} is complex: values must be real", where)
        return array
    return value


def to_array(value: Any, key: str, where: str) -> np.ndarray:
    """A number or nested lists of numbers, to any depth (or a NumPy array, a PyTorch tensor,
    a JAX array) as a float64 array, with errors that name ``key``."""
    if isinstance(value, sp.MatrixBase):
        value = value.tolist()
    value = as_numpy(value, key, where)
    if isinstance(value, np.ndarray):
        if value.size > MAX_ARRAY_ELEMENTS:
            raise CaseError(f"{key} has {value.size:,} elements; the limit is "
                            f"{MAX_ARRAY_ELEMENTS:,}", where)
        if value.ndim > MAX_DIMENSIONS:
            raise CaseError(f"{key} has {value.ndim} dimensions; the limit is "
                            f"{MAX_DIMENSIONS}", where)
        if value.size == 0:
            raise CaseError(f"{key} is empty", where)
        if value.dtype.kind in "fiu":  # plain numbers: no need to look at each one
            value = value.astype(np.float64)
    if not (isinstance(value, np.ndarray) and value.dtype == np.float64):
        if isinstance(value, np.ndarray):
            value = value.tolist()
        _shape(value, key, where)
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CaseError(f"{key} is not a number: {exc}", where) from None
    if not np.all(np.isfinite(array)):
        index = np.unravel_index(int(np.argmin(np.isfinite(array))), array.shape)
        item = key + "".join(f"[{i}]" for i in index)
        raise CaseError(f"{item} is {array[index]}: values must be finite numbers", where)
    return array


def _shape(value: Any, key: str, where: str, depth: int = 0) -> tuple[int, ...]:
    """Check a nested list is a number or a (not ragged) array of numbers; return its shape.

    The size is checked from the first element of each depth before the others are looked at,
    so a huge list is refused without walking it.
    """
    if isinstance(value, bool) or isinstance(value, str | bytes) or value is None:
        raise CaseError(f"{key} must be a number, not {kind(value)}", where)
    if isinstance(value, int | float | np.integer | np.floating | sp.Number):
        if isinstance(value, sp.Number) and not value.is_real:
            raise CaseError(f"{key} must be a real number, not {value}", where)
        return ()
    if not isinstance(value, list | tuple):
        raise CaseError(f"{key} must be a number, list or list of lists, not {kind(value)}",
                        where)
    if not value:
        raise CaseError(f"{key} is an empty list", where)
    if depth >= MAX_DIMENSIONS:
        raise CaseError(f"{key.split('[')[0]} has more than {MAX_DIMENSIONS} dimensions",
                        where)
    total, inner = len(value), value  # the elements the first items of each depth imply
    while isinstance(inner, list | tuple) and inner:
        total, inner = (total * len(inner[0]) if isinstance(inner[0], list | tuple)
                        else total), inner[0]
        if total > MAX_ARRAY_ELEMENTS:
            raise CaseError(f"{key} has {total:,} elements; the limit is "
                            f"{MAX_ARRAY_ELEMENTS:,}", where)
    first = value[0]
    item_shape = _shape(first, f"{key}[0]", where, depth + 1)
    for i, item in enumerate(value[1:], start=1):
        shape = _shape(item, f"{key}[{i}]", where, depth + 1)
        if shape != item_shape:
            raise CaseError(f"{key} is ragged: {key}[0] has shape {_shape_name(item_shape)} "
                            f"but {key}[{i}] has shape {_shape_name(shape)}", where)
    return (len(value), *item_shape)


def _shape_name(shape: tuple[int, ...]) -> str:
    return "scalar" if not shape else "(" + ", ".join(map(str, shape)) + ")"


def kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    names = {bool: "a boolean", str: "a string", type(None): "empty", list: "a list",
             bytes: "bytes"}
    name = type(value).__name__
    return names.get(type(value), f"{'an' if name[0] in 'aeiou' else 'a'} {name}")
