"""The language's operations in JAX (one line each); float64 where x64 is enabled (the ``jax``
engine enables it locally)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.special

from .spec import Literal, literal_to_float


def const(value: Literal) -> Any:
    """A literal as a float64 scalar array."""
    return jnp.asarray(literal_to_float(value), dtype=jnp.float64)


#: The dtypes an engine may compute in (:data:`diffcmp.precision.DTYPES`) as JAX's.
DTYPES = {"float64": jnp.float64, "float32": jnp.float32, "bfloat16": jnp.bfloat16}


def ops_for(dtype: str = "float64") -> dict[str, Callable[..., Any]]:
    """:data:`OPS` with its literals as ``dtype`` arrays (issue 21): a float64 literal would
    promote a float32 loss to float64 (x64 is on inside the engines)."""
    if dtype == "float64":
        return OPS
    kind = DTYPES[dtype]
    return {**OPS, "const": lambda value: jnp.asarray(literal_to_float(value), dtype=kind)}


def _sum_to(a: Any, shape: tuple[int, ...]) -> Any:
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and a.shape[lead + i] != 1)
    return jnp.sum(a, axis=axes, keepdims=True).reshape(shape) if axes else a.reshape(shape)


def _order(a: Any, axis: int) -> Any:
    """The stable sorting permutation of ``a``'s lines along ``axis`` (issue 19)."""
    return jnp.argsort(jax.lax.stop_gradient(a), axis=axis, stable=True)
def _symmetric(a: Any) -> Any:
    return (a + a.T) / 2


def _logdet(a: Any) -> Any:
    """``log(det(A))``: ``nan`` where the determinant is negative, ``-inf`` where it is 0."""
    sign, value = jnp.linalg.slogdet(a)
    return jnp.where(sign > 0, value, jnp.where(sign == 0, -jnp.inf, jnp.nan))


def _eigh_vectors(a: Any) -> Any:
    """Unit eigenvectors of the symmetric part (ascending), the largest element of each
    positive."""
    v = jnp.linalg.eigh(_symmetric(a))[1]
    largest = v[jnp.argmax(jnp.abs(v), axis=0), jnp.arange(v.shape[1])]
    return v * jnp.where(largest < 0, -1.0, 1.0)


