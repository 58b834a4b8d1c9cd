"""Matrix calculus (issue 11's array engine, issue 9's floors): the loss as written as an array
graph, its vector-Jacobian rules, the vectorised gradient they derive, printed and evaluated, and
the float64 rounding bound. Every rule is checked against high-precision difference quotients;
gradients against hand-derived formulas."""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
import pytest

from diffcmp import lang
from diffcmp.matcalc import graph as g
from diffcmp.matcalc.derive import derive
from diffcmp.matcalc.evaluate import Program
from diffcmp.matcalc.graph import topological
from diffcmp.matcalc.printer import formula, formulas
from diffcmp.matcalc.rules import NO_ADJOINT, VJP
from diffcmp.matcalc.table import GRAPH_OPS
from diffcmp.ops import mpmath as mpmath_ops
from diffcmp.ops import numpy as numpy_ops
from diffcmp.ops.spec import SPEC


def _gradient(loss: str, shapes: dict[str, tuple[int, ...]], params: list[str]) -> Any:
    expression = lang.parse(loss)
    leaves = {n: g.var(n, s, "param" if n in params else "data") for n, s in shapes.items()}
    root = lang.compile_expression(expression, GRAPH_OPS, shapes)(leaves)
    return derive(root, [leaves[p] for p in params])


def _run(gradient: Any, env: dict[str, Any]) -> list[Any]:
    with np.errstate(all="ignore"):
        return Program(gradient.outputs).compile(numpy_ops.OPS)(
            {k: np.asarray(v, dtype=float) for k, v in env.items()})


def test_every_op_has_a_builder_and_every_differentiable_op_a_rule() -> None:
    assert set(GRAPH_OPS) == set(SPEC)
    assert set(VJP) | (NO_ADJOINT & set(SPEC)) == set(SPEC)


def test_least_squares_reads_and_computes_as_the_textbook() -> None:
    rng = np.random.default_rng(0)
    x, y, w = rng.normal(size=(7, 3)), rng.normal(size=7), rng.normal(size=3)
    gradient = _gradient("sum((X @ w - y)**2)", {"X": (7, 3), "w": (3,), "y": (7,)}, ["w"])
    assert formula(gradient.grads[0]) == "2 * X.T @ (X @ w - y)"
    assert formulas({"loss": gradient.loss, "dL/dw": gradient.grads[0]}) == [
        "t1 = X @ w - y", "loss = sum(t1**2)", "dL/dw = 2 * X.T @ t1"]
    loss, grad = _run(gradient, {"X": x, "w": w, "y": y})
    assert loss == pytest.approx(np.sum((x @ w - y) ** 2), rel=1e-14)
    np.testing.assert_allclose(grad, 2 * x.T @ (x @ w - y), rtol=1e-13)


def test_logistic_regression_matches_its_hand_derived_gradient() -> None:
    # d/dw sum(log1p(exp(-y * (X @ w)))) = -X.T @ (y * sigmoid(-y * (X @ w)))
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(9, 2)), rng.normal(size=2)
    y = np.where(rng.normal(size=9) > 0, 1.0, -1.0)
    gradient = _gradient("sum(log1p(exp(-y * (X @ w))))", {"X": (9, 2), "w": (2,), "y": (9,)},
                         ["w"])
    _, grad = _run(gradient, {"X": x, "w": w, "y": y})
    margin = -y * (x @ w)
    np.testing.assert_allclose(grad, -x.T @ (y / (1 + np.exp(-margin))), rtol=1e-13)


def test_matrix_and_vector_products_in_every_orientation() -> None:
    # L = u @ A @ v + sum(A @ B): dL/dA = outer(u, v) + ones @ B.T, dL/du = A @ v, dL/dv = A.T @ u
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    u, v = rng.normal(size=3), rng.normal(size=4)
    gradient = _gradient("u @ A @ v + sum(A @ B)", {"A": (3, 4), "B": (4, 2), "u": (3,),
                                                    "v": (4,)}, ["A", "u", "v"])
    _, d_a, d_u, d_v = _run(gradient, {"A": a, "B": b, "u": u, "v": v})
    np.testing.assert_allclose(d_a, np.outer(u, v) + np.ones((3, 2)) @ b.T, rtol=1e-13)
    np.testing.assert_allclose(d_u, a @ v, rtol=1e-13)
    np.testing.assert_allclose(d_v, a.T @ u, rtol=1e-13)


