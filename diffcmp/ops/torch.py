"""The language's operations in PyTorch, float64 (one line each).

``softplus`` is the exact formula: ``torch.nn.functional.softplus`` switches to ``x`` above its
threshold (a 4e-10 gradient error at 21). ``heaviside`` is built from ``where``:
``torch.heaviside`` has no backward (its derivative is zero almost everywhere). PyTorch has no
``cbrt``: it is ``sign(x) * abs(x) ** (1/3)``. NumPy's ``mod`` is ``torch.remainder`` (the sign
of the divisor), and ``clip`` is ``torch.clamp``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .spec import Literal, literal_to_float

DTYPE = torch.float64


#: The dtypes an engine may compute in (:data:`diffcmp.precision.DTYPES`) as PyTorch's.
DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16}


def const(value: Literal) -> torch.Tensor:
    """A literal as a float64 scalar tensor."""
    return torch.tensor(literal_to_float(value), dtype=DTYPE)


def ops_for(dtype: str = "float64", device: str = "cpu") -> dict[str, Callable[..., Any]]:
    """:data:`OPS` with its literals as ``dtype`` tensors on ``device`` (issue 21): a float64
    literal would make a float32 scalar param's loss float64 (PyTorch promotes two 0-d tensors
    to the wider dtype), and every other op keeps its arguments' dtype and device."""
    if dtype == "float64" and device == "cpu":
        return OPS
    kind = DTYPES[dtype]

    def literal(value: Literal) -> torch.Tensor:
        return torch.tensor(literal_to_float(value), dtype=kind, device=device)

    return {**OPS, "const": literal}


def _heaviside(x: torch.Tensor, h0: Any) -> torch.Tensor:
    h0 = torch.as_tensor(h0, dtype=x.dtype)
    return torch.where(x > 0, 1.0, torch.where(x < 0, 0.0, h0)).to(x.dtype)


def _index(index: Any, like: torch.Tensor) -> torch.Tensor:
    """A raw index (nested tuples of ints) as an int64 tensor on ``like``'s device."""
    return torch.as_tensor(index, dtype=torch.int64, device=like.device)


def _scatter_add(g: torch.Tensor, shape: tuple[int, ...], index: Any,
                 axis: int) -> torch.Tensor:
    """Zeros of ``shape`` with each slice of ``g`` added at its index along ``axis``."""
    flat = _index(index, g).reshape(-1)
    g = g.reshape((*shape[:axis], flat.numel(), *shape[axis + 1:]))
    return torch.zeros(shape, dtype=g.dtype, device=g.device).index_add(axis, flat, g)


def _scatter(g: torch.Tensor, shape: tuple[int, ...], key: Any) -> torch.Tensor:
    out = torch.zeros(shape, dtype=g.dtype, device=g.device)
    out[key] = g
    return out


def _order(a: torch.Tensor, axis: int) -> torch.Tensor:
    """The stable sorting permutation of ``a``'s lines along ``axis`` (issue 19)."""
    return torch.argsort(a.detach(), dim=axis, stable=True)
