"""Vector-Jacobian rules: for every operation, the adjoint of each argument given the adjoint
``g`` of the result, one entry each (the matrix-calculus rules of Laue, Mitterreiter and Giesen,
NeurIPS 2018, in reverse mode, as HIPS/autograd registers them).

A rule is ``rule(k, g, ans, *args, *raw) -> (adjoint of each node argument, or None)``: ``k`` is
the namespace of operations the rule builds with (:class:`Namespace`), ``ans`` the operation's
result, ``args`` its node arguments and ``raw`` its literal ones (an exponent, an axis, a key, a
shape). Python's operators do the arithmetic, so one rule serves every namespace: graph nodes (the
symbolic, vectorised gradient of :mod:`diffcmp.matcalc.derive`) and NumPy arrays (the local
partial derivatives that the rounding-error bound of :mod:`diffcmp.matcalc.evaluate` needs). An
adjoint may come back in the broadcast shape of the result; the caller sums it down to its
argument's shape. ``None`` is a zero adjoint (``sign``, ``heaviside`` in ``x``, a condition).

Local derivatives are written without cancellation where a form exists (``sech(a)**2`` for
``tanh``, ``sigmoid(a) sigmoid(-a)`` for ``sigmoid``, ``(1 - a)(1 + a)`` for ``1 - a**2``), so
that a saturated point (``tanh`` at 60, whose derivative is 3.07e-52) is computed to full
relative precision, by the reference's balls at their first precision and by NumPy in float64
alike, rather than as the difference of two numbers near 1.
"""

from __future__ import annotations

import math
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from .array_rules import (
    concatenate,
    cumprod,
    einsum,
    exclusive,
    kron,
    stack,
    take_along_axis,
    uncumsum,
    undiagonal,
    unrepeat,
    untile,
)
from .linalg_rules import LINALG_VJP
from .namespace import Namespace, Rule, sum_along

#: Ops whose arguments receive no adjoint: comparisons (conditions) and leaves.
NO_ADJOINT = frozenset({"lt", "le", "gt", "ge", "eq", "ne", "const", "var", "seed"})

def _expand(k: Namespace, x: Any, axis: int | None, ndim: int) -> Any:
    """A reduction's result (or its adjoint) with the reduced axis put back, so that it
    broadcasts against the reduction's input (a full reduction's scalar broadcasts as it is)."""
    if axis is None:
        return x
    key = (slice(None),) * axis + (None,) + (slice(None),) * (ndim - axis - 1)
    return k.raw("index")(x, key)


def _broadcast(k: Namespace, g: Any, a: Any, axis: int | None) -> Any:
    """A reduction's adjoint ``g`` spread over its input's shape."""
    return k.raw("broadcast_to")(_expand(k, g, axis, len(a.shape)), a.shape)


def _count(a: Any, axis: int | None) -> int:
    size = 1
    for n in a.shape:
        size *= n
    return size if axis is None else a.shape[axis]


def _pow(k: Namespace, g: Any, ans: Any, a: Any, b: Any) -> tuple[Any, ...]:
    """``b a**(b-1)`` and ``a**b log(a)``; the second is 0 where ``a = 0`` (``0**b`` is 0 near
    any ``b > 0``: the product rule's ``0 * -inf`` is no derivative), as PyTorch gives."""
    if isinstance(b, int):  # a raw integer exponent
        return (None,) if b == 0 else (g * (b * a ** (b - 1)),)
    return g * (b * a ** (b - 1)), g * k.where(k.eq(a, 0), 0, ans * k.log(a))


def _swap(k: Namespace, x: Any) -> Any:
    """``x`` with its last two axes swapped (each matrix of a stack transposed)."""
    n = len(x.shape)
    return k.raw("permute_dims")(x, (*range(n - 2), n - 1, n - 2))


def _matmul_stacked(k: Namespace, g: Any, a: Any, b: Any) -> tuple[Any, Any]:
    """``a @ b`` where either has more than two dimensions (stacks of matrices): the adjoints in
    the result's batch shape (the caller sums them down to each argument's)."""
    index = k.raw("index")
    if len(a.shape) == 1:  # (k) @ (..., k, n) -> (..., n)
        rows = index(g, (*(slice(None),) * (len(g.shape) - 1), None, slice(None)))
        return sum_along(k, b * rows, len(b.shape) - 1), index(a, (slice(None), None)) * rows
    if len(b.shape) == 1:  # (..., m, k) @ (k) -> (..., m)
        column = index(g, (*(slice(None),) * len(g.shape), None))
        return column * b, sum_along(k, a * column, len(a.shape) - 2)
    return k.matmul(g, _swap(k, b)), k.matmul(_swap(k, a), g)