def test_broadcasting_sums_the_adjoint_back_to_each_shape() -> None:
    # L = sum(w * X + b): dL/dw (shape (3,)) sums X over rows, dL/db (scalar) counts elements
    x = np.arange(6.0).reshape(2, 3)
    gradient = _gradient("sum(w * X + b)", {"w": (3,), "X": (2, 3), "b": ()}, ["w", "b"])
    _, d_w, d_b = _run(gradient, {"w": np.ones(3), "X": x, "b": 0.5})
    np.testing.assert_array_equal(d_w, [3.0, 5.0, 7.0])
    assert d_b == 6.0


def test_indexing_and_transpose_route_the_adjoint() -> None:
    # L = W[1, 0] * 3 + sum(W.T[0]): dL/dW = [[1, 0], [4, 0]]
    gradient = _gradient("W[1, 0] * 3 + sum(W.T[0])", {"W": (2, 2)}, ["W"])
    _, d_w = _run(gradient, {"W": np.zeros((2, 2))})
    np.testing.assert_array_equal(d_w, [[1.0, 0.0], [4.0, 0.0]])


def test_a_where_branch_not_taken_never_meets_its_infinite_derivative() -> None:
    # where(y > 0, w/x, w) at x = 0, y = -1 is w: gradient 1; torch and jax give NaN (0 * inf)
    gradient = _gradient("where(y > 0, w/x, w)", {"w": (), "x": (), "y": ()}, ["w"])
    loss, grad = _run(gradient, {"w": 1.0, "x": 0.0, "y": -1.0})
    assert (float(loss), float(grad)) == (1.0, 1.0)


