"""The language's operations in CasADi (one line each), float64, on MX graphs (issue 20).

CasADi's values are matrices (two dimensions, always): this table keeps NumPy's shape beside
each, as a :class:`Mat`, and maps a scalar to a 1 x 1 matrix, a vector of ``n`` to an ``n x 1``
column and a matrix to itself, so that NumPy's semantics hold: broadcasting (``repmat``; a
vector broadcasts as a row, as in NumPy), ``matmul`` of a vector on either side, reductions
without a kept dimension. Structure ops (indexing, reshape, transposes, flips, rolls,
``repeat``, ``tile``, ``triu``, ``diag``, ``take``...) are each one gather of the row-major
elements (their positions computed by NumPy on an array of indices, once, as the graph is built),
a zero appended for the positions they leave empty. An array of more than two dimensions is
:class:`~diffcmp.errors.UnsupportedError`, and so is an op CasADi lacks (on MX: ``chol``,
``det``, eigenvalues, sorting, special functions such as ``gammaln``), naming it. This module
imports CasADi: only the ``casadi`` engine imports it, after
:func:`diffcmp.engines.optional.require` found it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

import casadi as ca
import numpy as np

from ..errors import UnsupportedError
from .spec import literal_to_float


@dataclass(frozen=True)
class Mat:
    """A CasADi value (``x``: DM, SX or MX) and the NumPy shape it stands for (at most 2-d)."""

    x: Any
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """How many elements."""
        return math.prod(self.shape)


def _dims(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) > 2:
        raise UnsupportedError(f"an array of shape {shape}: CasADi's values are matrices, of "
                               "two dimensions at most")
    return (1, 1) if not shape else (shape[0], 1) if len(shape) == 1 else (shape[0], shape[1])


def array(values: Any) -> Mat:
    """NumPy values (float64, or booleans as 0 and 1) as a constant :class:`Mat`."""
    values = np.asarray(values, dtype=np.float64)
    return Mat(ca.DM(values.reshape(_dims(values.shape))), values.shape)


def to_numpy(value: Any) -> np.ndarray:
    """A :class:`Mat` of constants (or a CasADi value of known shape) as a NumPy array."""
    shape = value.shape if isinstance(value, Mat) else None
    x = value.x if isinstance(value, Mat) else value
    out = np.array(ca.evalf(x) if not isinstance(x, ca.DM) else x, dtype=np.float64)
    return out.reshape(_dims(shape)).reshape(shape) if shape is not None else out


def _lift(a: Any) -> Mat:
    return a if isinstance(a, Mat) else array(a)


def _expand(a: Mat, shape: tuple[int, ...]) -> Any:
    """``a``'s matrix broadcast to ``shape`` (NumPy's rules), a scalar left as CasADi's."""
    if a.shape == shape or a.size == 1:
        return a.x
    rows, cols = _dims(shape)
    view = a.x.T if len(a.shape) == 1 and len(shape) == 2 else a.x  # a vector is a row
    return ca.repmat(view, rows // view.shape[0], cols // view.shape[1])


def _unary(function: Callable[[Any], Any]) -> Callable[[Any], Mat]:
    return lambda a: Mat(function(_lift(a).x), _lift(a).shape)


def _nary(function: Callable[..., Any]) -> Callable[..., Mat]:
    def apply(*args: Any) -> Mat:
        parts = [_lift(a) for a in args]
        shape = tuple(np.broadcast_shapes(*(p.shape for p in parts)))
        out = function(*(_expand(p, shape) for p in parts))
        if out.shape != _dims(shape):  # scalars only: CasADi's result is 1 x 1
            out = ca.repmat(out, *_dims(shape))
        return Mat(out, shape)
    return apply


def _flat(a: Mat) -> Any:
    """``a``'s elements row-major as a column."""
    return ca.reshape(a.x.T, a.size, 1) if len(a.shape) == 2 else a.x


def _unflat(column: Any, shape: tuple[int, ...]) -> Mat:
    """A column of row-major elements as an array of ``shape``."""
    rows, cols = _dims(shape)
    return Mat(ca.reshape(column, cols, rows).T if len(shape) == 2 else column, shape)


def _gather(parts: Sequence[Any], place: Callable[..., np.ndarray]) -> Mat:
    """The elements of ``parts`` where ``place`` (NumPy, over arrays of their row-major
    positions) puts them; a position ``-1`` is 0."""
    mats = [_lift(p) for p in parts]
    ids, start = [], 0
    for m in mats:
        ids.append(np.arange(start, start + m.size).reshape(m.shape))
        start += m.size
    where = np.asarray(place(*ids))
    column = ca.vertcat(*(_flat(m) for m in mats), ca.DM(0.0))
    picked = column[[int(i) if i >= 0 else start for i in where.ravel()]]
    return _unflat(picked, where.shape)


def _empty(ids: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return np.where(keep, ids, -1)


def _lines(a: Mat, axis: int | None) -> tuple[list[Any], tuple[int, ...]]:
    """``a``'s slices along ``axis`` (each a column over the other axis; the elements for
    ``None`` or a vector), and the shape of a reduction's result."""
    if axis is None or len(a.shape) <= 1:
        column = _flat(a)
        return [column[i] for i in range(a.size)], ()
    if axis == 0:
        return [a.x[i, :].T for i in range(a.shape[0])], (a.shape[1],)
    return [a.x[:, j] for j in range(a.shape[1])], (a.shape[0],)


def _fold(function: Callable[[Any, Any], Any], whole: Callable[[Any], Any] | None = None
          ) -> Callable[[Any, int | None], Mat]:
    """A reduction folding ``function`` over the slices along the axis (``whole``: CasADi's
    own reduction of every element at once)."""
    def apply(a: Any, axis: int | None) -> Mat:
        a = _lift(a)
        if whole is not None and (axis is None or len(a.shape) <= 1):
            return Mat(whole(_flat(a)), ())
        lines, shape = _lines(a, axis)
        return Mat(reduce(function, lines), shape)
    return apply


def _sum(a: Any, axis: int | None) -> Mat:
    a = _lift(a)
    if axis is None or len(a.shape) <= 1:
        return Mat(ca.sum1(ca.sum2(a.x)), ())
    return Mat(ca.sum1(a.x).T, (a.shape[1],)) if axis == 0 else Mat(ca.sum2(a.x), (a.shape[0],))


def _mean(a: Any, axis: int | None) -> Mat:
    a = _lift(a)
    count = a.size if axis is None else a.shape[axis]
    return Mat(_sum(a, axis).x / count, _sum(a, axis).shape)


def _keep(reduced: Mat, a: Mat, axis: int) -> Mat:
    """A reduction along ``axis`` broadcast back to ``a``'s shape."""
    kept = reduced if len(a.shape) <= 1 else Mat(reduced.x.T, (1, reduced.size)) if axis == 0 \
        else Mat(reduced.x, (reduced.size, 1))
    return Mat(_expand(kept, a.shape), a.shape)


def _logsumexp(a: Any, axis: int | None) -> Mat:
    a = _lift(a)
    top = _AMAX(a, axis)
    shifted = a.x - (top.x if axis is None or len(a.shape) <= 1 else _keep(top, a, axis).x)
    total = _sum(Mat(ca.exp(shifted), a.shape), axis)
    return Mat(ca.log(total.x) + top.x, total.shape)


def _log_softmax(a: Any, axis: int) -> Mat:
    a = _lift(a)
    return Mat(a.x - _keep(_logsumexp(a, axis), a, axis).x, a.shape)


def _matmul(a: Any, b: Any) -> Mat:
    a, b = _lift(a), _lift(b)
    if not a.shape or not b.shape:
        return _nary(lambda u, v: u * v)(a, b)
    if len(a.shape) == 1:
        out = ca.mtimes(a.x.T, b.x)
        return Mat(out, ()) if len(b.shape) == 1 else Mat(out.T, (b.shape[1],))
    return Mat(ca.mtimes(a.x, b.x), (a.shape[0],) if len(b.shape) == 1 else (a.shape[0],
                                                                            b.shape[1]))


def _scan(function: Callable[[Any, Any], Any]) -> Callable[[Any, int], Mat]:
    """A running ``function`` along ``axis`` (``cumsum``, ``cumprod``)."""
    def apply(a: Any, axis: int) -> Mat:
        a = _lift(a)
        lines, _ = _lines(a, axis)
        running = [lines[0]]
        for line in lines[1:]:
            running.append(function(running[-1], line))
        if len(a.shape) <= 1:
            return Mat(ca.vertcat(*running), a.shape)
        joined = ca.horzcat(*running)
        return Mat(joined.T if axis == 0 else joined, a.shape)
    return apply


def _matrix_power(a: Any, k: int) -> Mat:
    a = _lift(a)
    base = ca.inv(a.x) if k < 0 else a.x
    out = ca.DM.eye(a.shape[0])
    for _ in range(abs(k)):
        out = ca.mtimes(out, base)
    return Mat(out, a.shape)


def _stack(parts: Sequence[Any]) -> Mat:
    return _gather(parts, lambda *ids: np.stack(ids))


def _where(c: Any, a: Any, b: Any) -> Mat:
    return _nary(lambda u, v, w: ca.if_else(u, v, w))(c, a, b)


_AMAX = _fold(ca.fmax, ca.mmax)
_F = _unary


#: The language's operations in CasADi (one line each; the spec's others are unsupported).
OPS: dict[str, Callable[..., Any]] = {
    "const": lambda value: array(literal_to_float(value)),
    "add": _nary(lambda a, b: a + b),
    "sub": _nary(lambda a, b: a - b),
    "mul": _nary(lambda a, b: a * b),
    "div": _nary(lambda a, b: a / b),
    "pow": _nary(lambda a, b: a**b),
    "neg": _F(lambda a: -a),
    "matmul": _matmul,
    "transpose": lambda a: _gather([a], lambda i: i.T),
    "index": lambda a, key: _gather([a], lambda i: i[key]),
    "reshape": lambda a, shape: _gather([a], lambda i: i.reshape(shape)),
    "stack": _stack,
    "lt": _nary(lambda a, b: a < b),
    "le": _nary(lambda a, b: a <= b),
    "gt": _nary(lambda a, b: a > b),
    "ge": _nary(lambda a, b: a >= b),
    "eq": _nary(lambda a, b: a == b),
    "ne": _nary(lambda a, b: a != b),
    "exp": _F(ca.exp),
    "log": _F(ca.log),
    "log1p": _F(ca.log1p),
    "sqrt": _F(ca.sqrt),
    "sin": _F(ca.sin),
    "cos": _F(ca.cos),
    "tan": _F(ca.tan),
    "asin": _F(ca.asin),
    "acos": _F(ca.acos),
    "atan": _F(ca.atan),
    "sinh": _F(ca.sinh),
    "cosh": _F(ca.cosh),
    "tanh": _F(ca.tanh),
    "asinh": _F(ca.asinh),
    "acosh": _F(ca.acosh),
    "atanh": _F(ca.atanh),
    "expm1": _F(ca.expm1),
    "log2": _F(lambda a: ca.log(a) / math.log(2.0)),
    "log10": _F(ca.log10),
    "square": _F(lambda a: a * a),
    "cbrt": _F(lambda a: ca.sign(a) * ca.fabs(a) ** (1.0 / 3.0)),
    "reciprocal": _F(lambda a: 1.0 / a),
    "sinc": _F(lambda a: ca.if_else(a == 0, 1.0, ca.sin(math.pi * a) / (math.pi * a))),
    "erfinv": _F(ca.erfinv),
    "floor": _F(ca.floor),
    "ceil": _F(ca.ceil),
    "abs": _F(ca.fabs),
    "sign": _F(ca.sign),
    "erf": _F(ca.erf),
    "sigmoid": _F(lambda a: 1.0 / (1.0 + ca.exp(-a))),
    "softplus": _F(lambda a: ca.if_else(a > 0, a + ca.log1p(ca.exp(-a)), ca.log1p(ca.exp(a)))),
    "relu": _F(lambda a: ca.if_else(a > 0, a, 0.0)),
    "maximum": _nary(ca.fmax),
    "minimum": _nary(ca.fmin),
    "atan2": _nary(ca.atan2),
    "hypot": _nary(lambda a, b: ca.sqrt(a * a + b * b)),
    "logaddexp": _nary(lambda a, b: ca.if_else(a > b, a + ca.log1p(ca.exp(b - a)),
                                               b + ca.log1p(ca.exp(a - b)))),
    "mod": _nary(lambda a, b: a - ca.floor(a / b) * b),
    "clip": _nary(lambda a, low, high: ca.fmin(ca.fmax(a, low), high)),
    "where": _where,
    "sum": _sum,
    "mean": _mean,
    "prod": _fold(lambda a, b: a * b),
    "norm": lambda a, axis: _F(ca.sqrt)(_sum(_F(lambda a: a * a)(a), axis)),
    "logsumexp": _logsumexp,
    "amax": _AMAX,
    "amin": _fold(ca.fmin, ca.mmin),
    "dot": _matmul,
    # structure (issue 19)
    "concatenate": lambda parts, axis: _gather(parts, lambda *ids: np.concatenate(ids, axis)),
    "flip": lambda a, axis: _gather([a], lambda i: np.flip(i, axis)),
    "roll": lambda a, shift, axis: _gather([a], lambda i: np.roll(i, shift, axis)),
    "repeat": lambda a, k, axis: _gather([a], lambda i: np.repeat(i, k, axis)),
    "tile": lambda a, reps: _gather([a], lambda i: np.tile(i, reps)),
    "triu": lambda a, k: _gather([a], lambda i: _empty(i, np.triu(np.ones(i.shape), k) > 0)),
    "tril": lambda a, k: _gather([a], lambda i: _empty(i, np.tril(np.ones(i.shape), k) > 0)),
    "diag": lambda v, k: _gather([v], lambda i: np.diag(i + 1, k) - 1),
    "diagonal": lambda a, k: _gather([a], lambda i: np.diagonal(i, k)),
    "trace": lambda a: Mat(ca.trace(_lift(a).x), ()),
    "outer": lambda u, v: Mat(ca.mtimes(_lift(u).x, _lift(v).x.T), (_lift(u).size,
                                                                     _lift(v).size)),
    "kron": lambda a, b: Mat(ca.kron(_lift(a).x, _lift(b).x), tuple(
        np.multiply(_lift(a).shape, _lift(b).shape))),
    "softmax": lambda a, axis: _F(ca.exp)(_log_softmax(a, axis)),
    "log_softmax": _log_softmax,
    "heaviside": _nary(lambda x, h0: ca.if_else(x < 0, 0.0, ca.if_else(x > 0, 1.0, h0))),
    "dirac_delta": _F(lambda a: ca.if_else(a == 0, math.nan, 0.0)),
    "broadcast_to": lambda a, shape: _gather([a], lambda i: np.broadcast_to(i, shape)),
    "scatter": lambda g, shape, key: _gather([g], lambda i: _scatter(i, shape, key)),
    # arrays of any number of dimensions (issue 19), two here
    "permute_dims": lambda a, axes: _gather([a], lambda i: np.transpose(i, axes)),
    # reductions and scans (issue 19)
    "cumsum": _scan(lambda a, b: a + b),
    "cumprod": _scan(lambda a, b: a * b),
    # integer indexing (issue 19)
    "take": lambda a, index, axis: _gather([a], lambda i: np.take(i, np.asarray(index), axis)),
    "take_along_axis": lambda a, index, axis: _gather(
        [a], lambda i: np.take_along_axis(i, np.asarray(index), axis)),
    # linear algebra (issue 19)
    "inv": lambda a: Mat(ca.inv(_lift(a).x), _lift(a).shape),
    "solve": lambda a, b: Mat(ca.solve(_lift(a).x, _lift(b).x), _lift(b).shape),
    "matrix_power": _matrix_power,
}


def _scatter(ids: np.ndarray, shape: tuple[int, ...], key: Any) -> np.ndarray:
    out = np.full(shape, -1)
    out[key] = ids
    return out


#: Why CasADi (3.8, on MX) lacks the spec's other ops: the message of the cases that use them.
LACKS: dict[str, str] = {
    **dict.fromkeys(("gammaln", "digamma", "loggamma", "polygamma"),
                    "CasADi has no gamma function"),
    "erfc": "CasADi has no erfc (1 - erf cancels where erfc is small)",
    "cholesky": "CasADi's chol takes SX or DM, not MX",
    "det": "CasADi's det of an MX fails when evaluated",
    "logdet": "CasADi's det of an MX fails when evaluated",
    **dict.fromkeys(("eigvalsh", "eigh_vectors", "svdvals"),
                    "CasADi has no eigen- or singular-value decomposition of an MX"),
    **dict.fromkeys(("sort", "sort_scatter", "sort_gather"), "CasADi has no sort"),
    "einsum": "not mapped to CasADi's einstein (this table gives no einsum)",
    **dict.fromkeys(("scatter_add", "sum_to"), "a derivative op, not mapped (not in a loss)"),
}
