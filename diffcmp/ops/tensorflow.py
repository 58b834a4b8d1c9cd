"""The language's operations in TensorFlow, float64 (one line each).

``tf.math``, ``tf.linalg`` and ``tf.nn`` where they compute NumPy's values; where they do not,
the op is written from primitives:

- ``logaddexp`` shifts by the larger argument with the shift held constant
  (``tf.experimental.numpy.logaddexp`` differentiates ``maximum`` and ``abs``, so its gradient
  at a tie is ``(1, 0)``, not ``(1/2, 1/2)``); ``softplus`` is ``tf.math.softplus``, whose
  gradient is the exact sigmoid;
- ``clip`` is ``minimum(maximum(a, lo), hi)``, NumPy's definition (``tf.clip_by_value`` gives
  ``lo`` where ``lo > hi``);
- ``cumprod`` is a running product (the gradient of ``tf.math.cumprod`` divides by the input:
  ``nan`` where an element is 0);
- ``sinc`` keeps ``x = 0`` out of ``sin(pi x) / (pi x)``, whose gradient would be ``nan`` there;
- ``cbrt`` (none in TensorFlow) is ``sign(x) |x|**(1/3)``, ``log2``/``log10`` are ``log(x) / log
  (base)``, ``hypot`` scales by the larger magnitude (as NumPy, no overflow), ``kron`` is a
  broadcast product;
- ``triu``/``tril`` select with a constant mask (``0 * inf`` would be ``nan``); ``cholesky`` is
  ``nan`` throughout where TensorFlow leaves ``nan`` on the diagonal of a matrix that is not
  positive definite (NumPy raises there: :mod:`diffcmp.ops.linalg_float` gives ``nan``);
  ``logdet`` comes from ``slogdet``, ``matrix_power`` from repeated products.

``inv`` and ``solve`` of a singular matrix raise TensorFlow's ``InvalidArgumentError`` (no
``nan`` form without a second factorisation): that point is an ``error``. The derivative ops of
the spec (``broadcast_to``, ``sum_to``, ``scatter``, ``scatter_add``, ``sort_scatter``,
``sort_gather``, ``eigh_vectors``) are left out: they appear only in vectorised gradients, never
in a loss an engine compiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow.experimental.numpy as tnp

from .spec import Literal, literal_to_float

DTYPE = tf.float64


def const(value: Literal) -> tf.Tensor:
    """A literal as a float64 scalar tensor."""
    return tf.constant(literal_to_float(value), dtype=DTYPE)


def _float(value: Any) -> tf.Tensor:
    return tf.convert_to_tensor(value, dtype=DTYPE)


def _logaddexp(a: Any, b: Any) -> tf.Tensor:
    """``log(exp(a) + exp(b))``, shifted by the larger argument (a constant: exact for any
    shift); ``-inf`` where both are."""
    a, b = _float(a), _float(b)
    shift = tf.stop_gradient(tf.maximum(a, b))
    shift = tf.where(tf.math.is_finite(shift), shift, tf.zeros_like(shift))
    return shift + tf.math.log(tf.exp(a - shift) + tf.exp(b - shift))


def _hypot(a: Any, b: Any) -> tf.Tensor:
    """``sqrt(a**2 + b**2)`` scaled by the larger magnitude (held constant), ``0`` at ``(0,
    0)``."""
    a, b = _float(a), _float(b)
    scale = tf.stop_gradient(tf.maximum(tf.abs(a), tf.abs(b)))
    safe = tf.where(scale > 0, scale, tf.ones_like(scale))
    return safe * tf.sqrt(tf.square(a / safe) + tf.square(b / safe))


def _sinc(x: tf.Tensor) -> tf.Tensor:
    """NumPy's normalised ``sinc``: ``sin(pi x) / (pi x)``, 1 at 0."""
    zero = tf.equal(x, 0)
    safe = tf.where(zero, tf.ones_like(x), x) * math.pi
    return tf.where(zero, tf.ones_like(x), tf.sin(safe) / safe)


def _where(condition: Any, a: Any, b: Any) -> tf.Tensor:
    return tf.where(condition, _float(a), _float(b))