def _matmul(k: Namespace, g: Any, ans: Any, a: Any, b: Any) -> tuple[Any, Any]:
    if len(a.shape) > 2 or len(b.shape) > 2:
        return _matmul_stacked(k, g, a, b)
    if len(a.shape) == 1 and len(b.shape) == 1:  # (k) @ (k): a dot product
        return g * b, g * a
    if len(b.shape) == 1:  # (m, k) @ (k): the adjoint of a is the outer product g b^T
        return k.raw("index")(g, (slice(None), None)) * b, k.matmul(k.transpose(a), g)
    if len(a.shape) == 1:  # (k) @ (k, n)
        return k.matmul(b, g), k.raw("index")(a, (slice(None), None)) * g
    return k.matmul(g, k.transpose(b)), k.matmul(k.transpose(a), g)


def _prod(k: Namespace, g: Any, ans: Any, a: Any, axis: int | None = None) -> tuple[Any]:
    """d prod / d a_i is the product of the others: of the elements before ``i`` along the axis
    times of those after it (exclusive cumulative products from both ends, issue 19). Nothing is
    divided, so it is exact where elements are zero, and so is its own derivative (second
    order: ``prod(v)`` at ``v = (0, 2, 3)`` has ``H[1, 0] = 3``, the product of the others' own
    other)."""
    line = a if axis is not None else k.raw("reshape")(a, (math.prod(a.shape),))
    along = 0 if axis is None else axis

    def flip(x: Any) -> Any:
        return k.raw("flip")(x, along)

    others = exclusive(k, line, along) * flip(exclusive(k, flip(line), along))
    if axis is None:
        others = k.raw("reshape")(others, tuple(a.shape))
    return (_expand(k, g, axis, len(a.shape)) * others,)


def _ties(k: Namespace, g: Any, ans: Any, a: Any, axis: int | None = None) -> tuple[Any]:
    """``max``/``min``: the adjoint shared among the elements that attain it."""
    hit = k.where(k.eq(a, _expand(k, ans, axis, len(a.shape))), 1, 0)
    share = hit / _expand(k, sum_along(k, hit, axis), axis, len(a.shape))
    return (_expand(k, g, axis, len(a.shape)) * share,)


def _mean(k: Namespace, g: Any, ans: Any, a: Any, axis: int | None = None) -> tuple[Any]:
    return (_broadcast(k, g, a, axis) / _count(a, axis),)


def _norm(k: Namespace, g: Any, ans: Any, a: Any, axis: int | None = None) -> tuple[Any]:
    """``a / norm(a)``; at the tip of the cone (``a = 0``) the subgradient 0, as PyTorch gives."""
    length = _expand(k, ans, axis, len(a.shape))
    return (_expand(k, g, axis, len(a.shape)) * k.where(k.eq(length, 0), 0, a / length),)


def _logsumexp(k: Namespace, g: Any, ans: Any, a: Any, axis: int | None = None) -> tuple[Any]:
    return (_expand(k, g, axis, len(a.shape)) * k.exp(a - _expand(k, ans, axis, len(a.shape))),)


def _softmax(k: Namespace, g: Any, ans: Any, a: Any, axis: int) -> tuple[Any]:
    """``y (g - sum(g y))`` along the axis, ``y = softmax(a)``."""
    return (ans * (g - _expand(k, sum_along(k, g * ans, axis), axis, len(a.shape))),)


def _log_softmax(k: Namespace, g: Any, ans: Any, a: Any, axis: int) -> tuple[Any]:
    """``g - softmax(a) sum(g)`` along the axis."""
    return (g - k.exp(ans) * _expand(k, sum_along(k, g, axis), axis, len(a.shape)),)


def _sinc(k: Namespace, g: Any, ans: Any, a: Any) -> tuple[Any]:
    """``(cos(pi a) - sinc(a)) / a``, and 0 at 0 (sinc is even)."""
    return (g * k.where(k.eq(a, 0), 0, (k.cos(k.const("pi") * a) - ans) / a),)


def _clip(k: Namespace, g: Any, ans: Any, a: Any, lo: Any, hi: Any) -> tuple[Any, Any, Any]:
    """``clip(a, lo, hi)`` is ``min(max(a, lo), hi)``, as NumPy computes it: the rules of
    ``maximum`` and ``minimum`` chained (``a`` takes the adjoint on ``lo <= a <= hi``)."""
    inside = k.le(k.maximum(a, lo), hi)
    kept = k.where(inside, g, 0)
    return (k.where(k.ge(a, lo), kept, 0), k.where(k.ge(a, lo), 0, kept), k.where(inside, 0, g))


def _hypot(k: Namespace, g: Any, ans: Any, a: Any, b: Any) -> tuple[Any, Any]:
    """``a / hypot``, ``b / hypot``; at the tip of the cone the subgradient 0, as for ``norm``."""
    tip = k.eq(ans, 0)
    return g * k.where(tip, 0, a / ans), g * k.where(tip, 0, b / ans)


