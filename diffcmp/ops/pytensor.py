"""The language's operations in PyTensor (one line each), float64, on symbolic tensors (issue 20).

Each op builds graph nodes (``pytensor.tensor``); the ``pytensor`` engine
(:mod:`diffcmp.engines.pytensor_grad`) builds the loss once over this table, differentiates the
graph with ``pytensor.grad`` and compiles it with ``pytensor.function``. Where PyTensor has no
function of NumPy's name the row composes its own from PyTensor's (``hypot``, ``sinc``,
``cbrt``...), each written for the same values as NumPy's. This module imports PyTensor: only the
engine imports it, after :func:`diffcmp.engines.optional.require` found it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.special as pts
from pytensor.gradient import disconnected_grad

from .spec import Literal, literal_to_float

_F64 = "float64"


def const(value: Literal) -> Any:
    """A literal as a float64 scalar constant."""
    return pt.constant(literal_to_float(value), dtype=_F64)


def _symmetric(a: Any) -> Any:
    return (a + a.T) / 2


def _logdet(a: Any) -> Any:
    """``log(det(A))``: ``nan`` where the determinant is negative, ``-inf`` where it is 0."""
    sign, value = pt.linalg.slogdet(a)
    return pt.switch(pt.gt(sign, 0), value, pt.switch(pt.eq(sign, 0), -np.inf, np.nan))


def _eigh_vectors(a: Any) -> Any:
    """Unit eigenvectors of the symmetric part (ascending), the largest element of each
    positive."""
    v = pt.linalg.eigh(_symmetric(a))[1]
    largest = v[pt.argmax(pt.abs(v), axis=0), pt.arange(v.shape[1])]
    return v * pt.switch(pt.lt(largest, 0), -1.0, 1.0)


def _order(a: Any, axis: int) -> Any:
    """The stable sorting permutation of ``a``'s lines along ``axis`` (not differentiated)."""
    return pt.argsort(disconnected_grad(a), axis=axis, kind="stable")


def _sum_to(a: Any, shape: tuple[int, ...]) -> Any:
    """``a`` summed down to ``shape`` (the adjoint of broadcasting); ``a``'s static shape."""
    lead = a.ndim - len(shape)
    static = a.type.shape
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and static[lead + i] != 1)
    return pt.reshape(pt.sum(a, axis=axes, keepdims=True) if axes else a, shape)


def _matrix_power(a: Any, k: int) -> Any:
    """``A ** k`` by matrix products (of ``inv(A)`` for a negative ``k``)."""
    return pt.linalg.matrix_power(a if k >= 0 else pt.linalg.inv(a), abs(k))


def _heaviside(x: Any, h0: Any) -> Any:
    return pt.switch(pt.lt(x, 0), 0.0, pt.switch(pt.gt(x, 0), 1.0, h0))


def _sinc(x: Any) -> Any:
    """NumPy's normalised ``sin(pi x) / (pi x)``, 1 at 0."""
    safe = pt.switch(pt.eq(x, 0), 1.0, x)
    return pt.switch(pt.eq(x, 0), 1.0, pt.sin(math.pi * safe) / (math.pi * safe))


def _norm(a: Any, axis: int | None) -> Any:
    """The 2-norm of the flattened array (``None``) or along ``axis``."""
    return pt.sqrt(pt.sum(pt.sqr(a), axis=axis))


