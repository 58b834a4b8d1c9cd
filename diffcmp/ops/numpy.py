"""The language's operations on NumPy arrays: float64 (``OPS``) and complex step
(``COMPLEX_OPS``).

``COMPLEX_OPS`` overrides the ops whose float form is not analytic with analytic ones, and
refuses the ops the spec marks not analytic (``abs``, ``max``, ``where``...): complex step is
exact only for analytic losses.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import scipy.special

from ..errors import UnsupportedError
from . import linalg_float
from .objects import scatter, sum_to
from .spec import NOT_ANALYTIC, literal_to_float

#: Below this, SciPy's polygamma (Hurwitz's zeta) takes time linear in ``|x|`` (1e6: 14 ms,
#: 1e15: hours): the reflection formula takes over for the orders it covers.
REFLECT_BELOW = -100.0


def _scatter_add(g: Any, shape: tuple[int, ...], index: Any, axis: int) -> np.ndarray:
    """Zeros of ``shape`` with each slice of ``g`` added at its index along ``axis``."""
    out = np.zeros(shape, dtype=np.result_type(g, np.float64))
    np.add.at(out, (slice(None),) * axis + (np.asarray(index, dtype=np.intp),), g)
    return out


def polygamma(n: Any, x: Any) -> Any:
    """SciPy's ``polygamma(n, x)``, in bounded time: for ``n`` 1 and 2 below
    ``REFLECT_BELOW`` by the reflection formula (``psi1(x) = pi**2 / sin(pi x)**2 -
    psi1(1 - x)``; ``psi2(x) = psi2(1 - x) - 2 pi**3 cot(pi x) / sin(pi x)**2``), ``nan`` for
    other orders there (no answer rather than no end)."""
    n, x = np.asarray(n), np.asarray(x, dtype=np.float64)
    far = x < REFLECT_BELOW
    if not np.any(far):
        return scipy.special.polygamma(n, x)
    near = np.where(far, 1.0, x)  # the far ones are computed below, from 1 - x
    out = np.asarray(scipy.special.polygamma(n, near), dtype=np.float64)
    with np.errstate(all="ignore"):
        sine = np.sin(np.pi * x)
        mirrored = scipy.special.polygamma(n, np.where(far, 1.0 - x, 1.0))
        first = np.pi**2 / sine**2 - mirrored
        second = mirrored - 2 * np.pi**3 * np.cos(np.pi * x) / sine**3
    reflected = np.where(n == 1, first, np.where(n == 2, second, np.nan))
    result = np.where(far, reflected, out)
    return result if result.ndim else result[()]


def _order(a: Any, axis: int) -> Any:
    """The stable sorting permutation of ``a``'s lines along ``axis`` (issue 19)."""
    return np.argsort(a, axis, kind="stable")


