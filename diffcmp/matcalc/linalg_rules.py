"""Vector-Jacobian rules of the linear algebra of issue 19, in matrix form, written with the
backend-neutral namespace ``k`` of :mod:`diffcmp.matcalc.rules` (so that they differentiate
again, reverse over reverse, for Hessians), merged into :data:`~diffcmp.matcalc.rules.VJP`.

With ``G`` the adjoint of the result (Giles, *An extended collection of matrix derivative
results for forward and reverse mode AD*, 2008; Murray, *Differentiation of the Cholesky
decomposition*, 2016; Magnus and Neudecker for the eigenproblem):

- ``inv``: ``-inv(A).T @ G @ inv(A).T``;
- ``solve(A, b) = x``: ``b`` gets ``solve(A.T, G)``, ``A`` minus that times ``x.T``;
- ``det``: ``G * det(A) * inv(A).T``; ``logdet``: ``G * inv(A).T``;
- ``cholesky`` (of the symmetric part, ``L L.T = (A + A.T) / 2``):
  ``inv(L).T @ sym(Phi(L.T @ G)) @ inv(L)``, where ``Phi`` keeps the lower triangle and halves
  the diagonal and ``sym(X) = (X + X.T) / 2``: the symmetric gradient, as PyTorch and JAX give;
- ``eigvalsh``: ``V @ diag(G) @ V.T`` with ``V = eigh_vectors(A)``;
- ``eigh_vectors`` (only second order meets it): ``sym(V @ (F * (V.T @ G)) @ V.T)``,
  ``F[i, j] = 1 / (w[j] - w[i])`` off the diagonal (``w = eigvalsh(A)``), 0 on it;
- ``svdvals`` (``s``, descending): ``U @ diag(G) @ V.T``, so that its own derivative goes
  through ``eigh_vectors``: for a square ``A`` the eigenvectors of ``[[0, A], [A.T, 0]]`` of
  its ``n`` largest eigenvalues ``s`` are ``[u_i; v_i] / sqrt(2)`` (Jordan and Wielandt; at a
  zero singular value, a tie of ``+0`` and ``-0``, any basis the eigensolver picks gives a
  subgradient), for a tall one ``V`` are the eigenvectors of ``A.T @ A`` and
  ``U = A @ V / s``, for a wide one ``U`` those of ``A @ A.T`` and ``V.T = U.T @ A / s``;
- ``matrix_power(A, n)``: ``sum_i (A.T)**i @ G @ (A.T)**(n - 1 - i)``, and for a negative
  power that of ``inv(A)`` carried through ``inv``'s rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Rule = Callable[..., tuple[Any, ...]]


def _t(k: Any, a: Any) -> Any:
    return k.transpose(a)


def _sym(k: Any, a: Any) -> Any:
    return (a + k.transpose(a)) / 2


def _inv_rule(k: Any, g: Any, b: Any) -> Any:
    """The adjoint of ``A`` given that of ``B = inv(A)``."""
    return -k.matmul(k.matmul(_t(k, b), g), _t(k, b))


def _solve(k: Any, g: Any, ans: Any, a: Any, b: Any) -> tuple[Any, Any]:
    gb = k.solve(_t(k, a), g)
    ga = k.outer(gb, ans) if len(b.shape) == 1 else k.matmul(gb, _t(k, ans))
    return -ga, gb


def _cholesky(k: Any, g: Any, ans: Any, a: Any) -> tuple[Any]:
    x = k.matmul(_t(k, ans), g)
    phi = k.raw("tril")(x, 0) - k.raw("diag")(k.raw("diagonal")(x, 0), 0) / 2
    inverse = k.inv(ans)
    return (k.matmul(k.matmul(_t(k, inverse), _sym(k, phi)), inverse),)


def _eigvalsh(k: Any, g: Any, ans: Any, a: Any) -> tuple[Any]:
    v = k.eigh_vectors(a)
    return (k.matmul(v * g, _t(k, v)),)


def _eigh_vectors(k: Any, g: Any, ans: Any, a: Any) -> tuple[Any]:
    n = a.shape[0]
    w = k.eigvalsh(a)
    gaps = k.raw("index")(w, (None, slice(None))) - k.raw("index")(w, (slice(None), None))
    identity = k.raw("diag")(k.raw("broadcast_to")(1, (n,)), 0)
    f = gaps / (gaps * gaps + identity)  # 1 / (w[j] - w[i]) off the diagonal, 0 on it
    inner = f * k.matmul(_t(k, ans), g)
    return (_sym(k, k.matmul(k.matmul(ans, inner), _t(k, ans))),)


def _svdvals(k: Any, g: Any, ans: Any, a: Any) -> tuple[Any]:
    m, n = a.shape
    if m == n:  # the top half of the eigenvectors of [[0, A], [A.T, 0]]: [u_i; v_i] / sqrt(2)
        blocks = (slice(0, n, 1), slice(n, 2 * n, 1))
        augmented = (k.raw("scatter")(a, (2 * n, 2 * n), blocks)
                     + k.raw("scatter")(_t(k, a), (2 * n, 2 * n), blocks[::-1]))
        top = k.raw("flip")(k.raw("index")(k.eigh_vectors(augmented), (slice(0, 2 * n, 1),
                                                                        blocks[1])), 1)
        u = k.raw("index")(top, blocks[:1])
        v = k.raw("index")(top, blocks[1:])
        return (k.matmul(u * (2 * g), _t(k, v)),)
    scaled = g / ans
    if m >= n:
        v = k.raw("flip")(k.eigh_vectors(k.matmul(_t(k, a), a)), 1)
        return (k.matmul(a, k.matmul(v * scaled, _t(k, v))),)
    u = k.raw("flip")(k.eigh_vectors(k.matmul(a, _t(k, a))), 1)
    return (k.matmul(k.matmul(u * scaled, _t(k, u)), a),)


def _power_sum(k: Any, g: Any, base: Any, n: int) -> Any:
    """``sum_i (base.T)**i @ g @ (base.T)**(n - 1 - i)`` for ``n >= 1``."""
    powers = [None, *(_t(k, base) if i == 1 else k.raw("matrix_power")(_t(k, base), i)
                      for i in range(1, n))]
    total = None
    for i in range(n):
        term = g if powers[i] is None else k.matmul(powers[i], g)
        term = term if powers[n - 1 - i] is None else k.matmul(term, powers[n - 1 - i])
        total = term if total is None else total + term
    return total


def _matrix_power(k: Any, g: Any, ans: Any, a: Any, n: int) -> tuple[Any]:
    if n == 0:
        return (None,)
    if n > 0:
        return (_power_sum(k, g, a, n),)
    inverse = k.inv(a)
    return (_inv_rule(k, _power_sum(k, g, inverse, -n), inverse),)


#: The rules (one line each), merged into :data:`diffcmp.matcalc.rules.VJP`.
LINALG_VJP: dict[str, Rule] = {
    "inv": lambda k, g, ans, a: (_inv_rule(k, g, ans),),
    "solve": _solve,
    "det": lambda k, g, ans, a: ((g * ans) * _t(k, k.inv(a)),),
    "logdet": lambda k, g, ans, a: (g * _t(k, k.inv(a)),),
    "cholesky": _cholesky,
    "eigvalsh": _eigvalsh,
    "eigh_vectors": _eigh_vectors,
    "svdvals": _svdvals,
    "matrix_power": _matrix_power,
}
