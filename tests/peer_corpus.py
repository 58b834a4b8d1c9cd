"""The gradient tests of HIPS/autograd (``tests/test_numpy.py``, ``test_scalar_ops.py``,
``test_binary_ops.py``, ``test_linalg.py``, ``test_systematic.py``, ``test_scipy.py``) and of JAX
(``lax_numpy_test.py``'s grad records and ``lax_autodiff_test.py``'s ops), written as diffcmp
losses: each peer test's function at a point of its domain, made a scalar the way the peers'
``check_grads`` does (a fixed nonlinear read-out, here ``sum(sin(out))``).

Each entry is ``(peer test, loss, params, data)``: ``params`` maps a name to ``(shape, domain)``
(the point is drawn, seeded, from the domain) and ``data`` to fixed values. The loss is NumPy
code as well, so its truth comes from NumPy itself (:func:`numpy_namespace`), independent of
every diffcmp backend. ``python benchmarks/peer_corpus.py`` prints how many are expressible.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import scipy.special

#: Where a param's point is drawn: any real, positive, in (-0.9, 0.9), a symmetric positive
#: definite matrix, a matrix far from singular.
DOMAINS = ("any", "pos", "unit", "spd", "wellcond")

A = ((3, 3), "wellcond")
S = ((3, 3), "spd")
V = ((4,), "any")
M = ((3, 4), "any")
T3 = ((2, 3, 4), "any")
X = ((), "any")
P = ((), "pos")
U = ((), "unit")

Entry = tuple[str, str, dict[str, tuple[tuple[int, ...], str]], dict[str, Any]]

_SCALAR_OPS = ["abs", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctanh", "cos",
               "cosh", "deg2rad", "degrees", "exp", "exp2", "expm1", "log", "log10", "log1p",
               "log2", "rad2deg", "radians", "reciprocal", "sin", "sinc", "sinh", "sqrt",
               "square", "tan", "tanh", "negative", "cbrt", "fabs", "absolute"]
_DOMAIN = {"arccos": "unit", "arcsin": "unit", "arctanh": "unit", "arccosh": "big", "log": "pos",
           "log10": "pos", "log2": "pos", "log1p": "pos", "sqrt": "pos", "reciprocal": "pos",
           "abs": "pos", "fabs": "pos", "absolute": "pos", "cbrt": "pos"}
_BINARY = ["add", "subtract", "multiply", "divide", "true_divide", "power", "arctan2", "hypot",
           "logaddexp", "logaddexp2", "maximum", "minimum", "fmax", "fmin", "mod", "remainder"]

CORPUS: list[Entry] = [
    # autograd tests/test_scalar_ops.py and test_systematic.py's unary ops
    *[(f"autograd scalar_ops {f}", f"sum(sin({f}(x)))", {"x": ((4,), _DOMAIN.get(f, "any"))},
       {}) for f in _SCALAR_OPS],
    # autograd test_binary_ops.py and test_systematic.py's binary ops
    *[(f"autograd binary {f}", f"sum(sin({f}(x, y)))",
       {"x": ((3, 4), "pos"), "y": ((4,), "pos")}, {}) for f in _BINARY],
    # JAX lax_autodiff_test.py's unary ops
    *[(f"jax lax {f}", f"sum(sin({f}(x)))", {"x": ((4,), d)}, {}) for f, d in [
        ("floor", "any"), ("ceil", "any"), ("erf", "any"), ("erfc", "any"), ("erfinv", "unit"),
        ("gammaln", "pos"), ("digamma", "pos"), ("sign", "any"), ("sigmoid", "any"),
        ("softplus", "any"), ("rsqrt", "pos"), ("logistic", "any"), ("log_sigmoid", "any")]],
    ("jax grad arcsinh", "sum(arcsinh(x))", {"x": ((4,), "pos")}, {}),
    ("jax grad arccosh", "sum(arccosh(x))", {"x": ((4,), "big")}, {}),
    ("jax grad arctanh", "sum(arctanh(x))", {"x": ((4,), "unit")}, {}),
    ("jax grad logaddexp", "sum(logaddexp(x, y))", {"x": ((4,), "unit"), "y": ((4,), "unit")}, {}),
    ("jax grad logaddexp2", "sum(logaddexp2(x, y))", {"x": ((4,), "unit"), "y": ((4,), "unit")},
     {}),
    # autograd tests/test_numpy.py
    ("autograd numpy dot", "sum(sin(np.dot(x, y)))", {"x": ((3, 4), "any"), "y": ((4, 2), "any")},
     {}),
    ("autograd numpy dot vectors", "sin(np.dot(x, y))", {"x": V, "y": V}, {}),
    ("autograd numpy outer", "sum(sin(np.outer(x, y)))", {"x": V, "y": ((3,), "any")}, {}),
    ("autograd numpy max", "np.max(x)", {"x": M}, {}),
    ("autograd numpy max axis", "sum(sin(np.max(x, axis=1)))", {"x": M}, {}),
    ("autograd numpy max keepdims", "sum(sin(np.max(x, axis=1, keepdims=True)))", {"x": M}, {}),
    ("autograd numpy min", "np.min(x)", {"x": M}, {}),
    ("autograd numpy min axis", "sum(sin(np.min(x, axis=1)))", {"x": M}, {}),
    ("autograd numpy min keepdims", "sum(sin(np.min(x, axis=1, keepdims=True)))", {"x": M}, {}),
    ("autograd numpy sum", "sin(np.sum(x))", {"x": M}, {}),
    ("autograd numpy sum axis", "sum(sin(np.sum(x, axis=0)))", {"x": M}, {}),
    ("autograd numpy sum keepdims", "sum(sin(np.sum(x, axis=0, keepdims=True)))", {"x": M}, {}),
    ("autograd numpy sum axis tuple", "sum(sin(np.sum(x, axis=(1, 2))))", {"x": T3}, {}),
    ("autograd numpy reductions on box", "np.prod(np.exp(a) * base)", {"a": X},
     {"base": [0.8, 1.3, 0.6, 2.1, 1.0]}),
    ("autograd numpy flipud", "sum(sin(np.flipud(x)) * c)", {"x": M},
     {"c": [[1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 0.0, 1.5], [2.0, 0.0, 1.0, -1.0]]}),
    ("autograd numpy fliplr", "sum(sin(np.fliplr(x)) * c)", {"x": M},
     {"c": [[1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 0.0, 1.5], [2.0, 0.0, 1.0, -1.0]]}),
    ("autograd numpy rot90", "sum(sin(np.rot90(x)) * c)", {"x": ((3, 3), "any")},
     {"c": [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0], [2.0, 0.0, 1.0]]}),
    ("autograd numpy cumsum axis0", "sum(sin(np.cumsum(x, axis=0)))", {"x": M}, {}),
    ("autograd numpy cumsum axis1", "sum(sin(np.cumsum(x, axis=1)))", {"x": M}, {}),
    ("autograd numpy cumsum 1d", "sum(sin(np.cumsum(x)))", {"x": V}, {}),
    ("autograd numpy cumsum no axis", "sum(sin(np.cumsum(x)))", {"x": M}, {}),
    ("autograd numpy mean", "sin(np.mean(x))", {"x": M}, {}),
    ("autograd numpy mean axis", "sum(sin(np.mean(x, axis=0)))", {"x": M}, {}),
    ("autograd numpy mean keepdims", "sum(sin(np.mean(x, axis=0, keepdims=True)))", {"x": M}, {}),
    ("autograd numpy mean list", "np.mean([x, x + 2])", {"x": X}, {}),
    ("autograd numpy std list", "np.std([x, x + 2])", {"x": X}, {}),
    ("autograd numpy var list", "np.var([x, x + 2])", {"x": X}, {}),
    ("autograd numpy index ints", "sin(x[3, 0, 1])", {"x": ((5, 4, 3), "any")}, {}),
    ("autograd numpy index slice", "sum(sin(x[::-1, 2:4, :]))", {"x": ((5, 4, 3), "any")}, {}),
    ("autograd numpy index lists", "sum(sin(x[i]))", {"x": ((5, 4), "any")}, {"i": [0, 1, 2]}),
    ("autograd numpy vector slice", "sum(sin(x[2:4]))", {"x": ((6,), "any")}, {}),
    ("autograd numpy index fanout", "sum(sin(x[1:3] + x[0:2]))", {"x": ((6,), "any")}, {}),
    ("autograd numpy reshape method", "sum(sin(x.reshape((20, 6))) * c)", {"x": ((5, 4, 6), "any")},
     {"c": [[float(k % 7) - 3.0 for k in range(6)]]}),
    ("autograd numpy reshape call", "sum(sin(np.reshape(x, (20, 6)))[0:3])",
     {"x": ((5, 4, 6), "any")}, {}),
    ("autograd numpy ravel", "sum(sin(np.ravel(x))[::2])", {"x": ((5, 4), "any")}, {}),
    ("autograd numpy flatten method", "sum(sin(x.flatten())[1::3])", {"x": ((5, 4), "any")}, {}),
    ("autograd numpy append", "sum(sin(np.append(a, b)))", {"a": ((3,), "any"), "b": V}, {}),
    ("autograd numpy concatenate", "sum(sin(np.concatenate((c, x))))", {"x": V},
     {"c": [1.0, -2.0, 0.5]}),
    ("autograd numpy concatenate axis 0", "sum(sin(np.concatenate((c, x, c))))",
     {"x": ((2, 3), "any")}, {"c": [[1.0, -2.0, 0.5]]}),
    ("autograd numpy concatenate axis 1", "sum(sin(np.concatenate((c, x, c), axis=1)))",
     {"x": ((2, 3), "any")}, {"c": [[1.0], [0.5]]}),
    ("autograd numpy trace", "sin(np.trace(x))", {"x": ((4, 4), "any")}, {}),
    ("autograd numpy trace offset", "sin(np.trace(x, offset=1))", {"x": ((4, 4), "any")}, {}),
    ("autograd numpy diag", "sum(sin(np.diag(x)))", {"x": ((4, 4), "any")}, {}),
    ("autograd numpy transpose", "sum(sin(x.T) * c)", {"x": ((2, 3), "any")},
     {"c": [[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]]}),
    ("autograd numpy roll", "sum(sin(np.roll(x, 2, axis=1)) * c)", {"x": ((2, 3), "any")},
     {"c": [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]}),
    ("autograd numpy roll no axis", "sum(sin(np.roll(x, 2)) * c)", {"x": ((2, 3), "any")},
     {"c": [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]}),
    ("autograd numpy triu", "sum(sin(np.triu(x, k=2)))", {"x": ((4, 5), "any")}, {}),
    ("autograd numpy tril", "sum(sin(np.tril(x, k=2)))", {"x": ((4, 5), "any")}, {}),
    ("autograd numpy clip", "sum(sin(np.clip(x, 0.1, 1.1)))", {"x": ((6,), "clipsafe")}, {}),
    ("autograd numpy prod", "np.prod(x)", {"x": M}, {}),
    ("autograd numpy prod axis", "sum(sin(np.prod(x, axis=0)))", {"x": M}, {}),
    ("autograd numpy prod keepdims", "sum(sin(np.prod(x, axis=0, keepdims=True)))", {"x": M}, {}),
    ("autograd numpy 1d array", "sum(sin(np.array([x, x * 1.0, x + 2.5])))", {"x": X}, {}),
    ("autograd numpy 2d array", "sum(sin(np.array([[x, x * 1.0, x + 2.5], [x**2, x, x / 2.0]])))",
     {"x": X}, {}),
    ("autograd numpy array fanout", "sum(sin(np.array([x, x * 1.0, x + 2.5]) * 2))", {"x": X}, {}),
    ("autograd numpy array from arrays", "sum(sin(np.array([[2 * x, x + 1], [x, x]])))",
     {"x": ((3,), "any")}, {}),
    ("autograd numpy var ddof", "sum(sin(np.var(x, axis=1, ddof=1, keepdims=True)))", {"x": M},
     {}),
    ("autograd numpy var ddof2", "np.var(x, ddof=2)", {"x": M}, {}),
    ("autograd numpy std ddof", "sum(sin(np.std(x, axis=1, ddof=1)))", {"x": M}, {}),
    ("autograd numpy std", "np.std(x)", {"x": M}, {}),
    ("autograd numpy where", "sum(sin(np.where(c > 0, x, y)))", {"x": V, "y": V},
     {"c": [1.0, -1.0, 2.0, -0.5]}),
    ("autograd numpy squeeze", "sum(sin(np.squeeze(x)))", {"x": ((3, 1, 4), "any")}, {}),
    ("autograd numpy repeat", "sum(sin(np.repeat(x, 2, axis=1)) * c)", {"x": ((2, 3), "any")},
     {"c": [[float(k) for k in range(6)], [float(-k) for k in range(6)]]}),
    ("autograd numpy repeat axis0", "sum(sin(np.repeat(x, 2, axis=0)))", {"x": ((2, 3), "any")},
     {}),
    ("autograd numpy repeat 1d", "sum(sin(np.repeat(x, 2, axis=0)))", {"x": V}, {}),
    ("autograd numpy expand_dims", "sum(sin(np.expand_dims(x, 2)))", {"x": M}, {}),
    ("autograd numpy tensordot", "sum(sin(np.tensordot(x, y, 2)))",
     {"x": ((2, 2), "any"), "y": ((2, 2), "any")}, {}),
    # autograd test_systematic.py (beyond the elementwise ops above)
    ("autograd systematic sort", "sum(sin(np.sort(x)) * c)", {"x": V}, {"c": [1.0, 2.0, 3.0, 4.0]}),
    ("autograd systematic einsum", "sum(sin(np.einsum('ij,jk->ik', x, y)))",
     {"x": ((2, 3), "any"), "y": ((3, 4), "any")}, {}),
    ("autograd systematic einsum 3d", "sum(sin(np.einsum('ijk,kl->ijl', x, y)))",
     {"x": T3, "y": ((4, 2), "any")}, {}),
    ("autograd systematic kron", "sum(sin(np.kron(x, y)))",
     {"x": ((2, 2), "any"), "y": ((2, 3), "any")}, {}),
    ("autograd systematic inner", "sum(sin(np.inner(x, y)))", {"x": V, "y": V}, {}),
    ("autograd systematic matmul", "sum(sin(np.matmul(x, y)))",
     {"x": ((2, 3), "any"), "y": ((3, 2), "any")}, {}),
    ("autograd systematic matmul 3d", "sum(sin(x @ y))",
     {"x": ((2, 2, 3), "any"), "y": ((3, 2), "any")}, {}),
    ("autograd systematic transpose axes", "sum(sin(np.transpose(x, (2, 0, 1)))[0])",
     {"x": T3}, {}),
    ("autograd systematic swapaxes", "sum(sin(np.swapaxes(x, 0, 2))[1])", {"x": T3}, {}),
    ("autograd systematic moveaxis", "sum(sin(np.moveaxis(x, 0, 2))[1])", {"x": T3}, {}),
    ("autograd systematic stack", "sum(sin(np.stack([x, y], axis=1)) * c)",
     {"x": ((3,), "any"), "y": ((3,), "any")}, {"c": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]}),
    ("autograd systematic tile", "sum(sin(np.tile(x, (2, 3)))[0])", {"x": ((2, 3), "any")}, {}),
    ("autograd systematic mean 3d axis", "sum(sin(np.mean(x, axis=1)))", {"x": T3}, {}),
    ("autograd systematic sum 3d axis", "sum(sin(np.sum(x, axis=2)))", {"x": T3}, {}),
    ("autograd systematic max 3d", "sum(sin(np.max(x, axis=0)))", {"x": T3}, {}),
    ("autograd systematic prod 3d", "sum(sin(np.prod(x, axis=1)))", {"x": T3}, {}),
    ("autograd systematic diag k", "sum(sin(np.diag(x, 1)))", {"x": ((3,), "any")}, {}),
    ("autograd systematic cumprod", "sum(sin(np.cumprod(x)))", {"x": V}, {}),
    # autograd test_linalg.py
    ("autograd linalg inv", "sum(sin(np.linalg.inv(x)))", {"x": A}, {}),
    ("autograd linalg solve arg1", "sum(sin(np.linalg.solve(a, b)))", {"a": A},
     {"b": [[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]]}),
    ("autograd linalg solve arg1 1d", "sum(sin(np.linalg.solve(a, b)))", {"a": A},
     {"b": [1.0, 0.5, -2.0]}),
    ("autograd linalg solve arg2", "sum(sin(np.linalg.solve(a, b)))", {"b": ((3,), "any")},
     {"a": [[2.0, 0.5, 0.1], [0.3, 3.0, -0.4], [0.2, -0.1, 1.5]]}),
    ("autograd linalg det", "np.linalg.det(x)", {"x": A}, {}),
    ("autograd linalg det 3x3 written out", "x[0, 0] * (x[1, 1] * x[2, 2] - x[1, 2] * x[2, 1])"
     " - x[0, 1] * (x[1, 0] * x[2, 2] - x[1, 2] * x[2, 0])"
     " + x[0, 2] * (x[1, 0] * x[2, 1] - x[1, 1] * x[2, 0])", {"x": A}, {}),
    ("autograd linalg slogdet", "logdet(x)", {"x": S}, {}),
    ("autograd linalg vector 2norm", "np.linalg.norm(x)", {"x": V}, {}),
    ("autograd linalg frobenius norm", "np.linalg.norm(x)", {"x": M}, {}),
    ("autograd linalg frobenius norm axis", "np.linalg.norm(x, axis=(0, 1))", {"x": M}, {}),
    ("autograd linalg vector norm ord 1", "np.linalg.norm(x, ord=1)", {"x": V}, {}),
    ("autograd linalg vector norm ord 2", "np.linalg.norm(x, ord=2)", {"x": V}, {}),
    ("autograd linalg vector norm ord inf", "np.linalg.norm(x, ord=inf)", {"x": V}, {}),
    ("autograd linalg norm axis", "sum(sin(np.linalg.norm(x, axis=1)))", {"x": M}, {}),
    ("autograd linalg eigh values", "sum(sin(np.linalg.eigvalsh(x)))", {"x": S}, {}),
    ("autograd linalg cholesky", "sum(sin(np.linalg.cholesky(x)))", {"x": S}, {}),
    ("autograd linalg cholesky reparameterization", "np.linalg.norm(np.linalg.cholesky(a) @ z)",
     {"a": S}, {"z": [0.3, -1.2, 0.8]}),
    ("autograd linalg svd values", "sum(sin(np.linalg.svdvals(x)))", {"x": M}, {}),
    ("autograd linalg matrix power", "sum(sin(np.linalg.matrix_power(x, 3)))", {"x": A}, {}),
    ("autograd linalg matrix power negative", "sum(sin(np.linalg.matrix_power(x, -2)))",
     {"x": A}, {}),
    # autograd test_scipy.py
    ("autograd scipy logsumexp", "scipy.special.logsumexp(x)", {"x": V}, {}),
    ("autograd scipy logsumexp axis", "sum(sin(logsumexp(x, axis=1)))", {"x": M}, {}),
    ("autograd scipy logsumexp keepdims", "sum(sin(logsumexp(x, axis=0, keepdims=True)))",
     {"x": M}, {}),
    ("autograd scipy norm logpdf", "sum(-0.5 * ((x - m) / s) ** 2 - log(s) - 0.5 * log(2 * pi))",
     {"x": V, "m": X, "s": P}, {}),
    ("autograd scipy erf", "sum(sin(scipy.special.erf(x)))", {"x": V}, {}),
    ("autograd scipy gammaln", "sum(scipy.special.gammaln(x))", {"x": ((4,), "pos")}, {}),
    ("autograd scipy digamma", "sum(scipy.special.digamma(x))", {"x": ((4,), "pos")}, {}),
    ("autograd scipy erfinv", "sum(scipy.special.erfinv(x))", {"x": ((4,), "unit")}, {}),
    ("autograd scipy expit", "sum(sin(scipy.special.expit(x)))", {"x": V}, {}),
    # cross-entropy on integer labels (issue 19's own example)
    ("cross-entropy on integer labels",
     "-mean(take_along_axis(log_softmax(z, axis=1), y, axis=1))", {"z": M},
     {"y": [[0], [3], [1]]}),
]


def draw(shape: tuple[int, ...], domain: str, rng: np.random.Generator) -> np.ndarray:
    """A seeded point of ``domain`` (see :data:`DOMAINS`; ``big`` is ``> 1``, ``clipsafe``
    keeps away from clip's bounds), always an array (0-d for a scalar)."""
    return np.asarray(_draw(shape, domain, rng), dtype=np.float64)


def _draw(shape: tuple[int, ...], domain: str, rng: np.random.Generator) -> np.ndarray:
    if domain == "spd":
        n = shape[0]
        b = rng.standard_normal(shape)
        return b @ b.T + n * np.eye(n)
    if domain == "wellcond":
        return rng.standard_normal(shape) + 3 * np.eye(shape[0])
    x = rng.standard_normal(shape)
    if domain == "pos":
        return np.abs(x) + 0.5
    if domain == "big":
        return np.abs(x) + 1.5
    if domain == "unit":
        return rng.uniform(-0.9, 0.9, shape)
    if domain == "clipsafe":
        return np.array([-0.4, 0.35, 0.6, 0.95, 1.4, 0.2][:shape[0]])
    return x


def numpy_namespace() -> dict[str, Any]:
    """The names a corpus loss uses, bound to NumPy's and SciPy's own functions: the truth."""
    special = scipy.special
    names: dict[str, Any] = {name: getattr(np, name) for name in dir(np)
                             if not name.startswith("_")}
    names.update({
        "np": np, "scipy": scipy, "pi": np.pi, "inf": np.inf, "sum": np.sum, "max": np.max,
        "min": np.min, "abs": np.abs, "erf": special.erf, "erfc": special.erfc,
        "erfinv": special.erfinv, "gammaln": special.gammaln, "digamma": special.digamma,
        "sigmoid": special.expit, "logistic": special.expit, "expit": special.expit,
        "softplus": lambda x: np.logaddexp(0, x), "log_sigmoid": special.log_expit,
        "rsqrt": lambda x: 1 / np.sqrt(x), "logsumexp": special.logsumexp,
        "log_softmax": special.log_softmax, "softmax": special.softmax,
        "logdet": lambda a: np.linalg.slogdet(a)[1] if np.linalg.det(a) > 0 else np.nan,
    })
    # of the symmetric part, as diffcmp documents (and JAX computes): NumPy reads one triangle,
    # so its derivative in the other is 0 where diffcmp's is the symmetric half
    symmetric = {"eigvalsh": lambda a: np.linalg.eigvalsh((a + a.T) / 2),
                 "cholesky": lambda a: np.linalg.cholesky((a + a.T) / 2)}
    linalg = SimpleNamespace(**{**{n: getattr(np.linalg, n) for n in dir(np.linalg)
                                   if not n.startswith("_")}, **symmetric})
    names |= symmetric
    names["np"] = SimpleNamespace(**{**{n: names[n] for n in dir(np) if not n.startswith("_")},
                                     "linalg": linalg})
    return names
