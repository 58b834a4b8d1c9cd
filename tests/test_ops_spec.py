"""One op spec, every backend: each backend's table names exactly the spec's ops, accepts the
spec's number of arguments, and computes the same value at the spec's example (checked against an
independent mpmath evaluation at 30 digits)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import flint
import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import sympy as sp
import torch

from diffcmp.errors import UnsupportedError
from diffcmp.ops import arb as arb_ops
from diffcmp.ops import jax as jax_ops
from diffcmp.ops import mpmath as mpmath_ops
from diffcmp.ops import numpy as numpy_ops
from diffcmp.ops import sympy as sympy_ops
from diffcmp.ops import torch as torch_ops
from diffcmp.ops.numpy import NO_COMPLEX_FORM
from diffcmp.ops.spec import ALONG, AXIS_OPS, NOT_ANALYTIC, SPEC, TRANSLATION
from diffcmp.symbolic.lambdify import PRINTED
from diffcmp.symbolic.translate import SYMPY_OPS


def _convert(value: Any, array: Callable[[Any], Any]) -> Any:
    """Floats, booleans and lists become backend values; raw arguments (ints, tuples, fractions)
    stay as they are."""
    if isinstance(value, bool | float | list):
        return array(value)
    return value


def _object_array(scalar: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, list):  # any depth: a 3-d example is a list of matrices
            parts = [convert(v) for v in value]
            if not isinstance(value[0], list):
                return np.array(parts, dtype=object)
            out = np.empty((len(parts), *parts[0].shape), dtype=object)
            out[:] = parts
            return out
        if isinstance(value, bool):
            return sp.true if value else sp.false if scalar is sp.Float else value
        return scalar(value)
    return convert


def _sympy_scalar(value: Any) -> Any:
    return sp.Float(value, 30)


def _to_float(value: Any) -> Any:
    """A backend result as float64 (an array of them for arrays)."""
    if isinstance(value, torch.Tensor):
        return value.detach().numpy().astype(float)
    if isinstance(value, np.ndarray) and value.dtype == object:
        return np.array([_to_float(v) for v in value.ravel()]).reshape(value.shape)
    if isinstance(value, sp.Basic):
        return float(sp.N(value, 30)) if value not in (sp.true, sp.false) else float(
            bool(value))
    if isinstance(value, mpmath.mpf | mpmath.mpc):
        return float(mpmath.re(value))
    if isinstance(value, flint.arb):
        return float(value)
    return np.asarray(value, dtype=float)


#: Ops a framework computes less accurately than float64 rounding, and by how much (rtol).
#: torch.polygamma(1, 0.3) is 9.5e-11 off relative (measured here, torch 2.14).
KNOWN_INACCURATE = {("torch", "polygamma"): 1e-9}

BACKENDS: dict[str, tuple[Mapping[str, Callable[..., Any]], Callable[[Any], Any]]] = {
    "sympy": (sympy_ops.OPS, _object_array(_sympy_scalar)),
    "mpmath": (mpmath_ops.OPS, _object_array(mpmath.mpf)),
    "arb": (arb_ops.OPS, _object_array(flint.arb)),
    "numpy": (numpy_ops.OPS, lambda v: np.array(v, dtype=bool if isinstance(v, bool) or (
        isinstance(v, list) and isinstance(v[0], bool)) else np.float64)),
    "torch": (torch_ops.OPS, lambda v: torch.tensor(v, dtype=torch.bool if isinstance(v, bool)
                                                    or (isinstance(v, list)
                                                        and isinstance(v[0], bool))
                                                    else torch.float64)),
    "jax": (jax_ops.OPS, lambda v: jnp.asarray(v)),
}


def _args(name: str, array: Callable[[Any], Any]) -> list[Any]:
    """The spec example as backend arguments (``stack`` takes a list of backend scalars)."""
    example = SPEC[name].example
    if name in ("stack", "concatenate", "einsum"):  # a list of parts (and the raw rest)
        return [[array(v) for v in example[0]], *example[1:]]
    return [_convert(a, array) for a in example]


def _expected(name: str) -> Any:
    """The spec row's example, evaluated by mpmath at 30 digits (independent of the tables)."""
    with mpmath.workdps(30):
        value = mpmath_ops.OPS[name](*_args(name, _object_array(mpmath.mpf)))
        return _to_float(value)


