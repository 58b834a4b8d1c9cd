"""The linear algebra of issue 19: hand-derived gradients, each vector-Jacobian rule against
high-precision difference quotients (mpmath), the reference's certificates (balls that hold the
exact values), the float64 rounding bounds, kinks and domains, and the language's errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import pytest
from flint import arb

from diffcmp.cases.discovery import load_case
from diffcmp.errors import ExpressionError, UndecidedError
from diffcmp.grading.kinks import KinkDetector
from diffcmp.lang import compile_expression, parse
from diffcmp.matcalc import graph as g
from diffcmp.matcalc.derive import derive
from diffcmp.matcalc.evaluate import Program
from diffcmp.matcalc.rules import VJP, Namespace
from diffcmp.matcalc.table import GRAPH_OPS
from diffcmp.ops import arb as arb_ops
from diffcmp.ops import mpmath as mpmath_ops
from diffcmp.ops import numpy as numpy_ops
from diffcmp.symbolic.problem import lower

SPD = np.array([[2.0, 0.5, -0.3], [0.5, 1.0, 0.2], [-0.3, 0.2, 3.0]])


def _gradient(loss: str, shapes: dict[str, tuple[int, ...]], env: dict[str, Any],
              ops: Any = numpy_ops.OPS) -> list[Any]:
    """``[loss, *gradient]`` of a language loss, by matcalc's rules, evaluated over ``ops``."""
    leaves = {name: g.var(name, shape) for name, shape in shapes.items()}
    loss_node = compile_expression(parse(loss), GRAPH_OPS, shapes)(leaves)
    found = derive(loss_node, list(leaves.values()))
    return Program(found.outputs).compile(ops, fresh_constants=True)(env)


# -- hand-derived gradients --

def test_det_of_a_2x2_and_a_3x3_has_the_cofactors_as_gradient() -> None:
    a = np.array([[1.5, -2.0], [0.5, 3.0]])
    value, grad = _gradient("det(A)", {"A": (2, 2)}, {"A": a})
    assert value == pytest.approx(1.5 * 3.0 - (-2.0) * 0.5)
    np.testing.assert_allclose(grad, [[3.0, -0.5], [2.0, 1.5]], rtol=1e-14)
    b = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]])
    value, grad = _gradient("det(A)", {"A": (3, 3)}, {"A": b})
    assert value == pytest.approx(2 * (12 - 1) - 1 * (4 - 0))  # 18
    cofactors = [[11.0, -4.0, 1.0], [-4.0, 8.0, -2.0], [1.0, -2.0, 5.0]]
    np.testing.assert_allclose(grad, cofactors, rtol=1e-14)


def test_logdet_of_an_spd_matrix_has_the_inverse_transpose_as_gradient() -> None:
    a = np.array([[2.0, 1.0], [1.0, 2.0]])  # det 3, inverse [[2, -1], [-1, 2]] / 3
    value, grad = _gradient("logdet(A)", {"A": (2, 2)}, {"A": a})
    assert value == pytest.approx(np.log(3.0))
    np.testing.assert_allclose(grad, [[2 / 3, -1 / 3], [-1 / 3, 2 / 3]], rtol=1e-14)


def test_eigenvalues_of_a_2x2_in_closed_form_and_their_symmetric_gradient() -> None:
    # A = [[a, b], [c, d]] reads its symmetric part: off-diagonal s = (b + c) / 2;
    # lambda = (a + d) / 2 -+ r, r = sqrt(((a - d) / 2)**2 + s**2)
    a, b, c, d = 3.0, 1.0, 3.0, 1.0  # s = 2, r = sqrt(1 + 4)
    r = np.sqrt(5.0)
    value, grad = _gradient("eigvalsh(A)[1]", {"A": (2, 2)}, {"A": np.array([[a, b], [c, d]])})
    assert value == pytest.approx(2.0 + r, rel=1e-14)
    # d/da = 1/2 + (a - d) / (4 r), d/db = d/dc = s / (2 r), d/dd = 1/2 - (a - d) / (4 r)
    np.testing.assert_allclose(grad, [[0.5 + 0.5 / r, 1 / r], [1 / r, 0.5 - 0.5 / r]],
                               rtol=1e-13)
    for ops in (mpmath_ops.OPS, numpy_ops.OPS):
        low = ops["eigvalsh"](np.array([[a, b], [c, d]], dtype=object if ops is
                                       mpmath_ops.OPS else float))
        assert float(low[0]) == pytest.approx(2.0 - r, rel=1e-14)


