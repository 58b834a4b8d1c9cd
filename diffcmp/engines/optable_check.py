"""Check a plugin's op table against the spec, with the test the built-in backends pass
(``tests/test_ops_spec.py``): every name is an op of :data:`~diffcmp.ops.spec.SPEC`, each function
accepts the row's number of arguments, and computes the row's ``example`` to float64 accuracy,
against mpmath at 30 digits (:mod:`diffcmp.ops.mpmath`, independent of the table)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import mpmath
import numpy as np

from ..ops import mpmath as mpmath_ops
from ..ops.spec import SPEC


def check_op_table(ops: Mapping[str, Callable[..., Any]], array: Callable[[np.ndarray], Any],
                   to_numpy: Callable[[Any], Any], *, rtol: float = 1e-12,
                   complete: bool = False) -> list[str]:
    """What is wrong with ``ops`` (a plugin's ``OPS``), one line per op; ``[]`` when nothing is.

    ``array`` makes the framework's array from a NumPy array (float64, or bool for the
    conditions of ``where`` and the like) and ``to_numpy`` reads a result back, as an
    :class:`~diffcmp.engines.optable.OpTableEngine` does. Each op is called at its spec row's
    example and must agree with mpmath within ``rtol`` (relative; ``1e-15`` absolute near 0).
    ``complete``: an op of the spec missing from ``ops`` is a problem too (else it only makes
    the cases that use it ``unsupported``).
    """
    problems = [f"{name}: not an op of the spec (diffcmp.ops.spec.SPEC)"
                for name in ops if name not in SPEC]
    if complete:
        problems += [f"{name}: missing" for name in SPEC if name not in ops]
    for name, function in ops.items():
        if name in SPEC:
            problem = _check_one(name, function, array, to_numpy, rtol)
            if problem:
                problems.append(f"{name}: {problem}")
    return problems


def _check_one(name: str, function: Callable[..., Any], array: Callable[[np.ndarray], Any],
               to_numpy: Callable[[Any], Any], rtol: float) -> str | None:
    op = SPEC[name]
    if not callable(function):
        return f"{function!r} is not callable"
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: the call checks it
        parameters = None
    if parameters is not None and not any(p.kind == p.VAR_POSITIONAL for p in parameters):
        required = [p for p in parameters if p.default is p.empty
                    and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        positional = [p for p in parameters
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(required) > op.arity or len(positional) < op.arity:
            takes = str(len(required)) if len(required) == len(positional) else \
                f"{len(required)} to {len(positional)}"
            return f"takes {takes} argument(s), the spec's row {op.arity}"
    try:
        value = function(*_args(name, lambda v: array(np.array(
            v, dtype=bool if _is_bool(v) else np.float64))))
        got = np.asarray(to_numpy(value), dtype=np.float64)
    except Exception as exc:  # the plugin's function may raise anything: its problem line
        return " ".join(f"fails at {op.example}: {type(exc).__name__}: {exc}".split())
    expected = _expected(name)
    if got.shape != expected.shape:
        return f"gives shape {got.shape} at {op.example}, the spec {expected.shape}"
    close = np.isclose(got, expected, rtol=rtol, atol=1e-15) | (np.isnan(got) & np.isnan(
        expected))
    if not close.all():
        return f"gives {got.tolist()} at {op.example}, the spec {expected.tolist()}"
    return None


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, list) and bool(value)
                                       and _is_bool(value[0]))


def _args(name: str, convert: Callable[[Any], Any]) -> list[Any]:
    """The spec row's example with floats, booleans and lists made arrays by ``convert``; raw
    arguments (ints, tuples, fractions, names) as they are; ``stack`` and ``concatenate`` take
    a list of arrays, and so does ``einsum``."""
    example = SPEC[name].example
    if name in ("stack", "concatenate", "einsum"):
        return [[convert(v) for v in example[0]], *example[1:]]
    return [convert(a) if isinstance(a, bool | float | list) else a for a in example]


def _mp(value: Any) -> Any:
    if isinstance(value, list):
        return np.array([_mp(v) for v in value], dtype=object)
    return value if isinstance(value, bool) else mpmath.mpf(value)


def _float(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype == object:
        return np.array([_float(v) for v in value.ravel()], dtype=np.float64).reshape(
            value.shape)
    if isinstance(value, mpmath.mpf | mpmath.mpc):
        return float(mpmath.re(value))
    return np.asarray(value, dtype=np.float64)


def _expected(name: str) -> np.ndarray:
    """The row's example evaluated by mpmath at 30 digits."""
    with mpmath.workdps(30):
        return np.asarray(_float(mpmath_ops.OPS[name](*_args(name, _mp))), dtype=np.float64)