def array_ops(xp: Any, special: Any) -> dict[str, Callable[..., Any]]:
    """The ops written alike over any NumPy-like namespace ``xp`` and SciPy-like ``special``
    (``erf``, ``erfc``, ``erfinv``, ``expit``, ``gammaln``, ``logsumexp``, ``psi``): NumPy's
    own (:data:`OPS`) and ``autograd.numpy``'s (:mod:`diffcmp.ops.autograd`)."""
    return {
        "const": lambda value: xp.float64(literal_to_float(value)),
        "add": xp.add,
        "sub": xp.subtract,
        "mul": xp.multiply,
        "div": xp.divide,
        "pow": xp.power,
        "neg": xp.negative,
        "matmul": xp.matmul,
        "transpose": xp.transpose,
        "index": lambda a, key: a[key],
        "reshape": lambda a, shape: xp.reshape(a, shape),
        "stack": xp.stack,
        "lt": xp.less,
        "le": xp.less_equal,
        "gt": xp.greater,
        "ge": xp.greater_equal,
        "eq": xp.equal,
        "ne": xp.not_equal,
        "exp": xp.exp,
        "log": xp.log,
        "log1p": xp.log1p,
        "sqrt": xp.sqrt,
        "sin": xp.sin,
        "cos": xp.cos,
        "tan": xp.tan,
        "asin": xp.arcsin,
        "acos": xp.arccos,
        "atan": xp.arctan,
        "sinh": xp.sinh,
        "cosh": xp.cosh,
        "tanh": xp.tanh,
        "asinh": xp.arcsinh,
        "acosh": xp.arccosh,
        "atanh": xp.arctanh,
        "expm1": xp.expm1,
        "log2": xp.log2,
        "log10": xp.log10,
        "square": xp.square,
        "cbrt": xp.cbrt,
        "reciprocal": xp.reciprocal,
        "sinc": xp.sinc,
        "erfc": special.erfc,
        "erfinv": special.erfinv,
        "gammaln": special.gammaln,
        "digamma": special.psi,
        "floor": xp.floor,
        "ceil": xp.ceil,
        "abs": xp.abs,
        "sign": xp.sign,
        "erf": special.erf,
        "sigmoid": special.expit,
        "softplus": lambda x: xp.logaddexp(0.0, x),
        "relu": lambda x: xp.maximum(x, 0.0),
        "maximum": xp.maximum,
        "minimum": xp.minimum,
        "atan2": xp.arctan2,
        "hypot": xp.hypot,
        "logaddexp": xp.logaddexp,
        "mod": xp.mod,
        "clip": xp.clip,
        "where": xp.where,
        "sum": lambda a, axis: xp.sum(a, axis),
        "mean": lambda a, axis: xp.mean(a, axis),
        "prod": lambda a, axis: xp.prod(a, axis),
        "norm": lambda a, axis: xp.sqrt(xp.sum(a * a, axis)),
        "logsumexp": lambda a, axis: special.logsumexp(a, axis),
        "amax": lambda a, axis: xp.max(a, axis),
        "amin": lambda a, axis: xp.min(a, axis),
        "dot": xp.dot,
        # structure (issue 19)
        "concatenate": lambda parts, axis: xp.concatenate(parts, axis),
        "flip": lambda a, axis: xp.flip(a, axis),
        "roll": lambda a, shift, axis: xp.roll(a, shift, axis),
        "repeat": lambda a, k, axis: xp.repeat(a, k, axis),
        "tile": lambda a, reps: xp.tile(a, reps),
        "triu": lambda a, k: xp.triu(a, k),
        "tril": lambda a, k: xp.tril(a, k),
        "diag": lambda v, k: xp.diag(v, k),
        "diagonal": lambda a, k: xp.diagonal(a, k).copy(),
        "trace": xp.trace,
        "outer": xp.outer,
        "kron": xp.kron,
        "loggamma": special.gammaln,
        "heaviside": lambda x, h0: xp.heaviside(x, xp.float64(h0)),
        "dirac_delta": lambda x: xp.where(xp.equal(x, 0), xp.nan, 0.0),
        # arrays of any number of dimensions (issue 19)
        "permute_dims": lambda a, axes: xp.transpose(a, axes),
        # reductions and scans (issue 19)
        "cumsum": lambda a, axis: xp.cumsum(a, axis),
        "cumprod": lambda a, axis: xp.cumprod(a, axis),
        "sort": lambda a, axis: xp.sort(a, axis, kind="stable"),
        # integer indexing and einsum (issue 19)
        "einsum": lambda parts, spec: xp.einsum(spec, *parts),
    }


#: The language's operations in NumPy float64 (one line each).
OPS: dict[str, Callable[..., Any]] = {
    **array_ops(np, scipy.special),
    "softmax": lambda a, axis: scipy.special.softmax(a, axis),
    "log_softmax": lambda a, axis: scipy.special.log_softmax(a, axis),
    "polygamma": polygamma,
    "broadcast_to": np.broadcast_to,
    "sum_to": sum_to,
    "scatter": scatter,
    "sort_scatter": lambda g, a, axis: np.take_along_axis(
        np.broadcast_to(g, np.shape(a)), np.argsort(_order(a, axis), axis), axis),
    "sort_gather": lambda x, a, axis: np.take_along_axis(
        np.broadcast_to(x, np.shape(a)), _order(a, axis), axis),
    "take": lambda a, index, axis: np.take(a, np.asarray(index, dtype=np.intp), axis),
    "take_along_axis": lambda a, index, axis: np.take_along_axis(
        a, np.asarray(index, dtype=np.intp), axis),
    "scatter_add": lambda g, shape, index, axis: _scatter_add(g, shape, index, axis),
    **linalg_float.OPS,
}


def _complex_logsumexp(v: np.ndarray, axis: int | None) -> Any:
    # any real constant shift is exact, so the step passes through
    shift = np.max(np.real(v), axis, keepdims=True)
    return np.squeeze(shift, axis) + np.log(np.sum(np.exp(v - shift), axis))


