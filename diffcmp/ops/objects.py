"""Arrays of scalars that are not NumPy numbers (SymPy expressions, mpmath numbers): NumPy object
arrays, so that broadcasting, ``@`` and indexing follow NumPy exactly. Shared by the SymPy and
mpmath backends."""

from __future__ import annotations

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
    """Scalars as a one-dimensional object array."""
    array = np.empty(len(parts), dtype=object)
    array[:] = parts
    return array


def transpose(value: Any) -> Any:
    """The transpose of a matrix (a scalar or vector: itself)."""
    return value.T if isinstance(value, np.ndarray) else value