#: Every differentiable operation's vector-Jacobian rule (one line each).
VJP: dict[str, Rule] = {
    "add": lambda k, g, ans, a, b: (g, g),
    "sub": lambda k, g, ans, a, b: (g, -g),
    "mul": lambda k, g, ans, a, b: (g * b, g * a),
    "div": lambda k, g, ans, a, b: (g / b, -(g * ans / b)),
    "pow": _pow,
    "neg": lambda k, g, ans, a: (-g,),
    "matmul": _matmul,
    "transpose": lambda k, g, ans, a: (k.transpose(g),),
    "index": lambda k, g, ans, a, key: (k.raw("scatter")(g, a.shape, key),),
    "reshape": lambda k, g, ans, a, shape: (k.raw("reshape")(g, a.shape),),
    "stack": stack,
    "exp": lambda k, g, ans, a: (g * ans,),
    "log": lambda k, g, ans, a: (g / a,),
    "log1p": lambda k, g, ans, a: (g / (1 + a),),
    "sqrt": lambda k, g, ans, a: (g / (2 * ans),),
    "sin": lambda k, g, ans, a: (g * k.cos(a),),
    "cos": lambda k, g, ans, a: (-(g * k.sin(a)),),
    "tan": lambda k, g, ans, a: (g * (1 + ans**2),),
    "asin": lambda k, g, ans, a: (g / k.sqrt((1 - a) * (1 + a)),),
    "acos": lambda k, g, ans, a: (-(g / k.sqrt((1 - a) * (1 + a))),),
    "atan": lambda k, g, ans, a: (g / (1 + a**2),),
    "sinh": lambda k, g, ans, a: (g * k.cosh(a),),
    "cosh": lambda k, g, ans, a: (g * k.sinh(a),),
    "tanh": lambda k, g, ans, a: (g / k.cosh(a) ** 2,),
    "asinh": lambda k, g, ans, a: (g / k.sqrt(1 + a**2),),
    "acosh": lambda k, g, ans, a: (g / k.sqrt((a - 1) * (a + 1)),),
    "atanh": lambda k, g, ans, a: (g / ((1 - a) * (1 + a)),),
    "expm1": lambda k, g, ans, a: (g * k.exp(a),),
    "log2": lambda k, g, ans, a: (g / (a * k.log(2)),),
    "log10": lambda k, g, ans, a: (g / (a * k.log(10)),),
    "square": lambda k, g, ans, a: (g * (2 * a),),
    "cbrt": lambda k, g, ans, a: (g / (3 * ans**2),),
    "reciprocal": lambda k, g, ans, a: (-(g * ans**2),),
    "sinc": _sinc,
    "erfc": lambda k, g, ans, a: (-(g * (k.exp(-(a**2)) * (2 / k.sqrt(k.const("pi"))))),),
    "erfinv": lambda k, g, ans, a: (g * (k.exp(ans**2) * (k.sqrt(k.const("pi")) / 2)),),
    "gammaln": lambda k, g, ans, a: (g * k.digamma(a),),
    "digamma": lambda k, g, ans, a: (g * k.polygamma(1, a),),
    "floor": lambda k, g, ans, a: (None,),
    "ceil": lambda k, g, ans, a: (None,),
    "abs": lambda k, g, ans, a: (g * k.sign(a),),
    "sign": lambda k, g, ans, a: (None,),
    "erf": lambda k, g, ans, a: (g * (k.exp(-(a**2)) * (2 / k.sqrt(k.const("pi")))),),
    "sigmoid": lambda k, g, ans, a: (g * (ans * k.sigmoid(-a)),),
    "softplus": lambda k, g, ans, a: (g * k.sigmoid(a),),
    "relu": lambda k, g, ans, a: (k.where(k.gt(a, 0), g, 0),),
    "maximum": lambda k, g, ans, a, b: (k.where(k.ge(a, b), g, 0), k.where(k.ge(a, b), 0, g)),
    "minimum": lambda k, g, ans, a, b: (k.where(k.le(a, b), g, 0), k.where(k.le(a, b), 0, g)),
    "atan2": lambda k, g, ans, y, x: (g * x / (x**2 + y**2), -(g * y / (x**2 + y**2))),
    "hypot": _hypot,
    "logaddexp": lambda k, g, ans, a, b: (g * k.exp(a - ans), g * k.exp(b - ans)),
    "mod": lambda k, g, ans, a, b: (g, -(g * k.floor(a / b))),
    "clip": _clip,
    "where": lambda k, g, ans, c, a, b: (None, k.where(c, g, 0), k.where(c, 0, g)),
    "sum": lambda k, g, ans, a, axis=None: (_broadcast(k, g, a, axis),),
    "mean": _mean,
    "prod": _prod,
    "norm": _norm,
    "logsumexp": _logsumexp,
    "amax": _ties,
    "amin": _ties,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "dot": lambda k, g, ans, a, b: (g * b, g * a),
    # structure (issue 19)
    "concatenate": concatenate,
    "flip": lambda k, g, ans, a, axis: (k.raw("flip")(g, axis),),
    "roll": lambda k, g, ans, a, shift, axis: (k.raw("roll")(g, (
        (a.shape[axis] if axis is not None else math.prod(a.shape)) - shift), axis),),
    "repeat": lambda k, g, ans, a, times, axis: (unrepeat(k, g, a.shape, times, axis),),
    "tile": lambda k, g, ans, a, reps: (untile(k, g, a.shape, reps),),
    "triu": lambda k, g, ans, a, diagonal: (k.raw("triu")(g, diagonal),),
    "tril": lambda k, g, ans, a, diagonal: (k.raw("tril")(g, diagonal),),
    "diag": lambda k, g, ans, v, offset: (k.raw("diagonal")(g, offset),),
    "diagonal": lambda k, g, ans, a, offset: (undiagonal(k, g, a.shape, offset),),
    "trace": lambda k, g, ans, a: (undiagonal(k, k.raw("broadcast_to")(g, (min(a.shape),)),
                                               a.shape),),
    "outer": lambda k, g, ans, u, v: (k.matmul(g, v), k.matmul(k.transpose(g), u)),
    "kron": kron,
    "loggamma": lambda k, g, ans, a: (g * k.polygamma(0, a),),
    "heaviside": lambda k, g, ans, x, h0: (None, k.where(k.eq(x, 0), g, 0)),
    "dirac_delta": lambda k, g, ans, a: (None,),
    "polygamma": lambda k, g, ans, n, x: (None, g * k.polygamma(n + 1, x)),
    "broadcast_to": lambda k, g, ans, a, shape: (k.raw("sum_to")(g, a.shape),),
    "sum_to": lambda k, g, ans, a, shape: (k.raw("broadcast_to")(g, a.shape),),
    "scatter": lambda k, g, ans, a, shape, key: (k.raw("index")(g, key),),
    # arrays of any number of dimensions (issue 19)
    "permute_dims": lambda k, g, ans, a, axes: (k.raw("permute_dims")(g, tuple(
        sorted(range(len(axes)), key=axes.__getitem__))),),
    # reductions and scans (issue 19)
    "cumsum": lambda k, g, ans, a, axis: (uncumsum(k, k.raw("broadcast_to")(g, a.shape), axis),),
    "cumprod": cumprod,
    "sort": lambda k, g, ans, a, axis: (k.raw("sort_scatter")(g, a, axis),),
    "sort_scatter": lambda k, g, ans, x, a, axis: (k.raw("sort_gather")(g, a, axis), None),
    "sort_gather": lambda k, g, ans, x, a, axis: (k.raw("sort_scatter")(g, a, axis), None),
    # integer indexing and einsum (issue 19)
    "take": lambda k, g, ans, a, index, axis: (k.raw("scatter_add")(g, tuple(a.shape), index,
                                                                     axis),),
    "take_along_axis": take_along_axis,
    "einsum": einsum,
    "scatter_add": lambda k, g, ans, a, shape, index, axis: (k.raw("take")(g, index, axis),),
    # linear algebra (issue 19)
    **LINALG_VJP,
}


#: The local derivatives float64 autodiff engines compute where they differ from :data:`VJP`'s
#: cancellation-free forms (PyTorch's and JAX's backward of ``tanh`` is ``1 - y**2``, of
#: ``sigmoid`` ``y (1 - y)``), over :data:`VJP`. The grading floors
#: (:mod:`diffcmp.grading.floors`: how far float64 rounding can move each value) are derived
#: with them, so that an engine losing ``tanh``'s derivative at 200 (7.7e-174) to that
#: cancellation is graded as float64 allows, while the reference computes the value itself.
FLOAT64_FORMS: Mapping[str, Rule] = ChainMap({
    "tanh": lambda k, g, ans, a: (g * (1 - ans**2),),
    "sigmoid": lambda k, g, ans, a: (g * (ans * (1 - ans)),),
    "asin": lambda k, g, ans, a: (g / k.sqrt(1 - a**2),),
    "acos": lambda k, g, ans, a: (-(g / k.sqrt(1 - a**2)),),
    "acosh": lambda k, g, ans, a: (g / k.sqrt(a**2 - 1),),
    "atanh": lambda k, g, ans, a: (g / (1 - a**2),),
    "expm1": lambda k, g, ans, a: (g * (ans + 1),),
}, VJP)
