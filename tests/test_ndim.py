"""Arrays of any number of dimensions (issue 19): 3-d and 4-d params and data through every
layer. Each N-d form computes what NumPy computes and its vector-Jacobian rules agree with
high-precision difference quotients; losses with hand-derived gradients (and a Hessian) pass
every engine with the right values and component names (``T[1,0,2]``); and the limits and
mistakes of N-d values are errors that name the problem."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from quotients import check_quotients, weighted

import diffcmp
from diffcmp import lang
from diffcmp.errors import CaseError, ExpressionError
from diffcmp.matcalc import graph as g
from diffcmp.matcalc.derive import derive
from diffcmp.matcalc.printer import formula
from diffcmp.matcalc.table import GRAPH_OPS
from diffcmp.ops import numpy as numpy_ops

RNG = np.random.default_rng(1919)
VALUES = {"T": RNG.normal(size=(2, 3, 4)), "Q": RNG.normal(size=(2, 1, 3, 2)),
          "U": RNG.normal(size=(3, 4)), "v": RNG.normal(size=4)}
SHAPES = {k: v.shape for k, v in VALUES.items()}

#: Each N-d form, and NumPy computing it (the language must mean what NumPy means).
FORMS: dict[str, Any] = {
    "T * U": lambda t, q, u, v: t * u,
    "T - v": lambda t, q, u, v: t - v,
    "Q * T[:, :, 1:3]": lambda t, q, u, v: q * t[:, :, 1:3],
    "sum(T, axis=1)": lambda t, q, u, v: np.sum(t, axis=1),
    "mean(Q, axis=-2)": lambda t, q, u, v: np.mean(q, axis=-2),
    "prod(T, axis=0)": lambda t, q, u, v: np.prod(t, axis=0),
    "norm(T, axis=2)": lambda t, q, u, v: np.sqrt(np.sum(t * t, axis=2)),
    "logsumexp(Q, axis=3)": lambda t, q, u, v: np.log(np.sum(np.exp(q), axis=3)),
    "max(T, axis=1)": lambda t, q, u, v: np.max(t, axis=1),
    "softmax(T, axis=1)": lambda t, q, u, v: np.exp(t) / np.sum(np.exp(t), axis=1,
                                                                keepdims=True),
    "log_softmax(Q, axis=2)": lambda t, q, u, v: q - np.log(np.sum(np.exp(q), axis=2,
                                                                   keepdims=True)),
    "transpose(T, (1, 2, 0))": lambda t, q, u, v: np.transpose(t, (1, 2, 0)),
    "transpose(Q, (0, -1, 2, 1))": lambda t, q, u, v: np.transpose(q, (0, 3, 2, 1)),
    "transpose(T)": lambda t, q, u, v: np.transpose(t),
    "T.T": lambda t, q, u, v: t.T,
    "expand_dims(U, 0) * T": lambda t, q, u, v: np.expand_dims(u, 0) * t,
    "expand_dims(v, axis=-1) * U.T": lambda t, q, u, v: np.expand_dims(v, -1) * u.T,
    "squeeze(Q)": lambda t, q, u, v: np.squeeze(q),
    "squeeze(Q, axis=1)": lambda t, q, u, v: np.squeeze(q, axis=1),
    "reshape(T, (4, -1, 2))": lambda t, q, u, v: t.reshape(4, -1, 2),
    "reshape(U, (2, 3, 2))": lambda t, q, u, v: u.reshape(2, 3, 2),
    "T[1]": lambda t, q, u, v: t[1],
    "T[-1, ::-1, 1:4:2]": lambda t, q, u, v: t[-1, ::-1, 1:4:2],
    "Q[:, 0, 1:]": lambda t, q, u, v: q[:, 0, 1:],
    "T @ v": lambda t, q, u, v: t @ v,
    "U[0, :3] @ T[:, :, :3]": lambda t, q, u, v: u[0, :3] @ t[:, :, :3],
    "T @ transpose(T, (0, 2, 1))": lambda t, q, u, v: t @ np.transpose(t, (0, 2, 1)),
    "T @ U.T": lambda t, q, u, v: t @ u.T,
    "Q @ T[:, :2]": lambda t, q, u, v: q @ t[:, :2],
    "stack([T, 2 * T], axis=2)": lambda t, q, u, v: np.stack([t, 2 * t], axis=2),
    "stack([U, U ** 2], axis=-1)": lambda t, q, u, v: np.stack([u, u**2], axis=-1),
    "concatenate([T, T ** 2], axis=1)": lambda t, q, u, v: np.concatenate([t, t**2], axis=1),
    "concatenate([T, Q[0]], axis=None)": lambda t, q, u, v: np.concatenate([t, q[0]],
                                                                          axis=None),
    "flip(T, axis=2)": lambda t, q, u, v: np.flip(t, axis=2),
    "flip(Q)": lambda t, q, u, v: np.flip(q),
    "roll(T, 2, axis=1)": lambda t, q, u, v: np.roll(t, 2, axis=1),
    "roll(T, -5)": lambda t, q, u, v: np.roll(t, -5),
    "repeat(T, 2, axis=1)": lambda t, q, u, v: np.repeat(t, 2, axis=1),
    "repeat(Q, 3, axis=0)": lambda t, q, u, v: np.repeat(q, 3, axis=0),
    "repeat(T, 2)": lambda t, q, u, v: np.repeat(t, 2),
    "tile(T, (2, 1, 3))": lambda t, q, u, v: np.tile(t, (2, 1, 3)),
    "tile(U, (2, 1, 1))": lambda t, q, u, v: np.tile(u, (2, 1, 1)),
    "tile(Q, 2)": lambda t, q, u, v: np.tile(q, 2),
    "triu(T, 1)": lambda t, q, u, v: np.triu(t, 1),
    "tril(Q)": lambda t, q, u, v: np.tril(q),
    "kron(T[:, :2, :2], Q[0])": lambda t, q, u, v: np.kron(t[:, :2, :2], q[0]),
    "kron(v[:2], Q)": lambda t, q, u, v: np.kron(v[:2], q),
    "tile(v, (2, 1, 3))": lambda t, q, u, v: np.tile(v, (2, 1, 3)),
    "where(T > 0, T, U ** 2)": lambda t, q, u, v: np.where(t > 0, t, u**2),
}


def _loss(form: str) -> tuple[str, np.ndarray]:
    return weighted(form, SHAPES)


@pytest.mark.parametrize("form", list(FORMS))
def test_each_form_computes_what_numpy_computes(form: str) -> None:
    loss, weights = _loss(form)
    env = {**VALUES, "D": weights}
    compiled = lang.compile_expression(lang.parse(loss), numpy_ops.OPS,
                                       {k: np.shape(v) for k, v in env.items()})
    expected = np.sum(np.sin(FORMS[form](*(VALUES[k] for k in "TQUv"))) * weights)
    assert float(compiled(env)) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("form", list(FORMS))
def test_each_rule_agrees_with_high_precision_difference_quotients(form: str) -> None:
    loss, weights = _loss(form)
    values = {**VALUES, "D": weights}
    shapes = {k: np.shape(v) for k, v in values.items()}
    leaves = {n: g.var(n, s, "data" if n == "D" else "param") for n, s in shapes.items()}
    root = lang.compile_expression(lang.parse(loss), GRAPH_OPS, shapes)(leaves)
    params = ["T", "Q", "U", "v"]
    check_quotients(root, leaves, values, params, digits=50, step=18, agree=25)


def _grads(result: diffcmp.Result, engine: str, param: str) -> tuple[list[str], np.ndarray]:
    rows = result.gradients[(result.gradients["engine"] == engine)
                            & result.gradients["component"].str.startswith(param + "[")]
    return list(rows["component"]), rows["value"].to_numpy(dtype=float)


T0 = np.array([[[0.5, -1.25, 0.75, 2.0], [1.5, 0.25, -0.5, -2.0], [0.125, 1.0, -1.5, 0.3]],
               [[-0.7, 0.9, 1.1, -0.2], [0.6, -0.4, 0.8, 1.2], [-1.3, 0.35, 0.45, -0.95]]])
U0 = np.array([[1.0, -0.5, 0.25, 2.0], [0.5, 1.5, -1.0, 0.75], [-0.25, 0.125, 1.25, -1.5]])
V0 = np.arange(24.0).reshape(4, 2, 3) / 10 - 1.1
W0 = np.array([[0.3, -0.2, 0.5], [1.1, 0.4, -0.6], [-0.9, 0.7, 0.2], [0.05, -1.2, 0.8]])


def _contraction() -> np.ndarray:
    s = np.einsum("ijk,jk->ij", T0, U0)
    return 2 * s[:, :, None] * U0[None]


#: Losses of a 3-d ``T`` (and a matrix ``W``) with their gradients derived by hand.
HAND: dict[str, tuple[dict[str, Any], dict[str, np.ndarray]]] = {
    # d/dT sum T**2 = 2 T
    "sum(T ** 2)": ({}, {"T": 2 * T0}),
    # L = sum_ij S_ij**2, S_ij = sum_k T_ijk U_jk: dL/dT_ijk = 2 S_ij U_jk
    "sum(sum(T * U, axis=2) ** 2)": ({"U": U0}, {"T": _contraction()}),
    # L = sum_kij T_ijk V_kij: dL/dT_ijk = V_kij, V with its axes moved back
    "sum(transpose(T, (2, 0, 1)) * V)": ({"V": V0}, {"T": np.transpose(V0, (1, 2, 0))}),
    # squeeze(expand_dims(T, 1), 1) is T: d/dT sum T**3 = 3 T**2
    "sum(squeeze(expand_dims(T, 1), axis=1) ** 3)": ({}, {"T": 3 * T0**2}),
    # L = sum_ijm sum_k T_ijk W_km: dL/dT_ijk = sum_m W_km, dL/dW_km = sum_ij T_ijk
    "sum(T @ W)": ({}, {"T": np.broadcast_to(W0.sum(axis=1), T0.shape),
                        "W": np.broadcast_to(T0.sum(axis=(0, 1))[:, None], W0.shape)}),
}


@pytest.mark.parametrize("loss", list(HAND))
def test_a_3d_loss_passes_every_engine_with_its_hand_derived_gradient(loss: str) -> None:
    data, expected = HAND[loss]
    params = {"T": T0, **({"W": W0} if "W" in expected else {})}
    result = diffcmp.compare(loss, params, data, timing=False)
    assert result.ok, result.failures
    engines = set(result.gradients["engine"])
    assert engines >= {"reference", "sympy", "matcalc", "torch", "torch-fwd", "jax", "jax-fwd",
                       "fd-central", "fd-complex"}
    for engine in engines:
        for name, want in expected.items():
            components, found = _grads(result, engine, name)
            assert components == [f"{name}[{','.join(map(str, i))}]"
                                  for i in np.ndindex(*want.shape)]
            tolerance = 1e-6 if engine.startswith("fd-central") else 1e-12
            np.testing.assert_allclose(found, want.ravel(), rtol=tolerance, atol=tolerance,
                                       err_msg=f"{engine} {name}")


def test_a_4d_loss_of_batched_matrices_and_softmax_along_an_axis() -> None:
    """``sum(logsumexp(Q * c, axis=2))``: d/dQ is ``c softmax(Q * c)`` along axis 2."""
    q = VALUES["Q"]
    c = np.array([0.5, -1.5])
    result = diffcmp.compare("sum(logsumexp(Q * c, axis=2))", {"Q": q}, {"c": c}, timing=False)
    assert result.ok, result.failures
    z = np.exp(q * c)
    expected = c * z / z.sum(axis=2, keepdims=True)
    for engine in ("reference", "matcalc", "torch", "jax", "sympy"):
        components, found = _grads(result, engine, "Q")
        assert components[5] == "Q[0,0,2,1]"
        np.testing.assert_allclose(found, expected.ravel(), rtol=1e-12, err_msg=engine)


def test_the_hessian_of_a_small_3d_loss_in_every_engine() -> None:
    """``sum(transpose(T, (1, 2, 0)) ** 3 * V)``: the Hessian is diagonal, ``6 T_ijk V_jki``
    (``V`` indexed by the transposed axes)."""
    t = T0[:, :2, :2]
    v = V0[:2, :2, :2].transpose(1, 2, 0)  # of the transposed shape (2, 2, 2)
    result = diffcmp.compare("sum(transpose(T, (1, 2, 0)) ** 3 * V)", {"T": t}, {"V": v},
                             order=2, timing=False)
    assert result.ok, result.failures
    expected = np.diag((6 * t * np.transpose(v, (2, 0, 1))).ravel())
    hessians = result.hessians[result.hessians["col"] != "v"]
    names = [f"T[{i},{j},{k}]" for i, j, k in np.ndindex(2, 2, 2)]
    for engine in ("reference", "matcalc", "torch", "jax", "sympy"):
        rows = hessians[hessians["engine"] == engine]
        assert list(rows["row"][:8]) == ["T[0,0,0]"] * 8
        assert list(rows["col"][:8]) == names
        np.testing.assert_allclose(rows["value"].to_numpy(dtype=float), expected.ravel(),
                                   rtol=1e-12, atol=1e-14, err_msg=engine)


def test_an_nd_transpose_prints_with_its_axes() -> None:
    leaves = {"T": g.var("T", (2, 3, 4)), "V": g.var("V", (4, 2, 3), "data")}
    root = lang.compile_expression(lang.parse("sum(transpose(T, (2, 0, 1)) ** 2 * V)"),
                                   GRAPH_OPS, {"T": (2, 3, 4), "V": (4, 2, 3)})(leaves)
    (grad,) = derive(root, [leaves["T"]]).grads
    assert formula(root) == "sum(transpose(T, (2, 0, 1))**2 * V)"
    assert formula(grad).startswith("transpose(") and formula(grad).endswith(", (1, 2, 0))")


def test_values_of_any_depth_are_read_from_lists_and_arrays() -> None:
    case = diffcmp.Case(name="x", loss="sum(T) + sum(Q)", params={"T": T0.tolist()},
                        data={"Q": np.zeros((1, 2, 1, 2, 1))})
    assert case.params["T"].shape == (2, 3, 4)
    assert case.data["Q"].shape == (1, 2, 1, 2, 1)


@pytest.mark.parametrize(("params", "message"), [
    ({"T": [[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0]]]},
     r"params\.T\[1\] is ragged: params\.T\[1\]\[0\] has shape \(2\) but params\.T\[1\]\[1\] "
     r"has shape \(1\)"),
    ({"T": [[[1.0, 2.0]], [[1.0, 2.0], [3.0, 4.0]]]},
     r"params\.T is ragged: params\.T\[0\] has shape \(1, 2\) but params\.T\[1\] has shape "
     r"\(2, 2\)"),
    ({"T": [[[0.0] * 1000] * 100] * 100}, r"params\.T has 10,000,000 elements; the limit is "
                                          r"5,000,000"),
    ({"T": np.zeros((100, 100, 1000))}, r"params\.T has 10,000,000 elements"),
    ({"T": [[[1.0, float("nan")]]]}, r"params\.T\[0\]\[0\]\[1\] is nan"),
])
def test_bad_nd_values_are_errors_that_name_the_key(params: dict[str, Any],
                                                    message: str) -> None:
    with pytest.raises(CaseError, match=message):
        diffcmp.Case(name="x", loss="sum(T)", params=params)


@pytest.mark.parametrize(("loss", "message"), [
    ("sum(T, axis=3)", r"axis 3 is out of range for shape \(2, 3, 4\) \(axes -3 to 2\)"),
    ("sum(softmax(T, axis=-4))", r"axis -4 is out of range for shape \(2, 3, 4\)"),
    ("sum(transpose(T, (0, 1)))", r"transpose\(\)'s axes must name each of the 3 axes"),
    ("sum(transpose(T, (0, 1, 1)))", r"transpose\(\) is given an axis twice"),
    ("sum(transpose(T, (0, 1, 3)))", r"axis 3 is out of range for shape \(2, 3, 4\)"),
    ("sum(squeeze(T, axis=1))", r"squeeze\(\) of axis 1 of shape \(2, 3, 4\): its size is 3"),
    ("sum(expand_dims(T, 4))", r"axis 4 is out of range for shape \(2, 3, 4, 1\)"),
    ("sum(expand_dims(T))", r"expand_dims\(\) is missing its argument 'axis'"),
    ("sum(T @ Q)", r"shapes \(2, 3, 4\) @ \(2, 1, 3, 2\) do not match \(4 columns vs 3 rows\)"),
    ("sum(T @ ones)", r"the stacks of matrices \(2\) and \(3\) do not broadcast"),
    ("sum(T[0, 0, 0, 0])", r"4 indices for a value of shape \(2, 3, 4\)"),
    ("sum(T[:, 3])", r"index 3 is out of range for axis 1 of shape \(2, 3, 4\)"),
    ("sum(reshape(T, (5, -1)))", r"cannot reshape shape \(2, 3, 4\) \(24 elements\) into "),
    ("sum(T * U.T)", r"shapes \(2, 3, 4\), \(4, 3\) do not broadcast in '\*'"),
    ("trace(T)", r"trace\(\) takes a matrix, not shape \(2, 3, 4\)"),
    ("sum(tile(T, (3000, 3000)))", r"216,000,000 elements; the limit is 5,000,000"),
])
def test_nd_mistakes_are_errors_that_name_the_problem(loss: str, message: str) -> None:
    shapes = {**SHAPES, "ones": (3, 4, 2)}
    with pytest.raises(ExpressionError, match=message):
        lang.analyze(lang.parse(loss), shapes)


def test_the_operation_count_limit_holds_for_nd_values() -> None:
    with pytest.raises(ExpressionError, match="operations on elements; the limit is"):
        lang.analyze(lang.parse("sum(A @ B)"), {"A": (100, 200, 300), "B": (100, 300, 400)})


def test_a_kink_of_one_component_of_a_3d_param_is_graded_kink_and_named() -> None:
    """``sum(abs(T) * c)`` with ``T[0,1,1] = 0``: one-sided derivatives ``-c[1]`` and ``c[1]``
    (-2 and 2) at that component only; every engine within them is a ``kink``, never a
    mismatch."""
    t = np.arange(8.0).reshape(2, 2, 2) / 7 - 3 / 7  # T[0,1,1] = 3/7 - 3/7 = 0
    result = diffcmp.compare("sum(abs(T) * c)", {"T": t}, {"c": np.array([1.0, 2.0])},
                             timing=False)
    assert result.ok
    graded = result.agreement[result.agreement["engine"] != "fd-complex"]
    assert set(graded["status"]) == {"kink"}
    assert all("T[0,1,1]" in m and "-2 (left) / 2 (right)" in m for m in graded["message"])


def test_nd_arrays_of_other_libraries_and_generated_nd_data() -> None:
    import jax.numpy as jnp
    import torch

    case = diffcmp.Case(name="x", loss="sum(T ** 2 * J)",
                        params={"T": torch.ones(2, 3, 4, dtype=torch.float32,
                                                requires_grad=True)},
                        data={"J": jnp.ones((2, 1, 4))})
    assert case.params["T"].dtype == np.float64 and case.params["T"].shape == (2, 3, 4)
    assert case.data["J"].shape == (2, 1, 4)
    swept = diffcmp.Case(name="s", loss="sum(T * X)", params={"T": np.ones(3)},
                         data={"X": {"random": "normal", "shape": [4, "n", 3], "seed": 0}},
                         sweep={"size": "n", "sizes": [2, 5], "run": 2})
    assert swept.data["X"].shape == (4, 2, 3)
    np.testing.assert_array_equal(swept.at_size(5).data["X"],
                                  np.random.default_rng(0).normal(size=(4, 5, 3)))
    with pytest.raises(CaseError, match=r"data\.X\.shape has 33 dimensions; values have at "
                                        r"most 32"):
        diffcmp.Case(name="s", loss="sum(X)", params={"w": 1.0},
                     data={"X": {"random": "normal", "shape": [1] * 33, "seed": 0}})