#: The language's operations in JAX (one line each).
OPS: dict[str, Callable[..., Any]] = {
    "const": const,
    "add": jnp.add,
    "sub": jnp.subtract,
    "mul": jnp.multiply,
    "div": jnp.divide,
    "pow": jnp.power,
    "neg": jnp.negative,
    "matmul": jnp.matmul,
    "transpose": jnp.transpose,
    "index": lambda a, key: a[key],
    "reshape": lambda a, shape: jnp.reshape(a, shape),
    "stack": jnp.stack,
    "lt": jnp.less,
    "le": jnp.less_equal,
    "gt": jnp.greater,
    "ge": jnp.greater_equal,
    "eq": jnp.equal,
    "ne": jnp.not_equal,
    "exp": jnp.exp,
    "log": jnp.log,
    "log1p": jnp.log1p,
    "sqrt": jnp.sqrt,
    "sin": jnp.sin,
    "cos": jnp.cos,
    "tan": jnp.tan,
    "asin": jnp.arcsin,
    "acos": jnp.arccos,
    "atan": jnp.arctan,
    "sinh": jnp.sinh,
    "cosh": jnp.cosh,
    "tanh": jnp.tanh,
    "asinh": jnp.arcsinh,
    "acosh": jnp.arccosh,
    "atanh": jnp.arctanh,
    "expm1": jnp.expm1,
    "log2": jnp.log2,
    "log10": jnp.log10,
    "square": jnp.square,
    "cbrt": jnp.cbrt,
    "reciprocal": jnp.reciprocal,
    "sinc": jnp.sinc,
    "erfc": jax.scipy.special.erfc,
    "erfinv": jax.scipy.special.erfinv,
    "gammaln": jax.scipy.special.gammaln,
    "digamma": jax.scipy.special.digamma,
    "floor": jnp.floor,
    "ceil": jnp.ceil,
    "abs": jnp.abs,
    "sign": jnp.sign,
    "erf": jax.scipy.special.erf,
    "sigmoid": jax.nn.sigmoid,
    "softplus": lambda x: jnp.logaddexp(x, 0.0),
    "relu": jax.nn.relu,
    "maximum": jnp.maximum,
    "minimum": jnp.minimum,
    "atan2": jnp.arctan2,
    "hypot": jnp.hypot,
    "logaddexp": jnp.logaddexp,
    "mod": jnp.mod,
    "clip": jnp.clip,
    "where": jnp.where,
    "sum": lambda a, axis: jnp.sum(a, axis),
    "mean": lambda a, axis: jnp.mean(a, axis),
    "prod": lambda a, axis: jnp.prod(a, axis),
    "norm": lambda a, axis: jnp.linalg.norm(a.reshape(-1) if axis is None else a, axis=axis),
    "logsumexp": lambda a, axis: jax.scipy.special.logsumexp(a, axis),
    "amax": lambda a, axis: jnp.max(a, axis),
    "amin": lambda a, axis: jnp.min(a, axis),
    "dot": jnp.dot,
    # structure (issue 19)
    "concatenate": lambda parts, axis: jnp.concatenate(list(parts), axis),
    "flip": lambda a, axis: jnp.flip(a, axis),
    "roll": lambda a, shift, axis: jnp.roll(a, shift, axis),
    "repeat": lambda a, k, axis: jnp.repeat(a, k, axis),
    "tile": lambda a, reps: jnp.tile(a, reps),
    "triu": lambda a, k: jnp.triu(a, k),
    "tril": lambda a, k: jnp.tril(a, k),
    "diag": lambda v, k: jnp.diag(v, k),
    "diagonal": lambda a, k: jnp.diagonal(a, k),
    "trace": jnp.trace,
    "outer": jnp.outer,
    "kron": jnp.kron,
    "softmax": lambda a, axis: jax.nn.softmax(a, axis=axis),
    "log_softmax": lambda a, axis: jax.nn.log_softmax(a, axis=axis),
    "loggamma": jax.scipy.special.gammaln,
    "heaviside": jnp.heaviside,
    "dirac_delta": lambda x: jnp.where(x == 0, jnp.nan, 0.0),
    "polygamma": lambda n, x: jax.scipy.special.polygamma(jnp.asarray(n).astype(int), x),
    "broadcast_to": jnp.broadcast_to,
    "sum_to": _sum_to,
    "scatter": lambda g, shape, key: jnp.zeros(shape, dtype=jnp.result_type(g)).at[key].set(g),
    # arrays of any number of dimensions (issue 19)
    "permute_dims": lambda a, axes: jnp.transpose(a, axes),
    # reductions and scans (issue 19)
    "cumsum": lambda a, axis: jnp.cumsum(a, axis),
    "cumprod": lambda a, axis: jnp.cumprod(a, axis),
    "sort": lambda a, axis: jnp.sort(a, axis, stable=True),
    "sort_scatter": lambda g, a, axis: jnp.take_along_axis(
        jnp.broadcast_to(g, jnp.shape(a)), jnp.argsort(_order(a, axis), axis=axis), axis),
    "sort_gather": lambda x, a, axis: jnp.take_along_axis(
        jnp.broadcast_to(x, jnp.shape(a)), _order(a, axis), axis),
    # integer indexing and einsum (issue 19)
    "take": lambda a, index, axis: jnp.take(a, jnp.asarray(index), axis),
    "take_along_axis": lambda a, index, axis: jnp.take_along_axis(a, jnp.asarray(index), axis),
    "einsum": lambda parts, spec: jnp.einsum(spec, *parts),
    "scatter_add": lambda g, shape, index, axis: jnp.zeros(shape, dtype=jnp.result_type(g)).at[
        (slice(None),) * axis + (jnp.asarray(index),)].add(g),
    # linear algebra (issue 19)
    "inv": jnp.linalg.inv,
    "solve": jnp.linalg.solve,
    "det": jnp.linalg.det,
    "logdet": _logdet,
    "cholesky": lambda a: jnp.linalg.cholesky(_symmetric(a)),
    "eigvalsh": lambda a: jnp.linalg.eigvalsh(_symmetric(a)),
    "svdvals": lambda a: jnp.linalg.svd(a, compute_uv=False),
    "matrix_power": lambda a, k: jnp.linalg.matrix_power(a, k),
    "eigh_vectors": _eigh_vectors,
}