def _complex_log_softmax(v: np.ndarray, axis: int) -> Any:
    shifted = v - np.max(np.real(v), axis, keepdims=True)  # a real shift, as in logsumexp
    return shifted - np.log(np.sum(np.exp(shifted), axis, keepdims=True))


def _complex_softmax(v: np.ndarray, axis: int) -> Any:
    e = np.exp(v - np.max(np.real(v), axis, keepdims=True))
    return e / np.sum(e, axis, keepdims=True)


def _complex_log1p(z: Any) -> Any:
    """``log1p`` of ``a + ib`` to full accuracy (NumPy's complex ``log1p`` is ``log(1 + z)``,
    which loses the digits of a tiny ``a``): ``1 + z = (1 + a)(1 + it)`` with ``t = b / (1 + a)``,
    so ``log1p(z) = log1p(a) + log1p(t**2) / 2 + i atan(t)``, exactly, where ``1 + a > 0``."""
    t = z.imag / (1 + z.real)
    return np.log1p(z.real) + 0.5 * np.log1p(t * t) + 1j * np.arctan(t)


def _complex_atan2(y: Any, x: Any) -> Any:
    return 2 * np.arctan(y / (np.sqrt(x * x + y * y) + x))  # analytic off the negative x-axis


def _complex_cbrt(z: Any) -> Any:
    """The real cube root, continued analytically off the real axis (``z**(1/3)`` on the side of
    ``z``'s real part: the principal root of a negative number is not real)."""
    side = np.where(np.real(z) < 0, -1.0, 1.0)
    return side * (side * z) ** (1 / 3)


def _complex_logaddexp(a: Any, b: Any) -> Any:
    shift = np.maximum(np.real(a), np.real(b))  # a real shift, as in logsumexp
    return shift + np.log(np.exp(a - shift) + np.exp(b - shift))


def _complex_gammaln(z: Any) -> Any:
    """``log|gamma(x)|`` continued analytically: SciPy's ``loggamma`` for ``x > 0``, else by the
    reflection ``gamma(z) gamma(1 - z) = pi / sin(pi z)``, with ``sin(pi z)`` turned to the
    positive side (``loggamma`` of a negative ``x`` has the imaginary part ``k pi``, which would
    swallow the step)."""
    z = np.asarray(z, dtype=np.complex128)
    s = np.sin(np.pi * z)
    reflected = np.log(np.pi) - np.log(s * np.sign(np.real(s))) - scipy.special.loggamma(1 - z)
    return np.where(np.real(z) > 0, scipy.special.loggamma(z), reflected)


#: Analytic replacements for complex step (one line each).
_ANALYTIC = {
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "logsumexp": _complex_logsumexp,
    "log1p": _complex_log1p,
    "softmax": _complex_softmax,
    "log_softmax": _complex_log_softmax,
    "loggamma": scipy.special.loggamma,
    "atan2": _complex_atan2,
    "cbrt": _complex_cbrt,
    "hypot": lambda a, b: np.sqrt(a * a + b * b),
    "logaddexp": _complex_logaddexp,
    "gammaln": _complex_gammaln,
    # linear algebra (issue 19)
    **linalg_float.COMPLEX_OPS,
}


#: Analytic ops with no complex implementation here (SciPy's ``polygamma`` and ``erfinv`` are
#: real only).
NO_COMPLEX_FORM = ("polygamma", "erfinv")


class _Refuse(Mapping[str, Callable[..., Any]]):
    """Raises :class:`UnsupportedError` when the compiler asks for an op complex step cannot
    pass through."""

    def __getitem__(self, name: str) -> Callable[..., Any]:
        if name in NOT_ANALYTIC:
            raise UnsupportedError(f"'{name}' is not analytic, and complex step needs an "
                                   "analytic loss")
        if name in NO_COMPLEX_FORM:
            raise UnsupportedError(f"'{name}' has no complex implementation for complex step")
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter((*NOT_ANALYTIC, *NO_COMPLEX_FORM))

    def __len__(self) -> int:
        return len(NOT_ANALYTIC) + len(NO_COMPLEX_FORM)


#: Complex-step ops: the analytic ones of ``OPS`` (with analytic forms where the float one is
#: not), refusing the rest.
COMPLEX_OPS: ChainMap[str, Callable[..., Any]] = ChainMap(
    _ANALYTIC, {k: v for k, v in OPS.items() if k not in (*NOT_ANALYTIC, *NO_COMPLEX_FORM)},
    _Refuse())