def test_solve_inv_and_matrix_power_by_hand() -> None:
    a = np.array([[2.0, 0.0], [1.0, 1.0]])  # inverse [[1/2, 0], [-1/2, 1]]
    b = np.array([4.0, 3.0])  # x = [2, 1]
    value, ga, gb = _gradient("sum(solve(A, b))", {"A": (2, 2), "b": (2,)}, {"A": a, "b": b})
    assert value == pytest.approx(3.0)
    gb_expected = np.linalg.solve(a.T, np.ones(2))  # [0, 1]
    np.testing.assert_allclose(gb, gb_expected, atol=1e-15)
    np.testing.assert_allclose(ga, -np.outer(gb_expected, [2.0, 1.0]), atol=1e-15)
    value, grad = _gradient("sum(matrix_power(A, 2))", {"A": (2, 2)}, {"A": a})
    assert value == pytest.approx(np.sum(a @ a))
    ones = np.ones((2, 2))
    np.testing.assert_allclose(grad, ones @ a.T + a.T @ ones, rtol=1e-14)


# -- each rule against difference quotients in mpmath --

def _random(op: str, rng: np.random.Generator) -> list[Any]:
    if op in ("logdet", "cholesky", "eigvalsh", "eigh_vectors"):
        m = rng.normal(size=(3, 3))
        return [m @ m.T + 3 * np.eye(3) + 0.1 * rng.normal(size=(3, 3))]  # not symmetric
    if op == "svdvals":
        return [rng.normal(size=(3, 2))]
    if op == "solve":
        return [rng.normal(size=(3, 3)) + 3 * np.eye(3), rng.normal(size=(3, 2))]
    return [rng.normal(size=(3, 3)) + 3 * np.eye(3)]


def _objects(a: np.ndarray) -> np.ndarray:
    out = np.empty(a.shape, dtype=object)
    out.ravel()[:] = [mpmath.mpf(float(v)) for v in a.ravel()]
    return out


@pytest.mark.parametrize(("op", "raw"), [("inv", ()), ("solve", ()), ("det", ()),
                                         ("logdet", ()), ("cholesky", ()), ("eigvalsh", ()),
                                         ("eigh_vectors", ()), ("svdvals", ()),
                                         ("matrix_power", (3,)), ("matrix_power", (-2,))])
def test_each_rule_matches_difference_quotients_at_40_digits(op: str, raw: tuple[Any, ...]
                                                             ) -> None:
    rng = np.random.default_rng(19)
    ops = mpmath_ops.OPS
    with mpmath.workdps(40):
        args = [_objects(a) for a in _random(op, rng)]
        ans = ops[op](*args, *raw)
        seed = _objects(rng.normal(size=np.shape(ans)))
        parts = VJP[op](Namespace(ops), seed, ans, *args, *raw)
        step = mpmath.mpf(10) ** -15
        for i, (arg, part) in enumerate(zip(args, parts, strict=True)):
            for index in np.ndindex(arg.shape):
                def along(t: Any, i: int = i, index: Any = index) -> Any:
                    moved = [a.copy() for a in args]
                    moved[i][index] += t
                    return mpmath.fsum(np.ravel(seed * ops[op](*moved, *raw)))
                quotient = (along(step) - along(-step)) / (2 * step)
                assert abs(np.asarray(part)[index] - quotient) <= 1e-20 * max(1, abs(quotient))


