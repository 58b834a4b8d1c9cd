"""The linear algebra of issue 19 on NumPy arrays: float64 (:data:`OPS`, NumPy's own
``numpy.linalg``) and complex step (:data:`COMPLEX_OPS`, analytic forms).

Like every float64 op of diffcmp, nothing raises at a point outside an op's domain: a singular
matrix's ``inv`` or ``solve``, or ``cholesky`` of a matrix that is not positive definite, is
``nan`` throughout (NumPy raises ``LinAlgError`` there), and ``logdet`` is ``nan`` where
``det(A) < 0`` (``-inf`` where it is 0), as ``torch.logdet``. ``eigvalsh``, ``eigh_vectors`` and
``cholesky`` read the symmetric part ``(A + A.T) / 2`` (see :mod:`diffcmp.ops.spec`).

Complex step needs the analytic continuation of each op, which NumPy's complex routines are not
where they are Hermitian (``cholesky``, ``eigvalsh``, ``svd`` conjugate): here they are the
plain (non-conjugating) Cholesky factorisation, the eigenvalues of the complex symmetric matrix
(``eigvals``, sorted by real part), and the square roots of those of its Gram matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def symmetric(a: Any) -> Any:
    """The symmetric part ``(A + A.T) / 2`` of a matrix."""
    return (a + np.swapaxes(a, -1, -2)) / 2


def or_nan(function: Callable[..., Any], shape: Callable[..., tuple[int, ...]]
           ) -> Callable[..., Any]:
    """``function``, ``nan`` of ``shape(*args)`` (the arrays' dtype) where NumPy raises
    ``LinAlgError``; the arrays may be autograd's boxes (they carry a ``dtype``)."""
    def apply(*args: Any) -> Any:
        try:
            return function(*args)
        except np.linalg.LinAlgError:
            dtype = np.result_type(*[_dtype(a) for a in args if not isinstance(a, int)])
            return np.full(shape(*args), np.nan, dtype=dtype)
    return apply


def _dtype(a: Any) -> np.dtype:
    found = getattr(a, "dtype", None)
    return np.asarray(a).dtype if found is None else found


def logdet(a: Any) -> Any:
    """``log(det(A))``: ``nan`` where the determinant is negative, ``-inf`` where it is 0."""
    sign, value = np.linalg.slogdet(a)
    return value if sign > 0 else (-np.inf if sign == 0 else np.nan)


def _cholesky(a: Any) -> Any:
    lower = np.linalg.cholesky(symmetric(a))
    if not np.all(np.isfinite(lower)):
        raise np.linalg.LinAlgError("not positive definite")
    return lower


def eigh_vectors(a: Any) -> Any:
    """Unit eigenvectors of the symmetric part, as columns in ascending order of their
    eigenvalues, each with its largest element (the first of equal ones) positive."""
    return signed(np.linalg.eigh(symmetric(a))[1])


def signed(v: Any) -> Any:
    """Eigenvectors (columns) with the element of largest magnitude positive."""
    columns = np.arange(v.shape[1])
    largest = v[np.argmax(np.abs(v), axis=0), columns]
    return v * np.where(np.real(largest) < 0, -1.0, 1.0)


def matrix_power(a: Any, k: int) -> Any:
    """``A`` to the integer power ``k`` (negative: of ``inv(A)``)."""
    return np.linalg.matrix_power(np.linalg.inv(a) if k < 0 else a, abs(k))


#: float64 linear algebra (one line each), merged into :data:`diffcmp.ops.numpy.OPS`.
OPS: dict[str, Callable[..., Any]] = {
    "inv": or_nan(np.linalg.inv, lambda a: a.shape),
    "solve": or_nan(np.linalg.solve, lambda a, b: np.shape(b)),
    "det": np.linalg.det,
    "logdet": logdet,
    "cholesky": or_nan(_cholesky, lambda a: a.shape),
    "eigvalsh": lambda a: np.linalg.eigvalsh(symmetric(a)),
    "svdvals": lambda a: np.linalg.svd(a, compute_uv=False),
    "matrix_power": or_nan(matrix_power, lambda a, k: a.shape),
    "eigh_vectors": eigh_vectors,
}


def complex_cholesky(a: Any) -> Any:
    """The Cholesky factor of the symmetric part, without conjugation (analytic)."""
    s = symmetric(np.asarray(a, dtype=np.complex128))
    n = s.shape[0]
    lower = np.zeros_like(s)
    for j in range(n):
        lower[j, j] = np.sqrt(s[j, j] - np.sum(lower[j, :j] ** 2))
        for i in range(j + 1, n):
            lower[i, j] = (s[i, j] - np.sum(lower[i, :j] * lower[j, :j])) / lower[j, j]
    return lower


def complex_eigvalsh(a: Any) -> Any:
    """The eigenvalues of the (complex) symmetric part, ascending by real part."""
    values = np.linalg.eigvals(symmetric(a))
    return values[np.argsort(np.real(values), kind="stable")]


def complex_svdvals(a: Any) -> Any:
    """Square roots of the eigenvalues of the smaller Gram matrix (no conjugation), descending
    by real part."""
    gram = a.T @ a if a.shape[0] >= a.shape[1] else a @ a.T
    return np.sqrt(complex_eigvalsh(gram))[::-1]


#: Complex-step forms where the float64 one conjugates (one line each).
COMPLEX_OPS: dict[str, Callable[..., Any]] = {
    "logdet": lambda a: np.log(np.linalg.det(a)),
    "cholesky": complex_cholesky,
    "eigvalsh": complex_eigvalsh,
    "svdvals": complex_svdvals,
}
