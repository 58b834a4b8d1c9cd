"""The structural functions of issue 19 (stack, concatenate, list literals, flip and negative
steps, roll, repeat, tile, triu, tril, diag, trace, outer, kron): each one's vector-Jacobian rule
against high-precision difference quotients, its value against NumPy, second order through
them, and errors that name the problem."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from quotients import check_quotients, weighted

import diffcmp
from diffcmp import lang
from diffcmp.errors import ExpressionError
from diffcmp.matcalc import graph as g
from diffcmp.matcalc.derive import derive, hvp
from diffcmp.matcalc.evaluate import Program
from diffcmp.matcalc.table import GRAPH_OPS
from diffcmp.ops import numpy as numpy_ops

RNG = np.random.default_rng(19)
VALUES = {"A": RNG.normal(size=(2, 3)), "v": RNG.normal(size=3), "M": RNG.normal(size=(3, 3))}
SHAPES = {k: v.shape for k, v in VALUES.items()}

#: Each structural form, and NumPy computing it (the language must mean what NumPy means).
FORMS: dict[str, Any] = {
    "stack([v, v**2])": lambda a, v, m: np.stack([v, v**2]),
    "stack([v, 2*v], axis=1)": lambda a, v, m: np.stack([v, 2 * v], axis=1),
    "stack([A[0, 1], v[2]])": lambda a, v, m: np.stack([a[0, 1], v[2]]),
    "[v[0], 2*v[1], A[1, 2]]": lambda a, v, m: np.array([v[0], 2 * v[1], a[1, 2]]),
    "[[v[0], v[1]], [A[0, 0], 3]]": lambda a, v, m: np.array([[v[0], v[1]], [a[0, 0], 3]]),
    "[v, A[1]]": lambda a, v, m: np.array([v, a[1]]),
    "concatenate([v, A[0], v[1:]])": lambda a, v, m: np.concatenate([v, a[0], v[1:]]),
    "concatenate([A, A**2], axis=1)": lambda a, v, m: np.concatenate([a, a**2], axis=1),
    "concatenate([A, M])": lambda a, v, m: np.concatenate([a, m]),
    "concatenate([A, M], axis=None)": lambda a, v, m: np.concatenate([a, m], axis=None),
    "flip(A, axis=1)": lambda a, v, m: np.flip(a, axis=1),
    "flip(A)": lambda a, v, m: np.flip(a),
    "v[::-1]": lambda a, v, m: v[::-1],
    "A[::-1, 2:0:-1]": lambda a, v, m: a[::-1, 2:0:-1],
    "M[-1::-2, 1]": lambda a, v, m: m[-1::-2, 1],
    "roll(v, 1)": lambda a, v, m: np.roll(v, 1),
    "roll(A, -1, axis=1)": lambda a, v, m: np.roll(a, -1, axis=1),
    "roll(A, 2)": lambda a, v, m: np.roll(a, 2),
    "repeat(v, 2)": lambda a, v, m: np.repeat(v, 2),
    "repeat(A, 2, axis=0)": lambda a, v, m: np.repeat(a, 2, axis=0),
    "repeat(A, 3, axis=-1)": lambda a, v, m: np.repeat(a, 3, axis=-1),
    "repeat(A, 2)": lambda a, v, m: np.repeat(a, 2),
    "tile(v, 2)": lambda a, v, m: np.tile(v, 2),
    "tile(v, (2, 2))": lambda a, v, m: np.tile(v, (2, 2)),
    "tile(A, (2, 3))": lambda a, v, m: np.tile(a, (2, 3)),
    "tile(A, 2)": lambda a, v, m: np.tile(a, 2),
    "triu(M)": lambda a, v, m: np.triu(m),
    "tril(M, k=-1)": lambda a, v, m: np.tril(m, k=-1),
    "triu(A, 1)": lambda a, v, m: np.triu(a, 1),
    "diag(v)": lambda a, v, m: np.diag(v),
    "diag(M)": lambda a, v, m: np.diag(m),
    "diag(A)": lambda a, v, m: np.diag(a),
    "trace(M) * v": lambda a, v, m: np.trace(m) * v,
    "trace(A) * v": lambda a, v, m: np.trace(a) * v,
    "outer(v, A)": lambda a, v, m: np.outer(v, a),
    "kron(M, A)": lambda a, v, m: np.kron(m, a),
    "kron(v, A)": lambda a, v, m: np.kron(v, a),
    "kron(v, v)": lambda a, v, m: np.kron(v, v),
}


def _loss(form: str) -> tuple[str, np.ndarray]:
    return weighted(form, SHAPES)


@pytest.mark.parametrize("form", list(FORMS))
def test_each_form_computes_what_numpy_computes(form: str) -> None:
    loss, weights = _loss(form)
    env = {**VALUES, "D": weights}
    compiled = lang.compile_expression(lang.parse(loss), numpy_ops.OPS,
                                       {k: np.shape(v) for k, v in env.items()})
    expected = np.sum(np.sin(FORMS[form](VALUES["A"], VALUES["v"], VALUES["M"])) * weights)
    assert float(compiled(env)) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("form", list(FORMS))
def test_each_rule_agrees_with_high_precision_difference_quotients(form: str) -> None:
    loss, weights = _loss(form)
    values = {**VALUES, "D": weights}
    shapes = {k: np.shape(v) for k, v in values.items()}
    leaves = {n: g.var(n, s, "data" if n == "D" else "param") for n, s in shapes.items()}
    root = lang.compile_expression(lang.parse(loss), GRAPH_OPS, shapes)(leaves)
    params = ["A", "v", "M"]
    check_quotients(root, leaves, values, params)


def test_the_hessian_of_an_outer_product_loss_is_a_plus_its_transpose() -> None:
    """``sum(outer(w, w) * A)`` is ``w.T A w``: its Hessian ``A + A.T`` in every engine."""
    a = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [0.7, 0.1, -0.4]])
    w = np.array([0.3, -0.7, 1.1])
    result = diffcmp.compare("sum(outer(w, w) * A)", {"w": w}, {"A": a}, order=2,
                             engines=("matcalc", "torch", "jax"), timing=False)
    assert result.ok
    hessians = result.hessians[result.hessians["col"] != "v"]
    for engine in ("matcalc", "torch", "jax"):
        found = hessians[hessians["engine"] == engine]["value"].to_numpy(dtype=float)
        np.testing.assert_allclose(found, (a + a.T).ravel(), rtol=1e-14, err_msg=engine)


def test_second_order_through_kron_stack_and_a_reversed_slice() -> None:
    """The Hessian-vector product of the array graph through kron, stack and w[::-1] against
    the Hessian written out: ``sum(kron(w, w[::-1]) * c) = sum_ij c_ij w_i w_(2-j)``."""
    c = RNG.normal(size=9)
    w = RNG.normal(size=3)
    loss = "sum(kron(w, w[::-1]) * c) + sum(stack([w[0], w[2]]) ** 3)"
    leaves = {"w": g.var("w", (3,)), "c": g.var("c", (9,), "data")}
    root = lang.compile_expression(lang.parse(loss), GRAPH_OPS, {"w": (3,), "c": (9,)})(leaves)
    tangent = g.var("t", (3,), "data")
    second = hvp(derive(root, [leaves["w"]]), [tangent])
    run = Program(second.outputs).compile(numpy_ops.OPS)
    weights = c.reshape(3, 3)
    expected = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):  # c_ij w_i w_(2-j): d2/dw_i dw_(2-j) and its mirror
            expected[i, 2 - j] += weights[i, j]
            expected[2 - j, i] += weights[i, j]
    expected[0, 0] += 6 * w[0]
    expected[2, 2] += 6 * w[2]
    for k in range(3):
        unit = np.eye(3)[k]
        (_, product) = run({"w": w, "c": c, "t": unit})
        np.testing.assert_allclose(product, expected[:, k], rtol=1e-13, atol=1e-14)


def test_a_case_with_a_list_literal_and_a_reversed_slice_passes_every_engine() -> None:
    w = np.array([0.4, -1.3, 0.9])
    result = diffcmp.compare("sum(([w[0], 2 * w[1]] - w[::-1][:2]) ** 2) + trace(diag(w))",
                             {"w": w}, timing=False)
    assert result.ok


@pytest.mark.parametrize(("loss", "message"), [
    ("sum(stack([v, A]))", r"stack\(\) needs parts of one shape, got \(3\), \(2, 3\)"),
    ("sum(stack([A, A], axis=3))", r"axis 3 is out of range for shape \(2, 2, 3\)"),
    ("sum(concatenate([v, A]))", r"one number of dimensions, got \(3\), \(2, 3\)"),
    ("sum(concatenate([A, M], axis=1))", r"along axis 1 needs parts that agree on every other"),
    ("sum(concatenate([v[0], v[1]]))", r"concatenate\(\) takes vectors or matrices, not "),
    ("sum(flip(v, axis=1))", r"axis 1 is out of range for shape \(3\)"),
    ("sum(flip(v, axes=0))", r"no keyword argument 'axes'.*did you mean 'axis'"),
    ("sum(roll(v))", r"roll\(\) is missing its argument 'shift'"),
    ("sum(roll(v, w))", r"roll\(\)'s shift must be an integer literal"),
    ("sum(repeat(v, 0))", r"repeats must be a positive integer, not 0"),
    ("sum(tile(A, (" + "1, " * 33 + ")))", r"tile\(\) with 33 repetitions would have 33 "),
    ("sum(triu(v))", r"triu\(\) takes a matrix \(or a stack of them\), not shape \(3\)"),
    ("trace(v)", r"trace\(\) takes a matrix, not shape \(3\)"),
    ("sum(diag(A, k=3))", r"has no diagonal k=3 \(k lies in -1 to 2\)"),
    ("sum(diag(v[0]))", r"diag\(\) takes a vector .* not a scalar"),
    ("sum(stack(v))", r"stack\(\) takes a list of arrays"),
    ("sum([])", r"an empty list is not an array"),
    ("sum((v, v))", r"a tuple is not a value"),
    ("sum(v[::0])", r"a slice's step must not be zero"),
    ("sum(tile(v, 3000000))", r"9,000,000 elements; the limit is 5,000,000"),
    ("sum(outer(v, v, v))", r"outer\(\) takes at most 2 arguments"),
])
def test_bad_shapes_and_arguments_are_errors_that_name_the_problem(loss: str,
                                                                    message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        lang.analyze(lang.parse(loss), {**SHAPES, "w": (3,)})
