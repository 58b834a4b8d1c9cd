"""The linear algebra of issue 19 in ball arithmetic (python-flint's ``arb_mat`` and
``acb_mat``): every result rigorously encloses the exact one, as the rest of
:mod:`diffcmp.ops.arb`.

- ``inv``, ``solve``, ``det`` and ``matrix_power`` are Arb's own (``arb_mat.inv``, ``solve``,
  ``det``, ``**``: Gaussian elimination in balls, whose failure means the balls cannot exclude
  a singular matrix); ``logdet`` is the logarithm of the certified determinant.
- ``cholesky`` is the Cholesky-Banachiewicz recurrence in balls, each pivot proven positive.
- ``eigvalsh`` and ``eigh_vectors`` come from ``acb_mat.eig`` (Arb's certified eigenpairs of a
  matrix whose eigenvalues are simple: Rump's or van der Hoeven and Mourrain's enclosure of the
  approximate ones, with the separation proven), the eigenvalues' real parts sorted, each
  eigenvector divided by its largest element and normalised to unit length. Where the balls
  cannot separate the eigenvalues (a repeated eigenvalue, or too low a precision) they raise
  :class:`~diffcmp.errors.UndecidedError`: the reference raises its precision, and a point
  whose eigenvalues tie ends ``unresolved`` at the ceiling.
- ``svdvals`` are the square roots of the eigenvalues of the smaller Gram matrix
  (``A.T @ A``, or ``A @ A.T``), descending.

Undefined values follow :mod:`diffcmp.ops.arb`: an input proven undefined gives ``nan``
throughout; a singular matrix proven so (a determinant exactly 0), a pivot proven not positive,
a determinant proven not positive under ``logdet``, give ``nan``; what the balls cannot decide
gives :func:`~diffcmp.ops.arb.undecided` balls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from flint import acb_mat, arb, arb_mat

from ..errors import UndecidedError
from .linalg_exact import symmetric


def _undecided() -> arb:
    return arb(0, float("inf"))


def _state(*arrays: Any) -> str:
    """``"nan"`` if an element is proven undefined, ``"undecided"`` if one is not finite,
    else ``""``."""
    elements = [x for a in arrays for x in np.ravel(np.asarray(a, dtype=object))]
    if any(not x.mid().is_finite() for x in elements):
        return "nan"
    if any(not x.is_finite() for x in elements):
        return "undecided"
    return ""


def _fill(shape: tuple[int, ...], state: str) -> Any:
    value = arb("nan") if state == "nan" else _undecided()
    return value if shape == () else np.full(shape, value, dtype=object)


def _objects(m: arb_mat) -> np.ndarray:
    rows = m.tolist()
    out = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        out[i, :] = row
    return out


def _guarded(function: Callable[..., Any], shape: Callable[..., tuple[int, ...]]
             ) -> Callable[..., Any]:
    """``function`` of matrices, honest about ``nan`` (see the module docstring): a singular
    matrix (``ZeroDivisionError`` from Arb) is ``nan`` where its determinant is exactly 0,
    undecided elsewhere."""
    def apply(a: Any, *rest: Any) -> Any:
        state = _state(a, *[r for r in rest if isinstance(r, np.ndarray)])
        if state:
            return _fill(shape(a, *rest), state)
        try:
            return function(a, *rest)
        except ZeroDivisionError:
            singular = arb_mat(a.tolist()).det().is_zero()
            return _fill(shape(a, *rest), "nan" if singular else "undecided")
    return apply


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    column = b.ndim == 1
    x = arb_mat(a.tolist()).solve(arb_mat([[v] for v in b] if column else b.tolist()))
    out = _objects(x)
    return out[:, 0].copy() if column else out


def _power(a: np.ndarray, k: int) -> np.ndarray:
    m = arb_mat(a.tolist())
    return _objects((m.inv() if k < 0 else m) ** abs(k))


def _logdet(a: np.ndarray) -> arb:
    state = _state(a)
    if state:
        return _fill((), state)
    d = arb_mat(a.tolist()).det()
    if d > 0:
        return d.log()
    return arb("nan") if d <= 0 else _undecided()


def _cholesky(a: np.ndarray) -> np.ndarray:
    state = _state(a)
    if state:
        return _fill(a.shape, state)
    s = symmetric(a)
    n = s.shape[0]
    lower = np.full(s.shape, arb(0), dtype=object)
    for j in range(n):
        pivot = s[j, j] - sum((lower[j, k] ** 2 for k in range(j)), arb(0))
        if not pivot > 0:
            return _fill(a.shape, "nan" if pivot <= 0 else "undecided")
        lower[j, j] = pivot.sqrt()
        for i in range(j + 1, n):
            total = sum((lower[i, k] * lower[j, k] for k in range(j)), arb(0))
            lower[i, j] = (s[i, j] - total) / lower[j, j]
    return lower


def eigh(a: np.ndarray) -> tuple[list[arb], np.ndarray]:
    """Certified eigenvalues (ascending) and unit eigenvectors (columns, the largest element of
    each positive) of the symmetric part of ``a``; :class:`UndecidedError` where the balls do
    not separate them."""
    s = symmetric(a)
    try:
        values, vectors = acb_mat(arb_mat(s.tolist())).eig(right=True)
    except ValueError:
        raise UndecidedError("eigenvalues this precision cannot separate (a repeated "
                             "eigenvalue?)") from None
    n = s.shape[0]
    order = sorted(range(n), key=lambda i: float(values[i].real.mid()))
    real = [values[i].real for i in order]
    if any(not (real[i] < real[i + 1]) for i in range(n - 1)):
        raise UndecidedError("eigenvalues whose balls overlap at this precision")
    columns = np.empty((n, n), dtype=object)
    for j, i in enumerate(order):
        v = [vectors[r, i] for r in range(n)]
        top = max(range(n), key=lambda r: float(abs(v[r].mid())))
        scaled = [x / v[top] for x in v]
        if any(not x.imag.contains(0) for x in scaled):
            raise UndecidedError("an eigenvector this precision cannot prove real")
        parts = [x.real for x in scaled]
        length = sum((x * x for x in parts), arb(0)).sqrt()
        columns[:, j] = [x / length for x in parts]
    return real, columns


def _eigvalsh(a: np.ndarray) -> np.ndarray:
    state = _state(a)
    return _fill((a.shape[0],), state) if state else np.array(eigh(a)[0], dtype=object)


def _eigh_vectors(a: np.ndarray) -> np.ndarray:
    state = _state(a)
    return _fill(a.shape, state) if state else eigh(a)[1]


def _svdvals(a: np.ndarray) -> np.ndarray:
    p = min(a.shape)
    state = _state(a)
    if state:
        return _fill((p,), state)
    gram = a.T @ a if a.shape[0] >= a.shape[1] else a @ a.T
    values = eigh(gram)[0]  # non-negative: a ball reaching below 0 is cut at 0
    return np.array([v.max(arb(0)).sqrt() for v in values[::-1]], dtype=object)


#: Ball linear algebra (one line each), merged into :data:`diffcmp.ops.arb.OPS`.
OPS: dict[str, Callable[..., Any]] = {
    "inv": _guarded(lambda a: _objects(arb_mat(a.tolist()).inv()), lambda a: a.shape),
    "solve": _guarded(_solve, lambda a, b: b.shape),
    "det": _guarded(lambda a: arb_mat(a.tolist()).det(), lambda a: ()),
    "logdet": _logdet,
    "cholesky": _cholesky,
    "eigvalsh": _eigvalsh,
    "svdvals": _svdvals,
    "matrix_power": _guarded(_power, lambda a, k: a.shape),
    "eigh_vectors": _eigh_vectors,
}
