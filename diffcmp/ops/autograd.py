"""The language's operations in HIPS autograd (``autograd.numpy``), float64 (one line each).

Most of the table is NumPy's own (:func:`diffcmp.ops.numpy.array_ops`) read from
``autograd.numpy`` and ``autograd.scipy.special``; the rest replaces what autograd 1.9 cannot
differentiate, with the same values as NumPy:

- ``cbrt`` and ``heaviside`` have no VJP there: ``cbrt`` is NumPy's with its derivative
  ``1 / (3 cbrt(x)**2)`` (an autograd primitive), ``heaviside`` is built from ``where``;
- ``flip``, ``take``, ``take_along_axis`` and ``sort`` (its VJP is 1-d only) are indexing, whose
  VJP accumulates repeated indices; ``sort`` gathers by the stable ``argsort``;
- ``clip`` has no VJP for its bounds: it is ``minimum(maximum(a, lo), hi)``, NumPy's definition;
- ``cumprod`` has no VJP: a running product along the axis (exact where an element is 0, unlike
  ``cumsum(g * out) / x``);
- ``diagonal`` by indexing (autograd's VJP takes the main diagonal only), ``softmax`` and
  ``log_softmax`` from ``logsumexp`` (``autograd.scipy.special`` has neither), ``polygamma``
  SciPy's through autograd;
- linear algebra from ``autograd.numpy.linalg``: ``nan`` where NumPy raises ``LinAlgError``
  (as :mod:`diffcmp.ops.linalg_float`), ``eigvalsh`` from ``eigh`` (``eigvalsh`` has no VJP),
  ``matrix_power`` by repeated products (it has none either).

The derivative ops of the spec (``broadcast_to``, ``sum_to``, ``scatter``, ``scatter_add``,
``sort_scatter``, ``sort_gather``, ``eigh_vectors``) are left out: they appear only in
vectorised gradients, never in a loss an engine compiles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import autograd.numpy as anp
import autograd.scipy.special as asp
import numpy as np
from autograd.extend import defvjp, primitive

from .linalg_float import or_nan
from .numpy import array_ops


@primitive
def _cbrt(x: Any) -> Any:
    """NumPy's real cube root."""
    return np.cbrt(x)


defvjp(_cbrt, lambda ans, x: lambda g: g / (3 * ans**2))


def _along(index: Any, axis: int) -> tuple[Any, ...]:
    """The fancy index that picks ``a``'s elements at ``index`` along ``axis`` (NumPy's
    ``take_along_axis``): ``index`` there, every other axis its own position."""
    index = np.asarray(index, dtype=np.intp)
    grid = list(np.indices(index.shape, sparse=True))
    grid[axis] = index
    return tuple(grid)


def _flip(a: Any, axis: int | None) -> Any:
    return a[tuple(slice(None, None, -1) if axis is None or i == axis else slice(None)
                   for i in range(anp.ndim(a)))]


def _diagonal(a: Any, k: int) -> Any:
    """The ``k``-th diagonal of a matrix, by indexing (autograd's VJP of ``diagonal`` takes the
    main diagonal only)."""
    rows, columns = a.shape
    n = max(0, min(rows + min(k, 0), columns - max(k, 0)))
    return a[np.arange(n) + max(-k, 0), np.arange(n) + max(k, 0)]


def _cumprod(a: Any, axis: int) -> Any:
    """The running product along ``axis``, one multiplication per step."""
    moved = anp.moveaxis(a, axis, 0)
    out = [moved[0]]
    for i in range(1, moved.shape[0]):
        out.append(out[-1] * moved[i])
    return anp.moveaxis(anp.stack(out), 0, axis)


def _symmetric(a: Any) -> Any:
    return (a + anp.transpose(a)) / 2


def _cholesky(a: Any) -> Any:
    lower = anp.linalg.cholesky(_symmetric(a))
    if not np.all(np.isfinite(getattr(lower, "_value", lower))):
        raise np.linalg.LinAlgError("not positive definite")
    return lower


def _logdet(a: Any) -> Any:
    """``log(det(A))``: ``nan`` where the determinant is negative, ``-inf`` where it is 0."""
    sign, value = anp.linalg.slogdet(a)
    return value if sign > 0 else (-np.inf if sign == 0 else np.nan)


def _matrix_power(a: Any, k: int) -> Any:
    """``A`` to the integer power ``k`` (negative: of ``inv(A)``), by repeated products."""
    base = anp.linalg.inv(a) if k < 0 else a
    out = np.eye(a.shape[0])
    for _ in range(abs(k)):
        out = anp.matmul(out, base)
    return out


#: The language's operations in autograd (one line each).
OPS: dict[str, Callable[..., Any]] = {
    **array_ops(anp, asp),
    "cbrt": _cbrt,
    "heaviside": lambda x, h0: anp.where(x > 0, 1.0, anp.where(x < 0, 0.0, h0)),
    "flip": _flip,
    "take": lambda a, index, axis: a[(slice(None),) * axis + (np.asarray(index, np.intp),)],
    "take_along_axis": lambda a, index, axis: a[_along(index, axis)],
    "sort": lambda a, axis: a[_along(anp.argsort(a, axis, kind="stable"), axis)],
    "clip": lambda a, lo, hi: anp.minimum(anp.maximum(a, lo), hi),
    "cumprod": _cumprod,
    "diagonal": _diagonal,
    "softmax": lambda a, axis: anp.exp(a - asp.logsumexp(a, axis, keepdims=True)),
    "log_softmax": lambda a, axis: a - asp.logsumexp(a, axis, keepdims=True),
    "polygamma": lambda n, x: asp.polygamma(n, x),
    # linear algebra (issue 19)
    "inv": or_nan(anp.linalg.inv, lambda a: a.shape),
    "solve": or_nan(anp.linalg.solve, lambda a, b: anp.shape(b)),
    "det": anp.linalg.det,
    "logdet": _logdet,
    "cholesky": or_nan(_cholesky, lambda a: a.shape),
    "eigvalsh": lambda a: anp.linalg.eigh(_symmetric(a))[0],
    "svdvals": lambda a: anp.linalg.svd(a, compute_uv=False),
    "matrix_power": or_nan(_matrix_power, lambda a, k: a.shape),
}
