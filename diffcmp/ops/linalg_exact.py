"""The linear algebra of issue 19 on object arrays: SymPy (exact, symbolic) and mpmath (at the
working precision).

SymPy's values are exact formulas of the elements (``sympy.Matrix``: the determinant by
Berkowitz's algorithm, the inverse by the adjugate, ``solve`` by LU without pivoting on zero).
The eigenvalues of a symmetric matrix have a closed form up to 3 x 3 (the quadratic formula; the
trigonometric solution of the characteristic cubic, Smith, CACM 4(4), 1961): beyond, and for
eigenvectors, SymPy's values are numbers only (of numeric elements, through mpmath at
50 digits) and a symbolic matrix raises :class:`~diffcmp.errors.UnsupportedError`.

mpmath's ``nan`` stands where the op is undefined (a singular matrix, a matrix that is not
positive definite, a determinant below 0 under ``logdet``), as in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ..errors import UnsupportedError

_NAN = mpmath.mpf("nan")


def symmetric(a: np.ndarray) -> np.ndarray:
    """The symmetric part ``(A + A.T) / 2`` of an object matrix."""
    return (a + a.T) / 2


def cholesky(a: np.ndarray, sqrt: Callable[[Any], Any]) -> np.ndarray:
    """The lower Cholesky factor of the symmetric part of ``a`` (Cholesky-Banachiewicz),
    ``sqrt`` taking each pivot's square root."""
    s = symmetric(a)
    n = s.shape[0]
    lower = np.full(s.shape, 0 * s[0, 0], dtype=object)
    for j in range(n):
        lower[j, j] = sqrt(s[j, j] - sum((lower[j, k] ** 2 for k in range(j)), 0 * s[0, 0]))
        for i in range(j + 1, n):
            total = sum((lower[i, k] * lower[j, k] for k in range(j)), 0 * s[0, 0])
            lower[i, j] = (s[i, j] - total) / lower[j, j]
    return lower


def power(a: np.ndarray, k: int, inverse: Callable[[np.ndarray], np.ndarray],
          one: Any) -> np.ndarray:
    """``a`` to the integer power ``k`` by repeated squaring (negative: of ``inverse(a)``)."""
    base = inverse(a) if k < 0 else a
    out = np.full(a.shape, 0 * one, dtype=object)
    for i in range(a.shape[0]):
        out[i, i] = one
    k = abs(k)
    while k:
        if k & 1:
            out = out @ base
        k >>= 1
        if k:
            base = base @ base
    return out


def _objects(rows: Any) -> np.ndarray:
    array = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        array[i, :] = list(row)
    return array


# -- SymPy --

def _matrix(a: np.ndarray) -> sp.Matrix:
    return sp.Matrix(a.tolist())


def _sympy_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    column = b.ndim == 1
    x = _matrix(a).LUsolve(sp.Matrix(b.tolist()))
    return np.array(list(x), dtype=object) if column else _objects(x.tolist())


def _numbers(a: np.ndarray, what: str) -> mpmath.matrix:
    """A numeric SymPy matrix in mpmath (50 digits), or :class:`UnsupportedError`."""
    if not all(x.is_number for x in a.ravel()):
        raise UnsupportedError(f"{what} of a symbolic {a.shape[0]} x {a.shape[1]} matrix has "
                               "no closed form here (SymPy writes eigenvalues out up to 3 x 3)")
    return mpmath.matrix([[mpmath.mpf(sp.Float(x, 50)) for x in row] for row in a.tolist()])


def _cubic_roots(s: np.ndarray) -> list[sp.Expr]:
    """The eigenvalues of a symmetric 3 x 3 matrix, ascending: the trigonometric form."""
    q = (s[0, 0] + s[1, 1] + s[2, 2]) / 3
    off = s[0, 1] ** 2 + s[0, 2] ** 2 + s[1, 2] ** 2
    p = sp.sqrt(((s[0, 0] - q) ** 2 + (s[1, 1] - q) ** 2 + (s[2, 2] - q) ** 2 + 2 * off) / 6)
    m = s - q * np.eye(3, dtype=int)
    cofactors = (m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] ** 2)
                 - m[0, 1] * (m[0, 1] * m[2, 2] - m[1, 2] * m[0, 2])
                 + m[0, 2] * (m[0, 1] * m[1, 2] - m[1, 1] * m[0, 2]))
    r = cofactors / (2 * p**3)  # det((s - q I) / p) / 2, in [-1, 1]
    phi = sp.acos(r) / 3
    top = q + 2 * p * sp.cos(phi)
    bottom = q + 2 * p * sp.cos(phi + 2 * sp.pi / 3)
    return [bottom, 3 * q - top - bottom, top]