def test_a_product_with_zeros_has_the_exact_gradient() -> None:
    # d prod(w) / d w_i is the product of the others: at [0, 2, 3] it is [6, 0, 0]
    gradient = _gradient("prod(w)", {"w": (3,)}, ["w"])
    np.testing.assert_array_equal(_run(gradient, {"w": [0.0, 2.0, 3.0]})[1], [6.0, 0.0, 0.0])
    np.testing.assert_array_equal(_run(gradient, {"w": [0.0, 2.0, 0.0]})[1], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(_run(gradient, {"w": [4.0, 2.0, 3.0]})[1], [6.0, 12.0, 8.0])


#: Arguments at which to check each elementwise rule against difference quotients.
_POINTS = {"asin": 0.3, "acos": 0.3, "log": 1.3, "log1p": 0.4, "sqrt": 1.7, "loggamma": 2.5,
           "acosh": 1.3}


@pytest.mark.parametrize("name", sorted(op.call for op in SPEC.values()
                                        if op.kind == "elementwise" and op.arity == 1
                                        and op.smooth))
def test_each_smooth_rule_agrees_with_high_precision_difference_quotients(name: str) -> None:
    point = _POINTS.get(name, 0.7)
    gradient = _gradient(f"{name}(w) * 1.5", {"w": ()}, ["w"])
    with mpmath.workdps(80):  # rounding 1e-80 / h = 1e-55, truncation h**2 = 1e-50
        run = Program(gradient.outputs).compile(mpmath_ops.OPS)
        w, h = mpmath.mpf(point), mpmath.mpf(10) ** -25
        _, exact = run({"w": w})
        quotient = (run({"w": w + h})[0] - run({"w": w - h})[0]) / (2 * h)
        assert abs(exact - quotient) <= mpmath.mpf(10) ** -40 * max(1, abs(exact))


def test_the_rounding_bound_of_a_sum_of_squares_is_hand_derived() -> None:
    # w**2 rounds once each (bounds w0**2, w1**2); the sum adds them and rounds: 2 * (w0^2 + w1^2)
    # the gradient 2 * w is exact times a power of two, rounded once: |2 w|
    gradient = _gradient("sum(w**2)", {"w": (2,)}, ["w"])
    _, bounds = Program(gradient.outputs).rounding({"w": np.array([1e-8, 2e-8])})
    assert bounds[0] == pytest.approx(2 * (1e-16 + 4e-16), rel=1e-12)
    np.testing.assert_allclose(bounds[1], [2e-8, 4e-8], rtol=1e-12)


def test_the_rounding_bound_sees_cancellation() -> None:
    # d/dw (exp(w) - w) = exp(w) - 1: at 1e-10 the value is 1e-10 but the terms are about 1
    gradient = _gradient("exp(w) - w", {"w": ()}, ["w"])
    values, bounds = Program(gradient.outputs).rounding({"w": np.float64(1e-10)})
    assert values[1] == pytest.approx(1e-10, rel=1e-6)
    assert bounds[1] > 1.0


def test_negations_come_out_of_products_with_their_signs() -> None:
    # (-a) * (-b) = a * b and (-a) / (-b) = a / b: d/dw sum((-w) * (-x)) = x, of (-w)/(-x) = 1/x
    gradient = _gradient("sum((-w) * (-x)) + sum((-w) / (-x))", {"w": (2,), "x": (2,)}, ["w"])
    _, grad = _run(gradient, {"w": [1.0, 2.0], "x": [4.0, 8.0]})
    np.testing.assert_array_equal(grad, [4.25, 8.125])


#: Losses exercising every structural, reduction and along-an-axis rule (A is 2 x 3, v has 3).
_STRUCTURED = [
    "sum(softmax(A, axis=1) * C)", "sum(log_softmax(A, axis=0) * C)", "sum(softmax(v) * c)",
    "sum(sum(A, axis=0) ** 2)", "sum(mean(A, axis=1) ** 3)", "sum(prod(A, axis=0))",
    "sum(norm(A, axis=1))", "sum(logsumexp(A, axis=0))", "sum(max(A, axis=1) * 2)",
    "sum(min(A, axis=0) ** 2)", "prod(v) + norm(v) + logsumexp(v) + max(v)",
    "sum(reshape(A, (3, 2)) @ v[0:2])", "sum(A[:, 1:] ** 2) + A[1, 0]", "sum(A.T @ A)",
    "dot(v, c) + sum(A @ v)", "mean(v ** 2) + sum(where(v > 0, v, -v))",
]


@pytest.mark.parametrize("loss", _STRUCTURED)
def test_each_structural_rule_agrees_with_high_precision_difference_quotients(loss: str) -> None:
    rng = np.random.default_rng(3)
    values = {"A": rng.normal(size=(2, 3)), "v": rng.normal(size=3) + 0.5,
              "C": rng.normal(size=(2, 3)), "c": rng.normal(size=3)}
    shapes = {k: v.shape for k, v in values.items()}
    gradient = _gradient(loss, shapes, ["A", "v"])
    with mpmath.workdps(80):
        run = Program(gradient.outputs).compile(mpmath_ops.OPS, fresh_constants=True)
        env = {k: mpmath_ops.array(v) for k, v in values.items()}
        _, d_a, d_v = run(env)
        h = mpmath.mpf(10) ** -25
        for name, exact in (("A", d_a), ("v", d_v)):
            exact = np.broadcast_to(np.array(exact, dtype=object), values[name].shape)
            for index in np.ndindex(*values[name].shape):
                up, down = dict(env), dict(env)
                up[name], down[name] = env[name].copy(), env[name].copy()
                up[name][index] += h
                down[name][index] -= h
                quotient = (run(up)[0] - run(down)[0]) / (2 * h)
                assert abs(exact[index] - quotient) <= mpmath.mpf(10) ** -35, (name, index)


def test_the_engines_rewrites_keep_the_values() -> None:
    # sum(r**2) of a vector runs as dot(r, r), r**2 as r * r: the same loss and gradient
    from diffcmp.matcalc.optimise import optimise

    rng = np.random.default_rng(4)
    x, y, w = rng.normal(size=(9, 3)), rng.normal(size=9), rng.normal(size=3)
    gradient = _gradient("sum((X @ w - y)**2) + sum(w**2)", {"X": (9, 3), "w": (3,), "y": (9,)},
                         ["w"])
    rewritten = optimise(gradient.outputs)
    assert "dot" in {n.op for n in topological(rewritten)}
    assert "pow" not in {n.op for n in topological(rewritten)}
    env = {"X": x, "w": w, "y": y}
    plain = Program(gradient.outputs).compile(numpy_ops.OPS)(env)
    fast = Program(rewritten).compile(numpy_ops.OPS)(env)
    assert fast[0] == pytest.approx(plain[0], rel=1e-14)
    np.testing.assert_allclose(fast[1], plain[1], rtol=1e-14)