def _cumprod(a: tf.Tensor, axis: int) -> tf.Tensor:
    """The running product along ``axis``, one multiplication per step."""
    parts = tf.unstack(a, axis=axis)
    out = [parts[0]]
    for part in parts[1:]:
        out.append(out[-1] * part)
    return tf.stack(out, axis=axis)


def _triangle(a: tf.Tensor, k: int, upper: bool) -> tf.Tensor:
    """NumPy's ``triu`` (``upper``) or ``tril`` by a constant mask."""
    below = np.tri(*a.shape[-2:], k - 1 if upper else k, dtype=bool)
    return tf.where(~below if upper else below, a, tf.zeros_like(a))


def _kron(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """NumPy's ``kron`` of two arrays of the same number of dimensions."""
    n = len(a.shape)
    left = tf.reshape(a, [d for size in a.shape for d in (size, 1)])
    right = tf.reshape(b, [d for size in b.shape for d in (1, size)])
    return tf.reshape(left * right, [p * q for p, q in zip(a.shape, b.shape, strict=True)]
                      if n else [])


def _roll(a: tf.Tensor, shift: int, axis: int | None) -> tf.Tensor:
    if axis is None:
        return tf.reshape(tf.roll(tf.reshape(a, [-1]), shift, 0), tf.shape(a))
    return tf.roll(a, shift, axis)


def _solve(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    if len(b.shape) == 1:
        return tf.linalg.solve(a, b[:, None])[:, 0]
    return tf.linalg.solve(a, b)


def _symmetric(a: tf.Tensor) -> tf.Tensor:
    return (a + tf.transpose(a)) / 2


def _cholesky(a: tf.Tensor) -> tf.Tensor:
    lower = tf.linalg.cholesky(_symmetric(a))
    return tf.where(tf.reduce_all(tf.math.is_finite(lower)), lower,
                    tf.fill(tf.shape(lower), tf.constant(np.nan, DTYPE)))


def _logdet(a: tf.Tensor) -> tf.Tensor:
    """``log(det(A))``: ``nan`` where the determinant is negative, ``-inf`` where it is 0."""
    sign, value = tf.linalg.slogdet(a)
    return tf.where(sign > 0, value, tf.where(sign == 0, tf.constant(-np.inf, DTYPE),
                                              tf.constant(np.nan, DTYPE)))


def _matrix_power(a: tf.Tensor, k: int) -> tf.Tensor:
    """``A`` to the integer power ``k`` (negative: of ``inv(A)``), by repeated products."""
    base = tf.linalg.inv(a) if k < 0 else a
    out = tf.eye(a.shape[0], dtype=a.dtype)
    for _ in range(abs(k)):
        out = tf.linalg.matmul(out, base)
    return out


def _index(index: Any) -> tf.Tensor:
    """A raw index (nested tuples of ints) as an int64 tensor."""
    return tf.constant(index, dtype=tf.int64)


def _axis_reduce(reduce: Callable[..., tf.Tensor]) -> Callable[[Any, int | None], tf.Tensor]:
    return lambda a, axis: reduce(a, axis=axis)


#: The language's operations in TensorFlow (one line each).
OPS: dict[str, Callable[..., Any]] = {
    "const": const,
    "add": tf.add,
    "sub": tf.subtract,
    "mul": tf.multiply,
    "div": tf.divide,
    "pow": lambda a, b: tf.pow(_float(a), _float(b)),
    "neg": tf.negative,
    "matmul": tnp.matmul,
    "transpose": tf.transpose,
    "index": lambda a, key: a[key],
    "reshape": tf.reshape,
    "stack": lambda parts: tf.stack(list(parts)),
    "lt": tf.less,
    "le": tf.less_equal,
    "gt": tf.greater,
    "ge": tf.greater_equal,
    "eq": tf.equal,
    "ne": tf.not_equal,
    "exp": tf.exp,
    "log": tf.math.log,
    "log1p": tf.math.log1p,
    "sqrt": tf.sqrt,
    "sin": tf.sin,
    "cos": tf.cos,
    "tan": tf.tan,
    "asin": tf.asin,
    "acos": tf.acos,
    "atan": tf.atan,
    "sinh": tf.sinh,
    "cosh": tf.cosh,
    "tanh": tf.tanh,
    "asinh": tf.asinh,
    "acosh": tf.acosh,
    "atanh": tf.atanh,
    "expm1": tf.math.expm1,
    "log2": lambda x: tf.math.log(x) / math.log(2),
    "log10": lambda x: tf.math.log(x) / math.log(10),
    "square": tf.square,
    "cbrt": lambda x: tf.sign(x) * tf.abs(x) ** (1 / 3),
    "reciprocal": tf.math.reciprocal,
    "sinc": _sinc,
    "erfc": tf.math.erfc,
    "erfinv": tf.math.erfinv,
    "gammaln": tf.math.lgamma,
    "digamma": tf.math.digamma,
    "floor": tf.floor,
    "ceil": tf.math.ceil,
    "abs": tf.abs,
    "sign": tf.sign,
    "erf": tf.math.erf,
    "sigmoid": tf.sigmoid,
    "softplus": tf.math.softplus,
    "relu": tf.nn.relu,
    "maximum": tf.maximum,
    "minimum": tf.minimum,
    "atan2": tf.atan2,
    "hypot": _hypot,
    "logaddexp": _logaddexp,
    "mod": tf.math.floormod,
    "clip": lambda a, lo, hi: tf.minimum(tf.maximum(a, _float(lo)), _float(hi)),
    "where": _where,
    "sum": _axis_reduce(tf.reduce_sum),
    "mean": _axis_reduce(tf.reduce_mean),
    "prod": _axis_reduce(tf.reduce_prod),
    "norm": lambda a, axis: tf.sqrt(tf.reduce_sum(a * a, axis=axis)),
    "logsumexp": _axis_reduce(tf.reduce_logsumexp),
    "amax": _axis_reduce(tf.reduce_max),
    "amin": _axis_reduce(tf.reduce_min),
    "dot": lambda a, b: tf.tensordot(a, b, 1),
    # structure (issue 19)
    "concatenate": lambda parts, axis: tf.concat(list(parts), axis),
    "flip": lambda a, axis: tf.reverse(a, list(range(len(a.shape))) if axis is None else [axis]),
    "roll": _roll,
    "repeat": lambda a, k, axis: tf.repeat(a, k, axis),
    "tile": lambda a, reps: tf.tile(a, reps),
    "triu": lambda a, k: _triangle(a, k, upper=True),
    "tril": lambda a, k: _triangle(a, k, upper=False),
    "diag": lambda v, k: tf.linalg.diag(v, k=k),
    "diagonal": lambda a, k: tf.linalg.diag_part(a, k=k),
    "trace": tf.linalg.trace,
    "outer": lambda u, v: tf.tensordot(u, v, 0),
    "kron": _kron,
    "softmax": lambda a, axis: tf.nn.softmax(a, axis=axis),
    "log_softmax": lambda a, axis: tf.nn.log_softmax(a, axis=axis),
    "loggamma": tf.math.lgamma,
    "heaviside": lambda x, h0: _where(x > 0, 1.0, _where(x < 0, 0.0, h0)),
    "dirac_delta": lambda x: _where(tf.equal(x, 0), np.nan, 0.0),
    "polygamma": lambda n, x: tf.math.polygamma(_float(n), _float(x)),
    # arrays of any number of dimensions (issue 19)
    "permute_dims": lambda a, axes: tf.transpose(a, axes),
    # reductions and scans (issue 19)
    "cumsum": lambda a, axis: tf.cumsum(a, axis),
    "cumprod": _cumprod,
    "sort": lambda a, axis: tf.sort(a, axis=axis),
    # integer indexing and einsum (issue 19)
    "take": lambda a, index, axis: tf.gather(a, _index(index), axis=axis),
    "take_along_axis": lambda a, index, axis: tnp.take_along_axis(a, _index(index), axis),
    "einsum": lambda parts, spec: tf.einsum(spec, *parts),
    # linear algebra (issue 19)
    "inv": tf.linalg.inv,
    "solve": _solve,
    "det": tf.linalg.det,
    "logdet": _logdet,
    "cholesky": _cholesky,
    "eigvalsh": lambda a: tf.linalg.eigvalsh(_symmetric(a)),
    "svdvals": lambda a: tf.linalg.svd(a, compute_uv=False),
    "matrix_power": _matrix_power,
}