@pytest.mark.parametrize("shape", [(3, 3), (2, 4)])
def test_svdvals_rule_of_square_and_wide_matrices_matches_difference_quotients(
        shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(5)
    ops = mpmath_ops.OPS
    with mpmath.workdps(40):
        a = _objects(rng.normal(size=shape))
        seed = _objects(rng.normal(size=min(shape)))
        (part,) = VJP["svdvals"](Namespace(ops), seed, ops["svdvals"](a), a)
        step = mpmath.mpf(10) ** -15
        for index in np.ndindex(shape):
            def along(t: Any, index: Any = index) -> Any:
                moved = a.copy()
                moved[index] += t
                return mpmath.fsum(seed * ops["svdvals"](moved))
            quotient = (along(step) - along(-step)) / (2 * step)
            assert abs(part[index] - quotient) <= 1e-20 * max(1, abs(quotient))


# -- the reference's certificates --

@pytest.mark.parametrize(("op", "raw"), [("inv", ()), ("solve", ()), ("det", ()),
                                         ("logdet", ()), ("cholesky", ()), ("eigvalsh", ()),
                                         ("eigh_vectors", ()), ("svdvals", ()),
                                         ("matrix_power", (-3,))])
def test_balls_hold_the_exact_values(op: str, raw: tuple[Any, ...]) -> None:
    args = _random(op, np.random.default_rng(7))
    with arb_ops.precision(30):
        balls = arb_ops.OPS[op](*[arb_ops.array(a) for a in args], *raw)
    with mpmath.workdps(60), arb_ops.precision(80):  # the exact values, held exactly
        exact = mpmath_ops.OPS[op](*[_objects(a) for a in args], *raw)
        for ball, value in zip(np.ravel(balls), np.ravel(exact), strict=True):
            assert ball.contains(arb_ops.from_mpmath(value)), (op, ball, value)
            assert ball.rad() < 1e-25


def test_balls_prove_what_is_undefined_and_leave_ties_undecided() -> None:
    with arb_ops.precision(30):
        not_definite = arb_ops.array([[1.0, 2.0], [2.0, 1.0]])  # det -3
        assert arb_ops.is_undefined(arb_ops.OPS["logdet"](not_definite))
        assert all(arb_ops.is_undefined(x) for x in arb_ops.OPS["cholesky"](not_definite).ravel())
        singular = arb_ops.array([[1.0, 2.0], [2.0, 4.0]])
        assert all(arb_ops.is_undefined(x) for x in arb_ops.OPS["inv"](singular).ravel())
        assert arb_ops.OPS["det"](singular) == 0
        near = np.array([[arb(1), arb(0)], [arb(0), arb(0, 1e-40)]], dtype=object)
        assert arb_ops.is_undecided(arb_ops.OPS["logdet"](near))  # det [+/- 1e-40]
        with pytest.raises(UndecidedError):
            arb_ops.OPS["eigvalsh"](arb_ops.array(np.eye(2)))


def test_float64_backends_give_nan_outside_the_domain() -> None:
    ops = numpy_ops.OPS
    assert np.isnan(ops["logdet"](np.array([[1.0, 2.0], [2.0, 1.0]])))
    assert np.all(np.isnan(ops["cholesky"](np.array([[1.0, 2.0], [2.0, 1.0]]))))
    assert np.all(np.isnan(ops["inv"](np.array([[1.0, 2.0], [2.0, 4.0]]))))
    lower_only = np.array([[4.0, 3.0], [1.0, 5.0]])  # the symmetric part is read, not a triangle
    np.testing.assert_allclose(ops["cholesky"](lower_only),
                               np.linalg.cholesky((lower_only + lower_only.T) / 2))


# -- float64 rounding bounds --

def test_the_rounding_bound_holds_the_float64_error_of_an_ill_conditioned_inverse() -> None:
    hilbert = np.array([[1.0 / (i + j + 1) for j in range(5)] for i in range(5)])
    node = GRAPH_OPS["inv"](g.var("A", (5, 5)))
    (value,), (bound,) = Program([node]).rounding({"A": hilbert})
    with mpmath.workdps(60):
        exact = mpmath.inverse(mpmath.matrix(hilbert.tolist()))
        error = np.array([[float(abs(exact[i, j] - value[i, j])) for j in range(5)]
                          for i in range(5)])
    assert np.all(error <= 2.0**-53 * bound)
    assert np.max(2.0**-53 * bound / np.abs(value)) < 1e-3  # and it is not vacuous


@pytest.mark.parametrize(("op", "raw"), [("solve", ()), ("det", ()), ("logdet", ()),
                                         ("cholesky", ()), ("eigvalsh", ()),
                                         ("eigh_vectors", ()), ("svdvals", ()),
                                         ("matrix_power", (3,)), ("matrix_power", (-2,))])
def test_each_rounding_bound_holds_the_float64_error(op: str, raw: tuple[Any, ...]) -> None:
    args = _random(op, np.random.default_rng(3))
    names = ["A", "b"][:len(args)]
    node = GRAPH_OPS[op](*[g.var(n, np.shape(a)) for n, a in zip(names, args, strict=True)],
                         *raw)
    (value,), (bound,) = Program([node]).rounding(dict(zip(names, args, strict=True)))
    with mpmath.workdps(60):
        exact = mpmath_ops.OPS[op](*[_objects(a) for a in args], *raw)
        error = np.array([float(abs(x - y)) for x, y in zip(np.ravel(exact), np.ravel(value),
                                                            strict=True)])
    assert np.all(error <= 2.0**-53 * np.ravel(bound)), (op, error, bound)
    assert np.all(np.ravel(bound) < 1e4 * (1 + np.abs(np.ravel(value))))  # not vacuous


# -- kinks --

def _case(tmp_path: Path, loss: str, params: str) -> Any:
    path = tmp_path / "case.toml"
    path.write_text(f'description = "test"\nloss = "{loss}"\n\n[params]\n{params}\n')
    return lower(load_case(path))


def test_a_repeated_eigenvalue_and_a_zero_singular_value_are_kinks(tmp_path: Path) -> None:
    problem = _case(tmp_path, "eigvalsh(A)[1]", "A = [[1.0, 0.0], [0.0, 1.0]]")
    kink, left, right = KinkDetector(problem).check(np.array([1.0, 0.0, 0.0, 1.0]))
    assert kink is not None and "repeated eigenvalue" in kink
    assert float(left[0]) == pytest.approx(0.0, abs=1e-9)
    assert float(right[0]) == pytest.approx(1.0, abs=1e-9)
    assert KinkDetector(problem).check(np.array([2.0, 0.0, 0.0, 1.0]))[0] is None
    problem = _case(tmp_path, "sum(svdvals(A))", "A = [[1.0, 2.0], [2.0, 4.0]]")
    kink = KinkDetector(problem).check(np.array([1.0, 2.0, 2.0, 4.0]))[0]
    assert kink is not None and "zero singular value" in kink


# -- norm's ord --

@pytest.mark.parametrize("order", ["1", "2", "inf", "-inf", "3", "0.5", "None"])
def test_vector_norms_are_numpys(order: str) -> None:
    x = np.array([0.3, -1.7, 1.1, 0.0])
    value = compile_expression(parse(f"norm(x, {order})"), numpy_ops.OPS, {"x": (4,)})({"x": x})
    assert value == pytest.approx(np.linalg.norm(x, eval(order, {"inf": np.inf})), rel=1e-14)
    rows = np.stack([x, -2 * x])
    expected = np.linalg.norm(rows, eval(order, {"inf": np.inf}), axis=1)
    for k in range(2):
        along = compile_expression(parse(f"norm(X, ord={order}, axis=1)[{k}]"), numpy_ops.OPS,
                                   {"X": (2, 4)})({"X": rows})
        assert along == pytest.approx(expected[k], rel=1e-14)


@pytest.mark.parametrize("order", ["1", "-1", "2", "-2", "inf", "-inf", "'fro'", "'nuc'"])
def test_matrix_norms_are_numpys(order: str) -> None:
    a = np.array([[0.3, -1.7, 1.1], [2.0, 0.5, -0.4]])
    value = compile_expression(parse(f"norm(A, {order})"), numpy_ops.OPS,
                               {"A": (2, 3)})({"A": a})
    assert value == pytest.approx(np.linalg.norm(a, eval(order, {"inf": np.inf})), rel=1e-13)


# -- the language's errors --

@pytest.mark.parametrize(("loss", "message"), [
    ("inv(B)", r"inv\(\) takes a square matrix, not shape \(2, 3\)"),
    ("det(x)", r"det\(\) takes a matrix \(2-d; no stacks of matrices\), not shape \(3\)"),
    ("logdet(s)", r"logdet\(\) takes a matrix .* not a scalar"),
    ("sum(solve(A, x))", r"solve\(a, b\) needs b of a's 2 rows"),
    ("sum(matrix_power(A, s))", r"n must be an integer literal"),
    ("sum(matrix_power(A, 100))", r"up to 64"),
    ("norm(x, 0)", r"ord 1, 2, inf"),
    ("norm(x, 'fro')", r"ord 1, 2, inf"),
    ("norm(A, 3)", r"norm\(\) of a matrix takes ord"),
    ("norm(x, ord=nan)", r"ord must be a number, inf"),
    ("inv(A, A)", r"inv\(\) takes at most 1 argument"),
    ("sum(solve(A))", r"missing its argument 'b'"),
    ("det(a=A, b=A)", r"no keyword argument 'b'"),
])
def test_errors_name_the_problem(loss: str, message: str) -> None:
    shapes = {"A": (2, 2), "B": (2, 3), "x": (3,), "s": ()}
    with pytest.raises(ExpressionError, match=message):
        compile_expression(parse(loss), numpy_ops.OPS, shapes)
