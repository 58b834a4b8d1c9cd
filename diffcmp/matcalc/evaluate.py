"""Evaluating array graphs over any backend's op table, and bounding their float64 rounding.

:class:`Program` flattens the graphs of several outputs (the loss and its gradients) into one list
of backend calls in order, every shared node computed once, so a call costs no graph walk: over
NumPy it is the ``sympy-array`` engine, over mpmath's real-valued ops the reference at scale.

:meth:`Program.rounding` runs the same steps in float64 beside a first-order bound on the rounding
error of every value, in units of the unit roundoff (Wilkinson's running error analysis; Higham,
*Accuracy and Stability of Numerical Algorithms*, 2nd ed., 2002, sec. 3.3): each step adds its own
rounding (the magnitude of what it computes) to its arguments' bounds carried through its local
derivatives in absolute value. A value whose bound is far above its own size was computed by
cancellation: float64 cannot hold it to more than ``u * bound``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from ..ops import numpy as numpy_ops
from ..precision import DEFAULT_DTYPE, round_to
from .graph import Node, topological
from .linalg_bounds import LINALG_BOUNDS
from .rules import VJP, Namespace
from .table import LISTED

Ops = Mapping[str, Callable[..., Any]]

#: Ops that move or select values without arithmetic: exact, and linear in their arguments, so a
#: bound passes through them as the op itself.
MOVES = frozenset({"index", "transpose", "stack", "broadcast_to", "scatter", "neg", "reshape",
                   # structure (issue 19)
                   "concatenate", "flip", "roll", "repeat", "tile", "triu", "tril", "diag",
                   "diagonal",
                   # arrays of any number of dimensions (issue 19)
                   "permute_dims",
                   # integer indexing (issue 19)
                   "take", "take_along_axis"})
#: Ops whose result is exact (no rounding of their own) though not a plain move.
EXACT = frozenset({"abs", "sign", "relu", "maximum", "minimum", "clip", "floor", "ceil",
                   "where", "heaviside", "dirac_delta", "amax", "amin", "lt", "le", "gt", "ge",
                   "eq", "ne", "const", "var", "seed", *MOVES})
#: Reductions: each input element feeds one output element (the reduced axis, or all).
REDUCTIONS = frozenset({"sum", "mean", "prod", "norm", "logsumexp", "amax", "amin", "sum_to"})

_NUMPY = Namespace(numpy_ops.OPS)


class Program:
    """The graphs of ``outputs`` as one flat list of backend calls (see the module docstring)."""

    def __init__(self, outputs: Sequence[Node]) -> None:
        self.order = topological(list(outputs))
        self.slot = {id(node): k for k, node in enumerate(self.order)}
        self.outputs = [self.slot[id(node)] for node in outputs]
        self.leaves = [(k, node.raw[0]) for k, node in enumerate(self.order) if node.op == "var"]

    def steps(self, ops: Ops) -> list[tuple[int, Callable[..., Any], tuple[int, ...],
                                            tuple[Any, ...]]]:
        """``(slot, function, argument slots, raw arguments)`` for every computed node."""
        steps = []
        for k, node in enumerate(self.order):
            if node.op in ("var", "const", "seed"):
                continue
            function = ops[node.op]
            if node.op in LISTED:
                function = _spread(function, len(node.args))
            steps.append((k, function, tuple(self.slot[id(a)] for a in node.args), node.raw))
        return steps

    def constants(self, ops: Ops) -> list[tuple[int, Any]]:
        """``(slot, value)`` of every literal, converted once by the backend."""
        return [(k, ops["const"](1 if node.op == "seed" else node.raw[0]))
                for k, node in enumerate(self.order) if node.op in ("const", "seed")]

    def compile(self, ops: Ops, fresh_constants: bool = False) -> Callable[
            [Mapping[str, Any]], list[Any]]:
        """``run(env) -> [value of each output]`` over ``ops``; ``env`` maps leaf names to the
        backend's arrays. Literals are converted once, or at every call with
        ``fresh_constants`` (mpmath: ``pi`` and ``1/3`` at the precision of the call)."""
        steps, leaves, outputs = self.steps(ops), self.leaves, self.outputs
        fixed = [] if fresh_constants else self.constants(ops)
        size = len(self.order)

        def run(env: Mapping[str, Any]) -> list[Any]:
            memory: list[Any] = [None] * size
            for k, value in fixed or self.constants(ops):
                memory[k] = value
            for k, name in leaves:
                memory[k] = env[name]
            for k, function, args, raw in steps:
                memory[k] = function(*[memory[a] for a in args], *raw)
            return [memory[k] for k in outputs]

        return run

    def rounding(self, env: Mapping[str, np.ndarray],
                 dtype: str = DEFAULT_DTYPE) -> tuple[list[Any], list[Any]]:
        """Each output's float64 value and the first-order bound on its rounding error in units
        of the unit roundoff (see the module docstring). Inputs (params, data, float literals)
        are exact; a literal float64 cannot hold (``1/3``, ``pi``) is rounded once. For a
        computation in another ``dtype`` (issue 21) its conversion rounds every input and
        literal that dtype cannot hold once too (``|x|``: ``fl(x) = x (1 + d)``)."""
        values: list[Any] = [None] * len(self.order)
        bounds: list[Any] = [None] * len(self.order)
        with np.errstate(all="ignore"):
            for k, node in enumerate(self.order):
                if node.op == "var":
                    values[k], bounds[k] = env[node.raw[0]], np.zeros(node.shape)
                    if dtype != DEFAULT_DTYPE:
                        bounds[k] = _conversion(values[k], dtype)
                elif node.op in ("const", "seed"):
                    literal = 1 if node.op == "seed" else node.raw[0]
                    values[k] = numpy_ops.OPS["const"](literal)
                    bounds[k] = np.float64(0.0 if _exact(literal) else abs(values[k]))
                    if dtype != DEFAULT_DTYPE:
                        bounds[k] = np.maximum(bounds[k], _conversion(values[k], dtype))
                else:
                    args = [values[self.slot[id(a)]] for a in node.args]
                    errors = [bounds[self.slot[id(a)]] for a in node.args]
                    function = numpy_ops.OPS[node.op]
                    values[k] = (function(args, *node.raw) if node.op in LISTED
                                 else function(*args, *node.raw))
                    bounds[k] = _bound(node, values[k], args, errors)
        return [values[k] for k in self.outputs], [bounds[k] for k in self.outputs]


def _spread(function: Callable[..., Any], count: int) -> Callable[..., Any]:
    """``function(parts, *raw)`` called as ``function(*parts, *raw)``."""
    return lambda *args: function(list(args[:count]), *args[count:])


def _conversion(value: Any, dtype: str) -> np.ndarray:
    """The rounding bound of converting ``value`` to ``dtype``: ``|x|`` where the dtype cannot
    hold it, 0 where it can (small integers, the point ``w = 1``)."""
    array = np.asarray(value, dtype=np.float64)
    return np.where(round_to(array, dtype) == array, 0.0, np.abs(array))


def _exact(literal: Any) -> bool:
    if isinstance(literal, int):
        return True
    if isinstance(literal, Fraction):
        return literal.denominator & (literal.denominator - 1) == 0  # a power of two
    return isinstance(literal, float)


def _times(partial: Any, bound: Any) -> Any:
    """``|partial| * bound`` with ``0 * inf = 0``: a branch ``where`` does not select carries no
    error, whatever its value."""
    product = np.abs(partial) * bound
    return np.where(np.asarray(partial) == 0, 0.0, product)


def _bound(node: Node, value: Any, args: list[Any], errors: list[Any]) -> Any:
    """The rounding bound of one step: its own rounding plus its arguments' bounds through the
    absolute local derivatives."""
    op = node.op
    if op in ("lt", "le", "gt", "ge", "eq", "ne"):
        return np.zeros(np.shape(value))
    if op in MOVES:
        if op == "neg":
            return errors[0]
        errors = [np.broadcast_to(e, np.shape(x)) for e, x in zip(errors, args, strict=True)]
        if op in LISTED:
            return numpy_ops.OPS[op](errors, *node.raw)
        return numpy_ops.OPS[op](*errors, *node.raw)
    if op == "trace":  # a sum of the diagonal: it rounds once per term it adds
        return np.trace(np.abs(args[0])) + np.trace(np.broadcast_to(errors[0], np.shape(args[0])))
    if op in ("softmax", "log_softmax"):  # every output element mixes its whole line
        axis, ndim = node.raw[0], np.ndim(value)
        weights = np.exp(value) if op == "log_softmax" else value
        spread = np.expand_dims(np.sum(weights * errors[0], axis=axis), axis) \
            if ndim else np.sum(weights * errors[0])
        carried = errors[0] + spread
        return np.abs(value) + (carried if op == "log_softmax" else np.abs(value) * carried)
    if op in ("matmul", "dot", "outer", "kron"):  # each output element is a sum of products
        # (of one product for outer and kron): it rounds each
        a, b = (np.abs(x) for x in args)
        ea, eb = (np.broadcast_to(e, np.shape(x)) for e, x in zip(errors, args, strict=True))
        product = numpy_ops.OPS[op]  # (a scalar error 0 would make np.dot a scaling)
        return product(a, b) + product(a, eb) + product(ea, b)
    if op in _SCANS:  # (issue 19)
        return _SCANS[op](node, args, np.broadcast_to(errors[0], np.shape(args[0])))
    if op in ("einsum", "scatter_add"):  # (issue 19)
        return _summed(node, args, errors)
    if op in LINALG_BOUNDS:  # linear algebra (issue 19)
        return LINALG_BOUNDS[op](value, args, errors, *node.raw)
    partials = _switch_partials(op, args, VJP[op](_NUMPY, np.ones(np.shape(value)), value,
                                                  *args, *node.raw))
    reduce = _reducer(node) if op in REDUCTIONS else (lambda x: x)
    if op in ("sum", "mean", "sum_to"):  # a sum rounds once per term it adds
        total = reduce(_times(partials[0], np.abs(args[0])))
    else:
        total = 0.0 if op in EXACT else np.abs(value)
    for partial, error in zip(partials, errors, strict=True):
        if partial is not None and np.any(error):
            total = total + reduce(_times(partial, error))
    return total


def _summed(node: Node, args: list[Any], errors: list[Any]) -> Any:
    """``einsum`` rounds each sum of products, as ``matmul`` does: its own rounding is bounded
    by the einsum of the absolute values, and each part's error goes through the others'
    absolute values; ``scatter_add`` rounds where repeated indices add up."""
    function = numpy_ops.OPS[node.op]
    errors = [np.broadcast_to(e, np.shape(x)) for e, x in zip(errors, args, strict=True)]
    if node.op == "scatter_add":
        _, index, _ = node.raw
        repeated = len(set(np.ravel(index).tolist())) < np.size(index)
        return function(errors[0] + (np.abs(args[0]) if repeated else 0.0), *node.raw)
    spec = node.raw[0]
    magnitudes = [np.abs(x) for x in args]
    total = function(magnitudes, spec)
    for i, error in enumerate(errors):
        if np.any(error):
            total = total + function([*magnitudes[:i], error, *magnitudes[i + 1:]], spec)
    return total


def _switch_partials(op: str, args: list[Any], partials: Sequence[Any]) -> Sequence[Any]:
    """The local derivatives' magnitudes that carry rounding through a switch: on it, an error
    in the argument moves the result along either side, whatever subgradient the derivative
    rule picks. ``abs`` and ``relu`` at 0 carry their argument's error (the rule's 0 there
    would drop it: ``abs(3*w - 1)`` at ``w = 0.3333333333333333`` is rounded to 0, not 5.6e-17),
    and a tie of ``maximum``/``minimum`` carries both arguments' errors."""
    if op == "abs":
        return (np.ones(np.shape(args[0])),)
    if op == "relu":
        return (np.where(np.asarray(args[0]) == 0, 1.0, partials[0]),)
    if op in ("maximum", "minimum"):
        tie = np.asarray(args[0]) == np.asarray(args[1])
        return tuple(np.where(tie, 1.0, p) for p in partials)
    if op == "clip":  # a tie with either bound carries both errors
        low, high = (np.asarray(args[0]) == np.asarray(bound) for bound in args[1:])
        return (np.where(low | high, 1.0, partials[0]), np.where(low, 1.0, partials[1]),
                np.where(high, 1.0, partials[2]))
    return partials