#: The language's operations in PyTensor (one line each).
OPS: dict[str, Callable[..., Any]] = {
    "const": const,
    "add": pt.add,
    "sub": pt.sub,
    "mul": pt.mul,
    "div": pt.true_div,
    "pow": pt.pow,
    "neg": pt.neg,
    "matmul": pt.matmul,
    "transpose": lambda a: pt.transpose(a),
    "index": lambda a, key: pt.as_tensor_variable(a)[key],
    "reshape": lambda a, shape: pt.reshape(a, shape),
    "stack": lambda parts: pt.stack(list(parts)),
    "lt": pt.lt,
    "le": pt.le,
    "gt": pt.gt,
    "ge": pt.ge,
    "eq": pt.eq,
    "ne": pt.neq,
    "exp": pt.exp,
    "log": pt.log,
    "log1p": pt.log1p,
    "sqrt": pt.sqrt,
    "sin": pt.sin,
    "cos": pt.cos,
    "tan": pt.tan,
    "asin": pt.arcsin,
    "acos": pt.arccos,
    "atan": pt.arctan,
    "sinh": pt.sinh,
    "cosh": pt.cosh,
    "tanh": pt.tanh,
    "asinh": pt.arcsinh,
    "acosh": pt.arccosh,
    "atanh": pt.arctanh,
    "expm1": pt.expm1,
    "log2": pt.log2,
    "log10": pt.log10,
    "square": pt.sqr,
    "cbrt": lambda x: pt.sign(x) * pt.abs(x) ** (1.0 / 3.0),
    "reciprocal": pt.reciprocal,
    "sinc": _sinc,
    "erfc": pt.erfc,
    "erfinv": pt.erfinv,
    "gammaln": pt.gammaln,
    "digamma": pt.psi,
    "floor": pt.floor,
    "ceil": pt.ceil,
    "abs": pt.abs,
    "sign": pt.sign,
    "erf": pt.erf,
    "sigmoid": pt.sigmoid,
    "softplus": pt.softplus,
    "relu": lambda x: pt.switch(pt.gt(x, 0), x, 0.0),
    "maximum": pt.maximum,
    "minimum": pt.minimum,
    "atan2": pt.arctan2,
    "hypot": lambda a, b: pt.sqrt(pt.sqr(a) + pt.sqr(b)),
    "logaddexp": pt.logaddexp,
    "mod": pt.mod,
    "clip": pt.clip,
    "where": pt.switch,
    "sum": lambda a, axis: pt.sum(a, axis=axis),
    "mean": lambda a, axis: pt.mean(a, axis=axis),
    "prod": lambda a, axis: pt.prod(a, axis=axis),
    "norm": _norm,
    "logsumexp": lambda a, axis: pt.logsumexp(a, axis=axis),
    "amax": lambda a, axis: pt.max(a, axis=axis),
    "amin": lambda a, axis: pt.min(a, axis=axis),
    "dot": pt.dot,
    # structure (issue 19)
    "concatenate": lambda parts, axis: pt.concatenate(list(parts), axis=axis),
    "flip": lambda a, axis: pt.flip(a, axis=axis),
    "roll": lambda a, shift, axis: pt.roll(a, shift, axis=axis),
    "repeat": lambda a, k, axis: pt.repeat(a, k, axis=axis),
    "tile": lambda a, reps: pt.tile(a, reps),
    "triu": lambda a, k: pt.triu(a, k),
    "tril": lambda a, k: pt.tril(a, k),
    "diag": lambda v, k: pt.diag(v, k),
    "diagonal": lambda a, k: pt.diagonal(a, k),
    "trace": pt.trace,
    "outer": pt.outer,
    "kron": pt.linalg.kron,
    "softmax": lambda a, axis: pts.softmax(a, axis=axis),
    "log_softmax": lambda a, axis: pts.log_softmax(a, axis=axis),
    "loggamma": pt.gammaln,
    "heaviside": _heaviside,
    "dirac_delta": lambda x: pt.switch(pt.eq(x, 0), np.nan, 0.0),
    "polygamma": lambda n, x: pt.polygamma(int(n), x),
    "broadcast_to": lambda a, shape: pt.broadcast_to(a, shape),
    "sum_to": _sum_to,
    "scatter": lambda g, shape, key: pt.set_subtensor(pt.zeros(shape, dtype=_F64)[key], g),
    # arrays of any number of dimensions (issue 19)
    "permute_dims": lambda a, axes: pt.transpose(a, axes),
    # reductions and scans (issue 19)
    "cumsum": lambda a, axis: pt.cumsum(a, axis=axis),
    "cumprod": lambda a, axis: pt.cumprod(a, axis=axis),
    "sort": lambda a, axis: pt.sort(a, axis=axis, kind="stable"),
    "sort_scatter": lambda g, a, axis: pt.take_along_axis(
        pt.broadcast_to(g, pt.shape(a)), pt.argsort(_order(a, axis), axis=axis), axis),
    "sort_gather": lambda x, a, axis: pt.take_along_axis(
        pt.broadcast_to(x, pt.shape(a)), _order(a, axis), axis),
    # integer indexing and einsum (issue 19)
    "take": lambda a, index, axis: pt.take(a, np.asarray(index), axis=axis),
    "take_along_axis": lambda a, index, axis: pt.take_along_axis(a, np.asarray(index), axis),
    "einsum": lambda parts, spec: pt.einsum(spec, *parts),
    "scatter_add": lambda g, shape, index, axis: pt.inc_subtensor(
        pt.zeros(shape, dtype=_F64)[(slice(None),) * axis + (np.asarray(index),)], g),
    # linear algebra (issue 19)
    "inv": pt.linalg.inv,
    "solve": lambda a, b: pt.linalg.solve(a, b, b_ndim=pt.as_tensor_variable(b).ndim),
    "det": pt.linalg.det,
    "logdet": _logdet,
    "cholesky": lambda a: pt.linalg.cholesky(_symmetric(a), lower=True),
    "eigvalsh": lambda a: pt.linalg.eigvalsh(_symmetric(a), None),
    "svdvals": lambda a: pt.linalg.svd(a, compute_uv=False),
    "matrix_power": _matrix_power,
    "eigh_vectors": _eigh_vectors,
}
