"""First-order bounds on the float64 rounding error of the linear algebra of issue 19, in units
of the unit roundoff, for :meth:`diffcmp.matcalc.evaluate.Program.rounding`: each op's own
rounding (a backward error, carried forward through the op's derivative in absolute value) plus
its arguments' bounds carried the same way. The sources (Higham, *Accuracy and Stability of
Numerical Algorithms*, 2nd ed., 2002):

- LU with partial pivoting (``inv``, ``solve``, ``det``, ``logdet``: what NumPy, PyTorch and
  JAX call) is backward stable: the computed factors are exact for ``A + dA``,
  ``|dA| <= gamma_n |L||U|`` (Thm 9.3), a solve with them for ``|dA| <= gamma_3n |L||U|``
  (Thm 9.4). With ``|L||U|`` computed at the point (``P |L| |U|``), the forward error is at
  most ``|inv(A)| (3n |L||U| + E_A) |x| + |inv(A)| E_b`` to first order (``inv``: ``x`` the
  identity, Sec. 14.3); ``det`` moves by ``|det| sum(|inv(A).T| * (3n |L||U| + E_A))`` plus
  ``n`` roundings of the product of the pivots, ``logdet`` by that over ``|det|``;
- Cholesky's factor is exact for ``A + dA``, ``|dA| <= gamma_{n+1} |L||L.T|`` (Thm 10.3), and
  ``dL = L Phi(inv(L) dA inv(L).T)`` carries it (``Phi`` bounded by the lower triangle);
- the symmetric eigenvalues and the singular values computed by Householder reduction and QR
  iterations (LAPACK's ``syevd``, ``gesdd``) are exact for ``A + dA``,
  ``||dA||_2 <= p(n) u ||A||_2`` (Sec. 19.3 for the Householder reduction; Demmel, *Applied
  Numerical Linear Algebra*, 1997, Thm 5.3 and Sec. 5.4), ``p(n)`` a modest polynomial, taken
  here as ``4 n**2`` against the Frobenius norm (which bounds the 2-norm). By Weyl's theorem
  each eigenvalue (singular value) moves by at most ``||dA||_2``; an eigenvector by at most
  that over its gap to the nearest other eigenvalue (Davis and Kahan; Golub and Van Loan,
  *Matrix Computations*, 4th ed., Thm 8.1.12);
- ``matrix_power`` as its products (each product ``|P| |A|`` of its own, as ``@`` is bounded
  in :mod:`diffcmp.matcalc.evaluate`), after ``inv`` for a negative power.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg

from ..ops import numpy as numpy_ops


def _p(n: int) -> float:
    """The backward error of the symmetric eigensolvers and the SVD, in units of ``u ||A||``."""
    return 4.0 * n * n


def _lu_size(a: np.ndarray) -> np.ndarray:
    """``P |L| |U|``: the magnitudes the backward error of LU with pivoting works at."""
    p, lower, upper = scipy.linalg.lu(a, check_finite=False)
    return p @ (np.abs(lower) @ np.abs(upper))


def _inverse(a: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        inverse = np.abs(numpy_ops.OPS["inv"](a))
    return np.where(np.isfinite(inverse), inverse, np.inf)


def _backward(a: np.ndarray, error: Any) -> np.ndarray:
    """The backward error of a solve with LU (``3n |L||U|``) plus ``a``'s own bound."""
    return 3 * a.shape[0] * _lu_size(a) + np.broadcast_to(error, a.shape)


def _inv(value: Any, args: list[Any], errors: list[Any]) -> Any:
    (a,), (ea,) = args, errors
    inverse = _inverse(a)
    return inverse @ _backward(a, ea) @ inverse


def _solve(value: Any, args: list[Any], errors: list[Any]) -> Any:
    (a, b), (ea, eb) = args, errors
    inverse = _inverse(a)
    return inverse @ (_backward(a, ea) @ np.abs(value) + np.broadcast_to(eb, np.shape(b)))


def _relative_det(a: np.ndarray, error: Any) -> Any:
    """How far ``det`` moves relative to itself: ``sum(|inv(A).T| * dA)`` plus ``n``."""
    return np.sum(_inverse(a).T * _backward(a, error)) + a.shape[0]


def _cholesky(value: Any, args: list[Any], errors: list[Any]) -> Any:
    (a,), (ea,) = args, errors
    n = a.shape[0]
    lower = np.abs(value)
    ea = np.broadcast_to(ea, a.shape)
    moved = (n + 1) * lower @ lower.T + (ea + ea.T) / 2
    with np.errstate(all="ignore"):
        inverse = np.abs(np.linalg.inv(value))
    inner = np.tril(inverse @ moved @ inverse.T)
    out = lower @ inner
    return np.where(np.isfinite(out), out, np.inf)


def _spectral(a: np.ndarray, error: Any) -> float:
    """``||dA||_F``: the eigensolver's backward error and ``a``'s own bound."""
    e = np.broadcast_to(error, a.shape)
    return _p(max(a.shape)) * float(np.linalg.norm(a)) + float(np.linalg.norm(e))


def _eigh_vectors(value: Any, args: list[Any], errors: list[Any]) -> Any:
    (a,), (ea,) = args, errors
    w = numpy_ops.OPS["eigvalsh"](a)
    gaps = np.abs(w[None, :] - w[:, None]) + np.diag(np.full(len(w), np.inf))
    nearest = np.min(gaps, axis=0)
    with np.errstate(all="ignore"):
        moved = _spectral(a, ea) / nearest
    return np.abs(value) + np.broadcast_to(np.where(nearest > 0, moved, np.inf), a.shape)


def _matrix_power(value: Any, args: list[Any], errors: list[Any], k: int) -> Any:
    (a,), (ea,) = args, errors
    ea = np.broadcast_to(ea, a.shape)
    if k == 0:
        return np.zeros(a.shape)
    base, error = (a, ea) if k > 0 else (numpy_ops.OPS["inv"](a), _inv(None, [a], [ea]))
    size, power, carried = np.abs(base), np.abs(base), error
    for _ in range(abs(k) - 1):
        carried = power @ size + power @ error + carried @ size
        power = power @ size
    return carried


#: ``bound(value, args, errors, *raw)`` of each op (one line each).
LINALG_BOUNDS: dict[str, Callable[..., Any]] = {
    "inv": _inv,
    "solve": _solve,
    "det": lambda value, args, errors: abs(value) * _relative_det(args[0], errors[0]),
    "logdet": lambda value, args, errors: _relative_det(args[0], errors[0]) + abs(value),
    "cholesky": _cholesky,
    "eigvalsh": lambda value, args, errors: np.abs(value) + _spectral(args[0], errors[0]),
    "svdvals": lambda value, args, errors: np.abs(value) + _spectral(args[0], errors[0]),
    "matrix_power": _matrix_power,
    "eigh_vectors": _eigh_vectors,
}