def sympy_eigvalsh(a: np.ndarray) -> np.ndarray:
    """The eigenvalues of the symmetric part, ascending: closed forms up to 3 x 3."""
    s = symmetric(a)
    n = s.shape[0]
    if n == 1:
        values = [s[0, 0]]
    elif n == 2:
        middle, half = (s[0, 0] + s[1, 1]) / 2, (s[0, 0] - s[1, 1]) / 2
        root = sp.sqrt(half**2 + s[0, 1] ** 2)
        values = [middle - root, middle + root]
    elif n == 3:
        values = _cubic_roots(s)
    else:
        values = [sp.Float(v, 50) for v in _mpmath_eigh(_numbers(s, "eigvalsh"))[0]]
    return np.array(values, dtype=object)


def _sympy_svdvals(a: np.ndarray) -> np.ndarray:
    gram = a.T @ a if a.shape[0] >= a.shape[1] else a @ a.T
    return np.array([sp.sqrt(v) for v in sympy_eigvalsh(gram)[::-1]], dtype=object)


def _sympy_eigh_vectors(a: np.ndarray) -> np.ndarray:
    vectors = _mpmath_eigh(_numbers(symmetric(a), "eigh_vectors"))[1]
    return _objects([[sp.Float(x, 50) for x in row] for row in vectors.tolist()])


#: SymPy's linear algebra (one line each), merged into :data:`diffcmp.ops.sympy.OPS`.
SYMPY_OPS: dict[str, Callable[..., Any]] = {
    "inv": lambda a: _objects(_matrix(a).inv(method="ADJ").tolist()),
    "solve": _sympy_solve,
    "det": lambda a: _matrix(a).det(method="berkowitz"),
    "logdet": lambda a: sp.log(_matrix(a).det(method="berkowitz")),
    "cholesky": lambda a: cholesky(a, sp.sqrt),
    "eigvalsh": sympy_eigvalsh,
    "svdvals": _sympy_svdvals,
    "matrix_power": lambda a, k: power(a, k, SYMPY_OPS["inv"], sp.Integer(1)),
    "eigh_vectors": _sympy_eigh_vectors,
}


# -- mpmath --

def _mp(a: np.ndarray) -> mpmath.matrix:
    return mpmath.matrix(a.tolist())


def _nan_like(shape: tuple[int, ...]) -> np.ndarray:
    return np.full(shape, _NAN, dtype=object)


def _mpmath_inv(a: np.ndarray) -> np.ndarray:
    try:
        return _objects(mpmath.inverse(_mp(a)).tolist())
    except ZeroDivisionError:
        return _nan_like(a.shape)


def _mpmath_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inverse = _mpmath_inv(a)
    return inverse @ b


def _mpmath_logdet(a: np.ndarray) -> Any:
    d = mpmath.det(_mp(a))
    return mpmath.log(d) if d > 0 else (mpmath.mpf("-inf") if d == 0 else _NAN)


def _mpmath_sqrt(x: Any) -> Any:
    return mpmath.sqrt(x) if x > 0 else _NAN


def _mpmath_eigh(s: mpmath.matrix) -> tuple[list[Any], np.ndarray]:
    """Eigenvalues (ascending) and unit eigenvectors (columns, each with its largest element
    positive) of a symmetric mpmath matrix."""
    values, vectors = mpmath.eigsy(s)
    order = sorted(range(s.rows), key=lambda i: values[i])
    columns = _objects(vectors.tolist())[:, order]
    for j in range(columns.shape[1]):
        largest = max(range(columns.shape[0]), key=lambda i: abs(columns[i, j]))
        if columns[largest, j] < 0:
            columns[:, j] = -columns[:, j]
    return [values[i] for i in order], columns


def _mpmath_svdvals(a: np.ndarray) -> np.ndarray:
    values = mpmath.svd_r(_mp(a), compute_uv=False)
    return np.array(sorted((values[i] for i in range(values.rows)), reverse=True),
                    dtype=object)


#: mpmath's linear algebra (one line each), merged into :data:`diffcmp.ops.mpmath.OPS`.
MPMATH_OPS: dict[str, Callable[..., Any]] = {
    "inv": _mpmath_inv,
    "solve": _mpmath_solve,
    "det": lambda a: mpmath.det(_mp(a)),
    "logdet": _mpmath_logdet,
    "cholesky": lambda a: cholesky(a, _mpmath_sqrt),
    "eigvalsh": lambda a: np.array(_mpmath_eigh(_mp(symmetric(a)))[0], dtype=object),
    "svdvals": _mpmath_svdvals,
    "matrix_power": lambda a, k: power(a, k, _mpmath_inv, mpmath.mpf(1)),
    "eigh_vectors": lambda a: _mpmath_eigh(_mp(symmetric(a)))[1],
}