def test_every_backend_names_exactly_the_spec() -> None:
    for backend, (ops, _) in BACKENDS.items():
        assert set(ops) == set(SPEC), backend
    complex_ops = set(numpy_ops.COMPLEX_OPS) - set(NOT_ANALYTIC) - set(NO_COMPLEX_FORM)
    assert complex_ops == {n for n, op in SPEC.items() if op.analytic} - set(NO_COMPLEX_FORM)


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("name", list(SPEC))
def test_every_op_takes_the_spec_arity_and_gives_the_spec_value(backend: str, name: str) -> None:
    ops, array = BACKENDS[backend]
    op = SPEC[name]
    function = ops[name]
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: the call below checks it
        parameters = None
    if parameters is not None and not any(p.kind == p.VAR_POSITIONAL for p in parameters):
        required = [p for p in parameters if p.default is p.empty
                    and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        assert len(required) <= op.arity, f"{backend}.{name} needs more than {op.arity} args"
    assert len(op.example) == op.arity
    with jax.enable_x64(True), mpmath.workdps(30):
        value = function(*_args(name, array))
        rtol = KNOWN_INACCURATE.get((backend, name), 1e-12)
        np.testing.assert_allclose(_to_float(value), _expected(name), rtol=rtol, atol=1e-15,
                                   err_msg=f"{backend}.{name}{op.example}")


@pytest.mark.parametrize("name", [n for n, op in SPEC.items()
                                  if op.analytic and n not in NO_COMPLEX_FORM])
def test_complex_step_passes_through_every_analytic_op(name: str) -> None:
    """Each analytic op's complex form carries a complex step: Im f(x + ih) / h = f'(x)."""
    op = SPEC[name]
    floats = [i for i, a in enumerate(op.example) if isinstance(a, float | list)]
    if not floats:
        return
    i = floats[0]
    h = 1e-30
    args = [_convert(a, lambda v: np.array(v, dtype=np.complex128)) for a in op.example]
    args[i] = args[i] + 1j * h
    with np.errstate(all="ignore"):
        stepped = numpy_ops.COMPLEX_OPS[name](*args)
    real = numpy_ops.OPS[name](*[_convert(a, lambda v: np.array(v, dtype=np.float64))
                                 for a in op.example])
    np.testing.assert_allclose(np.real(stepped), real, rtol=1e-12)
    # the derivative along the stepped argument (every element moved), by mpmath's differences
    def shift(value: Any, by: Any) -> Any:
        if isinstance(value, list):
            return [shift(v, by) for v in value]
        return mpmath.mpf(value) + by

    def along(by: Any) -> Any:
        shifted = list(op.example)
        shifted[i] = shift(shifted[i], by)
        converted = [_convert(a, _object_array(mpmath.mpf)) if not isinstance(a, list) else
                     _object_array(lambda v: v)(a) for a in shifted]
        return mpmath.fsum(np.ravel(np.array(mpmath_ops.OPS[name](*converted), dtype=object)))

    with mpmath.workdps(40):
        step = mpmath.mpf(10) ** -15
        expected = float((along(step) - along(-step)) / (2 * step))
    np.testing.assert_allclose(float(np.sum(np.imag(stepped))) / h, expected, rtol=1e-9,
                               atol=1e-12)


@pytest.mark.parametrize("name", [*NOT_ANALYTIC, *NO_COMPLEX_FORM])
def test_complex_step_refuses_every_op_it_cannot_pass_through(name: str) -> None:
    with pytest.raises(UnsupportedError, match=r"not analytic|no complex implementation"):
        numpy_ops.COMPLEX_OPS[name]


def test_translation_and_printed_names_use_spec_ops_only() -> None:
    assert set(SYMPY_OPS.values()) <= set(SPEC)
    assert set(PRINTED.values()) <= set(SPEC)
    # every op that only SymPy expressions reach has a SymPy class that translates to it
    assert {n for n, op in SPEC.items() if op.kind == TRANSLATION} <= set(SYMPY_OPS.values())


def test_the_language_functions_come_from_the_spec() -> None:
    from diffcmp.lang import ELEMENTWISE, FUNCTION_NAMES, MULTI, REDUCTIONS
    from diffcmp.lang.names import RESHAPES, STATISTICS
    from diffcmp.lang.templates import TEMPLATES
    from diffcmp.ops.spec import ALIASES, COMPOSED

    calls = {op.call for op in SPEC.values() if op.call}
    composed = set(COMPOSED) | STATISTICS | set(TEMPLATES) | RESHAPES  # from other ops
    assert calls | set(ALIASES) | composed == set(FUNCTION_NAMES)
    assert all(SPEC[name].arity == 1 for name in ELEMENTWISE)
    assert REDUCTIONS["max"] == "amax" and MULTI[("max", 2)] == "maximum"
    assert MULTI[("where", 3)] == "where"


def test_literals_are_exact_where_the_backend_is() -> None:
    assert sympy_ops.OPS["const"](Fraction(1, 3)) == sp.Rational(1, 3)
    with mpmath.workdps(40):
        assert mpmath.almosteq(mpmath_ops.OPS["const"](Fraction(1, 3)), mpmath.mpf(1) / 3,
                               rel_eps=mpmath.mpf(10) ** -39)


_R = [[0.5, -1.0, 0.3], [2.0, 0.25, -0.7]]


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("name", AXIS_OPS)
def test_every_axis_op_takes_every_axis(backend: str, name: str) -> None:
    """Reductions over every element (``None``) and along each axis, softmax along each axis:
    every backend agrees with mpmath at 30 digits (the spec row checks one axis only)."""
    ops, array = BACKENDS[backend]
    axes = (0, 1) if SPEC[name].kind == ALONG else (None, 0, 1)
    for axis in axes:
        with jax.enable_x64(True), mpmath.workdps(30):
            value = ops[name](array(_R), axis)
            expected = mpmath_ops.OPS[name](_object_array(mpmath.mpf)(_R), axis)
            np.testing.assert_allclose(_to_float(value), _to_float(expected), rtol=1e-12,
                                       atol=1e-15, err_msg=f"{backend}.{name} axis={axis}")
            assert np.shape(value) == np.shape(expected)


def test_mpmath_reductions_give_the_values_computed_by_hand() -> None:
    """The reference backend itself, against sums and products of ``_R`` written out."""
    r = _object_array(mpmath.mpf)(_R)
    ops = mpmath_ops.OPS
    assert _to_float(ops["sum"](r, 0)).tolist() == pytest.approx([2.5, -0.75, -0.4], rel=1e-15)
    assert _to_float(ops["sum"](r, None)) == pytest.approx(1.35, rel=1e-15)
    assert _to_float(ops["mean"](r, 1)).tolist() == pytest.approx([-0.2 / 3, 1.55 / 3],
                                                                   rel=1e-15)
    assert _to_float(ops["prod"](r, 0)).tolist() == pytest.approx([1.0, -0.25, -0.21],
                                                                  rel=1e-15)
    assert _to_float(ops["amax"](r, 1)).tolist() == [0.5, 2.0]
    assert _to_float(ops["amin"](r, None)) == -1.0
    assert _to_float(ops["norm"](r, 0)).tolist() == pytest.approx(
        [17**0.5 / 2, (1 + 0.0625)**0.5, (0.09 + 0.49)**0.5], rel=1e-15)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_softmax_is_stable_at_logits_near_1000_in_every_backend(backend: str) -> None:
    """softmax and log_softmax of rows near +1000 and -1000 are those of the rows shifted to
    0: no overflow, no underflow to 0/0, in every backend."""
    ops, array = BACKENDS[backend]
    big = [[1000.0, 1001.0, 999.5], [-1000.0, -999.0, -1000.5]]
    shifted = np.array([[0.0, 1.0, -0.5], [0.0, 1.0, -0.5]])
    expected_log = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    with jax.enable_x64(True), mpmath.workdps(30):
        np.testing.assert_allclose(_to_float(ops["softmax"](array(big), 1)),
                                   np.exp(expected_log), rtol=1e-12)
        np.testing.assert_allclose(_to_float(ops["log_softmax"](array(big), 1)), expected_log,
                                   rtol=1e-12)
        np.testing.assert_allclose(_to_float(ops["logsumexp"](array(big), 1)),
                                   np.array([1000.0, -1000.0]) + np.log(np.exp(shifted[0]).sum()),
                                   rtol=1e-14)


def test_complex_step_through_softmax_moves_one_element_near_1000() -> None:
    """Complex step through the analytic softmax (a real max shift): d softmax_k / dz_j =
    s_k (delta_kj - s_j), for one element of a row near 1000, along axis 0 and 1."""
    z = np.array([[1000.0, 1001.0, 999.5], [2.0, -1.0, 0.5]])
    h = 1e-30
    for axis in (0, 1):
        stepped = z.astype(np.complex128)
        stepped[0, 1] += 1j * h
        s = numpy_ops.OPS["softmax"](z, axis)
        line = s[0] if axis == 1 else s[:, 1]
        j = 1 if axis == 1 else 0  # the stepped element's place in its line
        expected = line * ((np.arange(line.size) == j) - line[j])
        got = numpy_ops.COMPLEX_OPS["softmax"](stepped, axis).imag / h
        got_line = got[0] if axis == 1 else got[:, 1]
        np.testing.assert_allclose(got_line, expected, rtol=1e-12, atol=1e-300)
        log_got = numpy_ops.COMPLEX_OPS["log_softmax"](stepped, axis).imag / h
        log_line = log_got[0] if axis == 1 else log_got[:, 1]
        np.testing.assert_allclose(log_line, (np.arange(line.size) == j) - line[j],
                                   rtol=1e-12)
