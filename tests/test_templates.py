"""NumPy's functions written with the language's own operations (``diffcmp.lang.templates``) and
NumPy's module prefixes: each computes what NumPy computes, its gradient is the hand-derived
one in every engine, and a wrong call is an error at the call as written."""

from __future__ import annotations

import math

import numpy as np
import pytest

import diffcmp
from diffcmp import lang
from diffcmp.errors import ExpressionError
from diffcmp.lang.templates import TEMPLATES
from diffcmp.ops import numpy as numpy_ops

W = np.array([0.3, -1.2, 2.5])
V = np.array([1.1, 0.4, -0.7])


def _value(source: str) -> np.ndarray:
    shapes = {"w": (3,), "v": (3,)}
    compiled = lang.compile_expression(lang.parse(source), numpy_ops.OPS, shapes, scalar=False)
    return np.asarray(compiled({"w": W, "v": V}))


#: template call -> (NumPy's value, d/dw of its sum, hand-derived)
CASES = {
    "exp2(w)": (np.exp2(W), np.exp2(W) * math.log(2)),
    "logaddexp2(w, v)": (np.logaddexp2(W, V), 2**W / (2**W + 2**V)),
    "deg2rad(w)": (np.deg2rad(W), np.full(3, math.pi / 180)),
    "radians(w)": (np.radians(W), np.full(3, math.pi / 180)),
    "rad2deg(w)": (np.rad2deg(W), np.full(3, 180 / math.pi)),
    "degrees(w)": (np.degrees(W), np.full(3, 180 / math.pi)),
    "negative(w)": (np.negative(W), -np.ones(3)),
    "positive(w)": (np.positive(W), np.ones(3)),
    "add(w, v)": (np.add(W, V), np.ones(3)),
    "subtract(w, v)": (np.subtract(W, V), np.ones(3)),
    "multiply(w, v)": (np.multiply(W, V), V),
    "divide(w, v)": (np.divide(W, V), 1 / V),
    "true_divide(w, v)": (np.true_divide(W, V), 1 / V),
    "ravel(outer(w, v))": (np.ravel(np.outer(W, V)), np.full(3, V.sum())),
    "array([w, 2 * w])": (np.array([W, 2 * W]), np.full(3, 3.0)),
    "asarray(w)": (np.asarray(W), np.ones(3)),
    "append(outer(w, v), v)": (np.append(np.outer(W, V), V), np.full(3, V.sum())),
    "fabs(w)": (np.fabs(W), np.sign(W)),
    "fmax(w, v)": (np.fmax(W, V), (W > V).astype(float)),
    "fmin(w, v)": (np.fmin(W, V), (W < V).astype(float)),
    "rsqrt(abs(w))": (1 / np.sqrt(np.abs(W)), -0.5 * np.sign(W) * np.abs(W) ** -1.5),
    "logistic(w)": (1 / (1 + np.exp(-W)), np.exp(-W) / (1 + np.exp(-W)) ** 2),
    "expit(w)": (1 / (1 + np.exp(-W)), np.exp(-W) / (1 + np.exp(-W)) ** 2),
    "log_sigmoid(w)": (-np.log1p(np.exp(-W)), 1 / (1 + np.exp(W))),
}


def test_every_template_is_tested() -> None:
    tested = {call.split("(")[0] for call in CASES} | {"matmul"}
    assert tested == set(TEMPLATES)


@pytest.mark.parametrize("call", sorted(CASES))
def test_a_template_computes_numpys_value(call: str) -> None:
    np.testing.assert_allclose(_value(call), CASES[call][0], rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("call", ["exp2(w)", "logaddexp2(w, v)", "rsqrt(abs(w))",
                                  "log_sigmoid(w)", "ravel(outer(w, v))"])
def test_a_templates_gradient_is_the_hand_derived_one_in_every_engine(call: str) -> None:
    result = diffcmp.compare(f"sum({call})", {"w": W}, data={"v": V}, timing=False,
                             engines=["reference", "matcalc", "torch", "jax"])
    rows = result.agreement[result.agreement["point"] == 0]
    assert set(rows["status"]) == {"ok"}, rows[["engine", "status"]]
    grads = result.gradients
    ours = grads[(grads["engine"] == "reference") & (grads["point"] == 0)]["value"].to_numpy()
    np.testing.assert_allclose(ours, CASES[call][1], rtol=1e-13)


def test_matmul_is_the_operator() -> None:
    np.testing.assert_allclose(_value("matmul(outer(w, v), v)"), np.outer(W, V) @ V, rtol=1e-15)


def test_numpys_module_prefixes_are_dropped() -> None:
    source = ("np.sum(numpy.square(w)) + np.linalg.norm(v) + jnp.exp2(w[0])"
              " + scipy.special.erf(v[1])")
    plain = "sum(square(w)) + norm(v) + 2 ** w[0] + erf(v[1])"
    np.testing.assert_allclose(_value(source), _value(plain), rtol=1e-15)


@pytest.mark.parametrize(("source", "message", "column"), [
    ("exp2(w, v)", r"exp2\(\) takes 1 argument, got 2", 1),
    ("sum(w) + logaddexp2(w)", r"logaddexp2\(\) takes 2 arguments, got 1", 10),
    ("exp2(w, base=2)", r"exp2\(\) takes no keyword arguments", 1),
    ("os.exp2(w)", r"attribute .\.exp2. is not allowed", 4),
    ("np.nosuch(w)", r"unknown function 'nosuch'", 1),
])
def test_a_wrong_call_is_an_error_at_the_call(source: str, message: str, column: int) -> None:
    with pytest.raises(ExpressionError, match=message) as info:
        lang.parse(source, "case.toml")
    assert info.value.column == column


def test_a_very_deep_expression_is_not_a_recursion_error() -> None:
    source = "w[0]" + " + exp2(w[1])" * 3000
    with pytest.raises(ExpressionError, match=r"deep|nodes|long"):
        lang.parse(source)


@pytest.mark.parametrize(("method", "function"), [
    ("w.sum() + v.max()", "sum(w) + max(v)"),
    ("outer(w, v).sum(axis=0).mean()", "mean(sum(outer(w, v), axis=0))"),
    ("outer(w, v).reshape(9)[4]", "reshape(outer(w, v), 9)[4]"),
    ("outer(w, v).reshape(1, 9)[0, 4] + outer(w, v).flatten()[2]",
     "reshape(outer(w, v), (1, 9))[0, 4] + ravel(outer(w, v))[2]"),
    ("outer(w, v).diagonal().prod() + outer(w, v).trace()",
     "prod(diag(outer(w, v))) + trace(outer(w, v))"),
    ("w.clip(0, 1).dot(v)", "dot(clip(w, 0, 1), v)"),
])
def test_numpys_array_methods_are_the_languages_functions(method: str, function: str) -> None:
    np.testing.assert_array_equal(_value(method), _value(function))
