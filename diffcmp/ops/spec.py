"""The one specification of diffcmp's operations: every op of the language and of SymPy
translation, with its arity and whether it is analytic and smooth.

Every backend (:mod:`~diffcmp.ops.sympy`, :mod:`~diffcmp.ops.mpmath`, :mod:`~diffcmp.ops.numpy`
and its complex-step table, :mod:`~diffcmp.ops.torch`, :mod:`~diffcmp.ops.jax`) implements
exactly these names, each as one line of its ``OPS`` table, and ``tests/test_ops_spec.py`` fails
when a backend lacks one, has one more, takes another number of arguments, or computes another
value at the row's ``example``. Adding a function to the language is one row here (with ``call``,
the name the language calls it by) and one row per backend.

Arities count every positional argument, raw ones too: ``pow(a, 2)`` takes an int exponent,
``const(value)`` a literal, ``stack(parts)`` a list, and

- ``index(a, key)`` a literal key, NumPy's basic indexing: a non-negative int, a ``slice`` with
  non-negative ``start``, ``stop`` and ``step`` (none of them ``None``, ``step >= 1``), or a tuple
  of them, one per leading axis (``X[1:, 0]`` is ``index(X, (slice(1, 3, 1), 0))``);
- ``reshape(a, shape)`` a tuple of positive ints (any number of them) whose product is ``a``'s
  size;
- the ``LAYOUT`` ops (issue 19) NumPy's raw arguments, normalised: ``stack(parts)`` stacks
  equal shapes along a new first axis (a list literal; ``stack(parts, axis=1)`` is compiled as
  its transpose); ``concatenate(parts, axis)`` a non-negative axis; ``flip(a, axis)`` an axis or
  ``None`` (every axis); ``roll(a, shift, axis)`` an int shift and an axis or ``None`` (the
  flattened array); ``repeat(a, k, axis)`` a positive int and an axis or ``None``;
  ``tile(a, reps)`` a tuple of positive ints, one per axis of ``a`` (``a`` at least 1-d);
  ``triu``/``tril(a, k)`` a matrix and an int diagonal; ``diag(v, k)`` a vector to the matrix
  holding it on its ``k``-th diagonal, ``diagonal(A, k)`` a matrix to its ``k``-th diagonal
  (NumPy's ``diag(A, k)``), ``trace(A)``; ``outer(u, v)`` two vectors; ``kron(A, B)`` two arrays
  of the same number of dimensions;
  ``permute_dims(a, axes)`` a permutation of ``a``'s axes, a tuple of non-negative ints
  (NumPy's ``transpose(a, axes)``; ``transpose(a)`` reverses every axis, like ``a.T``);
- integer indexing and einsum (issue 19): ``take(a, index, axis)`` NumPy's ``take`` (``a[idx]``
  is ``take(a, idx, 0)``), ``index`` a tuple (a nested tuple for an index of two dimensions) of
  ints in ``0..a.shape[axis]-1`` (data of the case, read when compiled), a non-negative axis;
  ``take_along_axis(a, index, axis)`` NumPy's, ``index`` a nested tuple of ``a``'s number of
  dimensions, its sizes ``a``'s except along ``axis``; ``einsum(parts, spec)`` a list of arrays
  and an explicit spec (``"ij,jk->ik"``, letters only, one term per part, the output's letters
  each once); ``scatter_add(g, shape, index, axis)`` (the adjoint of ``take``) zeros of
  ``shape`` with each slice of ``g`` added at its index along ``axis`` (repeated indices
  accumulate);
- the ``LINALG`` ops (issue 19) square matrices (``svdvals`` any matrix), NumPy's names:
  ``inv(A)``, ``solve(A, b)`` (``b`` a vector or a matrix of ``A``'s rows), ``det(A)``,
  ``logdet(A)`` (``log(det(A))``, undefined where ``det(A) <= 0``), ``cholesky(A)``,
  ``eigvalsh(A)`` (ascending) and ``eigh_vectors(A)`` (their unit eigenvectors as columns, the
  largest element of each positive: a DERIVATIVE op, for ``eigvalsh``'s adjoint) of the
  symmetric part ``(A + A.T) / 2`` (as JAX symmetrises; for a symmetric ``A``, NumPy's value),
  ``svdvals(A)`` (descending), ``matrix_power(A, k)`` an int ``k`` (negative: of ``inv(A)``);
- every op of ``AXIS_OPS`` an axis, its last argument: ``None`` (every element: a scalar) or a
  non-negative int (along that axis: a result without it, no kept dimension; ``softmax`` and
  ``log_softmax`` keep the shape and take an int only);
- the ``SCAN`` ops (issue 19) ``cumsum(a, axis)``, ``cumprod(a, axis)`` and ``sort(a, axis)`` a
  non-negative int axis (NumPy's ``axis=None``, the flattened array, is compiled as a reshape to
  a vector first), the result of ``a``'s shape; ``sort`` is ascending and stable. Their derivative
  ops ``sort_scatter(g, a, axis)`` (``g`` put back where ``a``'s sorting permutation took each
  element from: the adjoint of ``sort``) and ``sort_gather(x, a, axis)`` (``x`` reordered as
  ``a`` sorts: ``sort(a)`` is ``sort_gather(a, a, axis)``) permute their first argument by the
  stable order of the second, which they do not differentiate.

The language's compiler normalises what users write (negative indices and axes, ``-1`` in a
shape, omitted slice bounds) before any backend sees it, so the raw arguments above are all a
backend (or a derivative rule) needs to handle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

#: Kinds of op: how the language writes them.
OPERATOR = "operator"  # + - * / ** @ and unary minus
STRUCTURE = "structure"  # constants, indexing, transposition, reshape, stacking scalars
COMPARE = "compare"  # < <= > >= == != (only as where()'s condition)
ELEMENTWISE = "elementwise"  # applied to each element (with NumPy broadcasting)
REDUCTION = "reduction"  # an array to a scalar, or along an axis to one dimension fewer
ALONG = "along"  # an array to one of its shape, computed along an axis (softmax)
TRANSLATION = "translation"  # appears only in SymPy expressions (Python cases, derivatives)
DERIVATIVE = "derivative"  # appears only in vectorised gradients (the adjoints of structure)
LAYOUT = "layout"  # structural functions of the language: stack, flip, diag, outer... (issue 19)
SCAN = "scan"  # an array to one of its shape along an axis: cumsum, cumprod, sort (issue 19)
LINALG = "linalg"  # linear algebra of matrices: inv, solve, det, cholesky, eigvalsh... (issue 19)

#: A literal of the language: an exact integer or fraction, a float, or a named constant.
Literal = int | Fraction | float | str


@dataclass(frozen=True)
class Op:
    """One operation: what every backend implements under ``name``."""

    name: str
    arity: int
    #: Complex step may pass through it (it has an analytic form on its domain).
    analytic: bool
    #: Continuously differentiable wherever it is defined (``abs`` is not: a kink at 0).
    smooth: bool
    kind: str
    #: The language's function name for it, or ``None`` (an operator, or not in the language).
    call: str | None
    #: Arguments at which the op is defined, for the backend tests: floats, nested lists
    #: (arrays), booleans (conditions) and the raw arguments (keys, exponents, literals).
    example: tuple[Any, ...]


def _op(name: str, arity: int, analytic: bool, smooth: bool, kind: str, call: str | None,
        *example: Any) -> Op:
    return Op(name, arity, analytic, smooth, kind, call, example)


_V = [0.3, -0.7, 1.1]
_M = [[0.5, -1.0], [2.0, 0.25]]
_R = [[0.5, -1.0, 0.3], [2.0, 0.25, -0.7]]  # two rows, three columns: the axes differ
_T = [_R, [[1.5, -0.25, 0.75], [-2.0, 0.125, 0.6]]]  # a (2, 2, 3) tensor
_S = [[2.0, 0.5, -0.3], [0.5, 1.0, 0.2], [-0.3, 0.2, 3.0]]  # symmetric positive definite

#: Every operation, one row each: name, arity, analytic, smooth, kind, language name, example.
SPEC: dict[str, Op] = {op.name: op for op in (
    _op("const", 1, True, True, STRUCTURE, None, Fraction(1, 3)),
    _op("add", 2, True, True, OPERATOR, None, 0.3, -1.25),
    _op("sub", 2, True, True, OPERATOR, None, 0.3, -1.25),
    _op("mul", 2, True, True, OPERATOR, None, 0.3, -1.25),
    _op("div", 2, True, True, OPERATOR, None, 0.3, -1.25),
    _op("pow", 2, True, True, OPERATOR, None, 1.3, 2.5),
    _op("neg", 1, True, True, OPERATOR, None, 0.3),
    _op("matmul", 2, True, True, OPERATOR, None, _M, [1.5, -0.5]),
    _op("transpose", 1, True, True, STRUCTURE, None, _M),
    _op("index", 2, True, True, STRUCTURE, None, _R, (1, slice(0, 3, 2))),
    _op("reshape", 2, True, True, STRUCTURE, "reshape", _R, (3, 2)),
    _op("stack", 1, True, True, LAYOUT, "stack", [0.3, -0.7, 1.1]),
    _op("lt", 2, False, False, COMPARE, None, 0.3, 0.5),
    _op("le", 2, False, False, COMPARE, None, 0.3, 0.5),
    _op("gt", 2, False, False, COMPARE, None, 0.3, 0.5),
    _op("ge", 2, False, False, COMPARE, None, 0.3, 0.5),
    _op("eq", 2, False, False, COMPARE, None, 0.3, 0.5),
    _op("ne", 2, False, False, COMPARE, None, 0.3, 0.5),
    _op("exp", 1, True, True, ELEMENTWISE, "exp", 0.3),
    _op("log", 1, True, True, ELEMENTWISE, "log", 0.3),
    _op("log1p", 1, True, True, ELEMENTWISE, "log1p", 0.3),
    _op("sqrt", 1, True, True, ELEMENTWISE, "sqrt", 0.3),
    _op("sin", 1, True, True, ELEMENTWISE, "sin", 0.3),
    _op("cos", 1, True, True, ELEMENTWISE, "cos", 0.3),
    _op("tan", 1, True, True, ELEMENTWISE, "tan", 0.3),
    _op("asin", 1, True, True, ELEMENTWISE, "asin", 0.3),
    _op("acos", 1, True, True, ELEMENTWISE, "acos", 0.3),
    _op("atan", 1, True, True, ELEMENTWISE, "atan", 0.3),
    _op("sinh", 1, True, True, ELEMENTWISE, "sinh", 0.3),
    _op("cosh", 1, True, True, ELEMENTWISE, "cosh", 0.3),
    _op("tanh", 1, True, True, ELEMENTWISE, "tanh", 0.3),
    _op("asinh", 1, True, True, ELEMENTWISE, "asinh", -0.3),
    _op("acosh", 1, True, True, ELEMENTWISE, "acosh", 1.3),
    _op("atanh", 1, True, True, ELEMENTWISE, "atanh", -0.3),
    _op("expm1", 1, True, True, ELEMENTWISE, "expm1", -0.3),
    _op("log2", 1, True, True, ELEMENTWISE, "log2", 0.3),
    _op("log10", 1, True, True, ELEMENTWISE, "log10", 0.3),
    _op("square", 1, True, True, ELEMENTWISE, "square", -0.3),
    _op("cbrt", 1, True, True, ELEMENTWISE, "cbrt", -0.3),
    _op("reciprocal", 1, True, True, ELEMENTWISE, "reciprocal", -0.3),
    _op("sinc", 1, True, True, ELEMENTWISE, "sinc", 0.3),
    _op("erfc", 1, True, True, ELEMENTWISE, "erfc", 0.3),
    _op("erfinv", 1, True, True, ELEMENTWISE, "erfinv", -0.3),
    _op("gammaln", 1, True, True, ELEMENTWISE, "gammaln", -0.3),
    _op("digamma", 1, True, True, ELEMENTWISE, "digamma", -0.3),
    _op("floor", 1, False, False, ELEMENTWISE, "floor", -0.3),
    _op("ceil", 1, False, False, ELEMENTWISE, "ceil", -0.3),
    _op("abs", 1, False, False, ELEMENTWISE, "abs", -0.3),
    _op("sign", 1, False, False, ELEMENTWISE, "sign", -0.3),
    _op("erf", 1, True, True, ELEMENTWISE, "erf", 0.3),
    _op("sigmoid", 1, True, True, ELEMENTWISE, "sigmoid", 0.3),
    _op("softplus", 1, True, True, ELEMENTWISE, "softplus", 0.3),
    _op("relu", 1, False, False, ELEMENTWISE, "relu", 0.3),
    _op("maximum", 2, False, False, ELEMENTWISE, "max", 0.3, 0.5),
    _op("minimum", 2, False, False, ELEMENTWISE, "min", 0.3, 0.5),
    _op("atan2", 2, True, True, ELEMENTWISE, "atan2", 0.3, 0.5),
    _op("hypot", 2, True, False, ELEMENTWISE, "hypot", -0.3, 0.5),
    _op("logaddexp", 2, True, True, ELEMENTWISE, "logaddexp", 0.3, -0.5),
    _op("mod", 2, False, False, OPERATOR, "mod", [-0.7, 0.7, 1.25], 0.5),
    _op("clip", 3, False, False, ELEMENTWISE, "clip", _V, -0.5, 0.5),
    _op("where", 3, False, False, ELEMENTWISE, "where", [True, False], [0.3, 0.5], [-1.0, 2.0]),
    _op("sum", 2, True, True, REDUCTION, "sum", _R, 1),
    _op("mean", 2, True, True, REDUCTION, "mean", _R, 0),
    _op("prod", 2, True, True, REDUCTION, "prod", _R, 1),
    _op("norm", 2, True, False, REDUCTION, "norm", _R, 0),
    _op("logsumexp", 2, True, True, REDUCTION, "logsumexp", _R, 1),
    _op("amax", 2, False, False, REDUCTION, "max", _R, 0),
    _op("amin", 2, False, False, REDUCTION, "min", _R, 1),
    _op("dot", 2, True, True, REDUCTION, "dot", _V, [2.0, 0.5, -1.0]),
    # structure (issue 19)
    _op("concatenate", 2, True, True, LAYOUT, "concatenate", [[0.3, -0.7], [1.1, 2.0]], 0),
    _op("flip", 2, True, True, LAYOUT, "flip", _R, 1),
    _op("roll", 3, True, True, LAYOUT, "roll", _R, 1, 1),
    _op("repeat", 3, True, True, LAYOUT, "repeat", _R, 2, 0),
    _op("tile", 2, True, True, LAYOUT, "tile", _R, (2, 1)),
    _op("triu", 2, True, True, LAYOUT, "triu", _R, 0),
    _op("tril", 2, True, True, LAYOUT, "tril", _R, -1),
    _op("diag", 2, True, True, LAYOUT, "diag", _V, 1),
    _op("diagonal", 2, True, True, LAYOUT, None, _R, -1),
    _op("trace", 1, True, True, LAYOUT, "trace", _M),
    _op("outer", 2, True, True, LAYOUT, "outer", _V, [2.0, 0.5]),
    _op("kron", 2, True, True, LAYOUT, "kron", _M, _R),
    # reductions and scans (issue 19)
    _op("cumsum", 2, True, True, SCAN, "cumsum", _R, 1),
    _op("cumprod", 2, True, True, SCAN, "cumprod", _R, 0),
    _op("sort", 2, False, False, SCAN, "sort", _R, 1),
    # integer indexing and einsum (issue 19)
    _op("take", 3, True, True, LAYOUT, "take", _R, (1, 0, 1, 1), 1),
    _op("take_along_axis", 3, True, True, LAYOUT, "take_along_axis", _R, ((2, 0), (1, 1)), 1),
    _op("einsum", 2, True, True, LAYOUT, "einsum", [_R, _R], "ij,kj->ik"),
    # linear algebra (issue 19)
    _op("inv", 1, True, True, LINALG, "inv", _M),
    _op("solve", 2, True, True, LINALG, "solve", _M, [1.5, -0.5]),
    _op("det", 1, True, True, LINALG, "det", _M),
    _op("logdet", 1, True, True, LINALG, "logdet", _S),
    _op("cholesky", 1, True, True, LINALG, "cholesky", _S),
    _op("eigvalsh", 1, True, False, LINALG, "eigvalsh", _S),
    _op("svdvals", 1, True, False, LINALG, "svdvals", _R),
    _op("matrix_power", 2, True, True, LINALG, "matrix_power", _M, -3),
    _op("eigh_vectors", 1, False, False, DERIVATIVE, None, _S),
    _op("softmax", 2, True, True, ALONG, "softmax", _R, 1),
    _op("log_softmax", 2, True, True, ALONG, "log_softmax", _R, 0),
    _op("loggamma", 1, True, True, TRANSLATION, None, 0.3),
    _op("heaviside", 2, False, False, TRANSLATION, None, -0.3, 0.5),
    _op("dirac_delta", 1, False, False, TRANSLATION, None, 0.3),
    _op("polygamma", 2, True, True, TRANSLATION, None, 1, 0.3),
    _op("broadcast_to", 2, True, True, DERIVATIVE, None, [0.3, -0.7], (2, 2)),
    _op("sum_to", 2, True, True, DERIVATIVE, None, _M, (2,)),
    _op("scatter", 3, True, True, DERIVATIVE, None, 0.5, (2, 2), (1, 0)),
    # arrays of any number of dimensions (issue 19)
    _op("permute_dims", 2, True, True, LAYOUT, "transpose", _T, (1, 2, 0)),
    # reductions and scans (issue 19)
    _op("sort_scatter", 3, False, False, DERIVATIVE, None, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
        _R, 1),
    _op("sort_gather", 3, False, False, DERIVATIVE, None, [[1.0, 2.0], [3.0, 4.0]], _M, 0),
    # integer indexing (issue 19)
    _op("scatter_add", 4, True, True, DERIVATIVE, None, _R, (2, 2), (1, 0, 1), 1),
)}

#: NumPy's names for functions of the language that have another name here: language name ->
#: the language's name, computed exactly as it (``maximum`` and ``minimum`` are the elementwise
#: ``max`` and ``min`` of two arrays, never a reduction; ``power(a, b)`` is ``a ** b``).
ALIASES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2",
           "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh", "absolute": "abs",
           "maximum": "max", "minimum": "min", "power": "pow", "remainder": "mod"}

#: NumPy's structural names compiled from other ops (:mod:`diffcmp.lang.gather`, issue 19):
#: ``inner`` and ``tensordot`` as an ``einsum``, ``fliplr``, ``flipud`` and ``rot90`` as flips
#: and transposes, ``swapaxes`` and ``moveaxis`` as a transpose.
COMPOSED = ("inner", "tensordot", "fliplr", "flipud", "rot90", "swapaxes", "moveaxis")

#: Ops whose last argument is a raw axis (see the module's docstring); the language writes it
#: ``axis=``.
AXIS_OPS = ("sum", "mean", "prod", "norm", "logsumexp", "amax", "amin", "softmax", "log_softmax")

#: Ops complex step cannot pass through (no analytic form).
NOT_ANALYTIC = tuple(name for name, op in SPEC.items() if not op.analytic)


def literal_to_float(value: Literal) -> float:
    """The float64 value of a literal or named constant (shared by the numeric backends)."""
    if value == "pi":
        return math.pi
    if value == "E":
        return math.e
    return float(value)