def _reducer(node: Node) -> Callable[[Any], Any]:
    """Sums an input-shaped array the way ``node`` reduces its input."""
    if node.op == "sum_to":
        return lambda x: numpy_ops.OPS["sum_to"](x, node.shape)
    axis = node.raw[0] if node.raw else None
    return lambda x: np.sum(x, axis=axis)


# reductions and scans (issue 19)
def _cumprod(a: Any, error: Any, axis: int) -> Any:
    """``cumprod``'s bound: the ``j`` roundings of the ``j``-th partial product, and the
    arguments' errors carried through it to first order (``sum_i e_i prod_{m != i} |a_m|``,
    accumulated along the line, so that a zero needs no division)."""
    a, error = np.moveaxis(np.abs(a), axis, 0), np.moveaxis(error, axis, 0)
    product, carried = np.ones(a.shape[1:]), np.zeros(a.shape[1:])
    out = np.empty(a.shape)
    for j in range(a.shape[0]):
        carried = carried * a[j] + product * error[j]
        product = product * a[j]
        out[j] = carried + j * product
    return np.moveaxis(out, 0, axis)


#: The bounds of the scans and of sorting's permutations, ``(node, args, first error)``: a
#: partial sum rounds once per term it adds; a permutation moves the errors with the elements.
_SCANS: dict[str, Callable[[Node, list[Any], Any], Any]] = {
    "cumsum": lambda node, args, error: np.cumsum(np.abs(args[0]), node.raw[0])
    + np.cumsum(error, node.raw[0]),
    "cumprod": lambda node, args, error: _cumprod(args[0], error, node.raw[0]),
    "sort": lambda node, args, error: numpy_ops.OPS["sort_gather"](error, args[0], *node.raw),
    "sort_scatter": lambda node, args, error: numpy_ops.OPS["sort_scatter"](error, args[1],
                                                                           *node.raw),
    "sort_gather": lambda node, args, error: numpy_ops.OPS["sort_gather"](error, args[1],
                                                                         *node.raw),
}