def _ex(found: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The result of a ``torch.linalg.*_ex`` call, ``nan`` where it failed (a singular matrix,
    one not positive definite), as NumPy's float64 values do."""
    value, info = found
    return torch.where(info != 0, torch.nan, value).to(value.dtype)


def _symmetric(a: torch.Tensor) -> torch.Tensor:
    return (a + a.T) / 2


def _eigh_vectors(a: torch.Tensor) -> torch.Tensor:
    """Unit eigenvectors of the symmetric part (ascending), the largest element of each
    positive."""
    v = torch.linalg.eigh(_symmetric(a))[1]
    largest = v[torch.argmax(torch.abs(v), dim=0), torch.arange(v.shape[1], device=v.device)]
    return v * torch.where(largest < 0, -1.0, 1.0).to(v.dtype)


#: The language's operations in PyTorch (one line each).
OPS: dict[str, Callable[..., Any]] = {
    "const": const,
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "div": torch.div,
    "pow": torch.pow,
    "neg": torch.neg,
    "matmul": torch.matmul,
    "transpose": lambda a: a.permute(tuple(reversed(range(a.dim())))),
    "index": lambda a, key: a[key],
    "reshape": torch.reshape,
    "stack": torch.stack,
    "lt": torch.lt,
    "le": torch.le,
    "gt": torch.gt,
    "ge": torch.ge,
    "eq": torch.eq,
    "ne": torch.ne,
    "exp": torch.exp,
    "log": torch.log,
    "log1p": torch.log1p,
    "sqrt": torch.sqrt,
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "asin": torch.asin,
    "acos": torch.acos,
    "atan": torch.atan,
    "sinh": torch.sinh,
    "cosh": torch.cosh,
    "tanh": torch.tanh,
    "asinh": torch.asinh,
    "acosh": torch.acosh,
    "atanh": torch.atanh,
    "expm1": torch.expm1,
    "log2": torch.log2,
    "log10": torch.log10,
    "square": torch.square,
    "cbrt": lambda x: torch.sign(x) * torch.abs(x) ** (1 / 3),
    "reciprocal": torch.reciprocal,
    "sinc": torch.sinc,
    "erfc": torch.erfc,
    "erfinv": torch.erfinv,
    "gammaln": torch.special.gammaln,
    "digamma": torch.digamma,
    "floor": torch.floor,
    "ceil": torch.ceil,
    "abs": torch.abs,
    "sign": torch.sign,
    "erf": torch.erf,
    "sigmoid": torch.sigmoid,
    "softplus": lambda x: torch.logaddexp(x, torch.zeros_like(x)),
    "relu": torch.relu,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    "atan2": torch.atan2,
    "hypot": torch.hypot,
    "logaddexp": torch.logaddexp,
    "mod": torch.remainder,
    "clip": torch.clamp,
    "where": torch.where,
    "sum": lambda a, axis: torch.sum(a) if axis is None else torch.sum(a, axis),
    "mean": lambda a, axis: torch.mean(a) if axis is None else torch.mean(a, axis),
    "prod": lambda a, axis: torch.prod(a) if axis is None else torch.prod(a, axis),
    "norm": lambda a, axis: torch.linalg.vector_norm(a, dim=axis),
    "logsumexp": lambda a, axis: torch.logsumexp(a.reshape(-1) if axis is None else a, axis or 0),
    "amax": lambda a, axis: torch.amax(a) if axis is None else torch.amax(a, axis),
    "amin": lambda a, axis: torch.amin(a) if axis is None else torch.amin(a, axis),
    "dot": lambda a, b: torch.dot(a, b),
    # structure (issue 19)
    "concatenate": lambda parts, axis: torch.cat(list(parts), axis),
    "flip": lambda a, axis: torch.flip(a, tuple(range(a.dim())) if axis is None else (axis,)),
    "roll": lambda a, shift, axis: torch.roll(a, shift, axis),
    "repeat": lambda a, k, axis: torch.repeat_interleave(a, k, axis),
    "tile": lambda a, reps: torch.tile(a, reps),
    "triu": lambda a, k: torch.triu(a, k),
    "tril": lambda a, k: torch.tril(a, k),
    "diag": lambda v, k: torch.diag(v, k),
    "diagonal": lambda a, k: torch.diagonal(a, k),
    "trace": torch.trace,
    "outer": torch.outer,
    "kron": torch.kron,
    "softmax": lambda a, axis: torch.softmax(a, axis),
    "log_softmax": lambda a, axis: torch.log_softmax(a, axis),
    "loggamma": torch.lgamma,
    "heaviside": _heaviside,
    "dirac_delta": lambda x: torch.where(x == 0, torch.nan, 0.0).to(x.dtype),
    "polygamma": lambda n, x: torch.polygamma(int(n), x),
    "broadcast_to": torch.broadcast_to,
    "sum_to": lambda a, shape: a.sum_to_size(shape) if shape else a.sum(),
    "scatter": _scatter,
    # arrays of any number of dimensions (issue 19)
    "permute_dims": lambda a, axes: torch.permute(a, axes),
    # reductions and scans (issue 19)
    "cumsum": lambda a, axis: torch.cumsum(a, axis),
    "cumprod": lambda a, axis: torch.cumprod(a, axis),
    "sort": lambda a, axis: torch.sort(a, dim=axis, stable=True).values,
    "sort_scatter": lambda g, a, axis: torch.zeros_like(a, dtype=g.dtype).scatter(
        axis, _order(a, axis), g.expand_as(a)),
    "sort_gather": lambda x, a, axis: torch.gather(x.expand_as(a), axis, _order(a, axis)),
    # integer indexing and einsum (issue 19)
    "take": lambda a, index, axis: a[(slice(None),) * axis + (_index(index, a),)],
    "take_along_axis": lambda a, index, axis: torch.take_along_dim(a, _index(index, a), axis),
    "einsum": lambda parts, spec: torch.einsum(spec, *parts),
    "scatter_add": _scatter_add,
    # linear algebra (issue 19)
    "inv": lambda a: _ex(torch.linalg.inv_ex(a)),
    "solve": lambda a, b: _ex(torch.linalg.solve_ex(a, b)),
    "det": torch.linalg.det,
    "logdet": torch.logdet,
    "cholesky": lambda a: _ex(torch.linalg.cholesky_ex(_symmetric(a))),
    "eigvalsh": lambda a: torch.linalg.eigvalsh(_symmetric(a)),
    "svdvals": torch.linalg.svdvals,
    "matrix_power": lambda a, k: torch.linalg.matrix_power(a, k),
    "eigh_vectors": _eigh_vectors,
}
