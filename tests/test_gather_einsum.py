"""Integer indexing (``x[idx]``, ``take``, ``take_along_axis``), ``einsum``, ``diag(v, k)`` and
NumPy's other structural names (issue 19): each form computes what NumPy computes, each rule
agrees with 60-digit difference quotients, repeated indices accumulate, the cross-entropy of
integer labels has its hand-derived gradient and Hessian in every engine, and bad indices and
subscripts are errors that name the data and the value."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from quotients import check_quotients

import diffcmp
from diffcmp import lang
from diffcmp.errors import CaseError, ExpressionError
from diffcmp.lang.gather import valued_shapes
from diffcmp.matcalc import graph as g
from diffcmp.matcalc.derive import derive, hvp
from diffcmp.matcalc.evaluate import Program
from diffcmp.matcalc.printer import formula
from diffcmp.matcalc.table import GRAPH_OPS
from diffcmp.ops import numpy as numpy_ops

RNG = np.random.default_rng(1919)
PARAMS = {"A": RNG.normal(size=(2, 3)), "v": RNG.normal(size=3), "M": RNG.normal(size=(3, 3))}
#: Integer data: duplicates and a negative index (NumPy's: from the end).
INDICES = {"idx": np.array([0, 2, 2, -1]), "jdx": np.array([2, 0, 2]), "rows": np.array([1, 1, 0]),
           "lab": np.array([2, 0]), "K": np.array([[2, 0, 1], [2, 2, 0]])}

#: Each form, and NumPy computing it from (A, v, M, data).
FORMS: dict[str, Any] = {
    "v[idx]": lambda a, v, m, d: v[d["idx"]],
    "A[:, jdx]": lambda a, v, m, d: a[:, d["jdx"]],
    "A[1, jdx]": lambda a, v, m, d: a[1, d["jdx"]],
    "M[rows, 1:]": lambda a, v, m, d: m[d["rows"], 1:],
    "M[::-1, idx]": lambda a, v, m, d: m[::-1, d["idx"]],
    "M[[0, 2, 0]]": lambda a, v, m, d: m[[0, 2, 0]],
    "take(A, jdx, axis=1)": lambda a, v, m, d: np.take(a, d["jdx"], axis=1),
    "take(A, idx)": lambda a, v, m, d: np.take(a, d["idx"]),
    "take_along_axis(A, reshape(lab, (-1, 1)), axis=1)":
        lambda a, v, m, d: np.take_along_axis(a, d["lab"].reshape(-1, 1), axis=1),
    "take(v, 2) * v": lambda a, v, m, d: np.take(v, 2) * v,
    "take(A, -1, axis=1)": lambda a, v, m, d: np.take(a, -1, axis=1),
    "take_along_axis(A, jdx, axis=None)":
        lambda a, v, m, d: np.take_along_axis(a, d["jdx"], axis=None),
    "take_along_axis(A, [[0, 2]], axis=1)":
        lambda a, v, m, d: np.take_along_axis(a, np.array([[0, 2]]), axis=1),
    "take_along_axis(M, K, axis=0)": lambda a, v, m, d: np.take_along_axis(m, d["K"], axis=0),
    "take_along_axis(A, K, axis=1)": lambda a, v, m, d: np.take_along_axis(a, d["K"], axis=1),
    "einsum('ij,jk->ik', A, M)": lambda a, v, m, d: np.einsum("ij,jk->ik", a, m),
    "einsum('ij,jk', A, M)": lambda a, v, m, d: np.einsum("ij,jk", a, m),
    "einsum('ii', M) * v": lambda a, v, m, d: np.einsum("ii", m) * v,
    "einsum('ii->i', M)": lambda a, v, m, d: np.einsum("ii->i", m),
    "einsum('ij,ij->i', A, A)": lambda a, v, m, d: np.einsum("ij,ij->i", a, a),
    "einsum('i,j,ij', v, v, M) * v": lambda a, v, m, d: np.einsum("i,j,ij", v, v, m) * v,
    "einsum('ij->j', A)": lambda a, v, m, d: np.einsum("ij->j", a),
    "einsum('ji', A)": lambda a, v, m, d: np.einsum("ji", a),
    "einsum('ii,i->i', M, v)": lambda a, v, m, d: np.einsum("ii,i->i", m, v),
    "dot(A, M)": lambda a, v, m, d: np.dot(a, m),
    "dot(M, v)": lambda a, v, m, d: np.dot(m, v),
    "dot(v, v) * v": lambda a, v, m, d: np.dot(v, v) * v,
    "inner(A, A)": lambda a, v, m, d: np.inner(a, a),
    "inner(v, M)": lambda a, v, m, d: np.inner(v, m),
    "tensordot(A, M, axes=1)": lambda a, v, m, d: np.tensordot(a, m, axes=1),
    "tensordot(A, A, axes=([0, 1], [0, 1])) * v":
        lambda a, v, m, d: np.tensordot(a, a, axes=([0, 1], [0, 1])) * v,
    "tensordot(M, M, axes=([0], [1]))": lambda a, v, m, d: np.tensordot(m, m, axes=([0], [1])),
    "fliplr(A)": lambda a, v, m, d: np.fliplr(a),
    "flipud(A)": lambda a, v, m, d: np.flipud(a),
    "flipud(v)": lambda a, v, m, d: np.flipud(v),
    "rot90(A)": lambda a, v, m, d: np.rot90(a),
    "rot90(A, 2)": lambda a, v, m, d: np.rot90(a, 2),
    "rot90(A, 3)": lambda a, v, m, d: np.rot90(a, 3),
    "rot90(A, k=1, axes=(1, 0))": lambda a, v, m, d: np.rot90(a, k=1, axes=(1, 0)),
    "swapaxes(A, 0, 1)": lambda a, v, m, d: np.swapaxes(a, 0, 1),
    "moveaxis(A, 0, -1)": lambda a, v, m, d: np.moveaxis(a, 0, -1),
    "trace(A, offset=1) * v": lambda a, v, m, d: np.trace(a, offset=1) * v,
    "trace(M, -1) * v": lambda a, v, m, d: np.trace(m, -1) * v,
    "diag(v, 1)": lambda a, v, m, d: np.diag(v, 1),
    "diag(v, k=-2)": lambda a, v, m, d: np.diag(v, k=-2),
    "diag(A, 1)": lambda a, v, m, d: np.diag(a, 1),
    "diag(M, -1)": lambda a, v, m, d: np.diag(m, -1),
    "diag(A, -1)": lambda a, v, m, d: np.diag(a, -1),
}


def _shapes(extra: dict[str, np.ndarray]) -> dict[str, Any]:
    return valued_shapes(PARAMS, {**{k: v.astype(float) for k, v in INDICES.items()}, **extra})


def _loss(form: str) -> tuple[str, np.ndarray]:
    """``sum(sin(form) * D)``, each element of the form weighted on its own."""
    shape = lang.result_shape(lang.parse(form), _shapes({}))
    weights = np.random.default_rng(len(form)).normal(size=shape)
    return f"sum(sin({form}) * D)", weights


@pytest.mark.parametrize("form", list(FORMS))
def test_each_form_computes_what_numpy_computes(form: str) -> None:
    loss, weights = _loss(form)
    compiled = lang.compile_expression(lang.parse(loss), numpy_ops.OPS, _shapes({"D": weights}))
    expected = np.sum(np.sin(FORMS[form](*PARAMS.values(), INDICES)) * weights)
    assert float(compiled({**PARAMS, "D": weights})) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("form", list(FORMS))
def test_each_rule_agrees_with_high_precision_difference_quotients(form: str) -> None:
    loss, weights = _loss(form)
    shapes = _shapes({"D": weights})
    leaves = {n: g.var(n, tuple(s), "param" if n in PARAMS else "data")
              for n, s in shapes.items()}
    root = lang.compile_expression(lang.parse(loss), GRAPH_OPS, shapes)(leaves)
    check_quotients(root, leaves, {**PARAMS, "D": weights}, list(PARAMS))


@pytest.mark.parametrize(("spec", "shapes"), [
    ("ijk,kl->ijl", [(2, 3, 2), (2, 3)]),
    ("iij->j", [(2, 2, 3)]),
    ("ijk,jk,i->", [(2, 3, 2), (3, 2), (2,)]),
    ("abc,cd->dba", [(2, 2, 3), (3, 2)]),
    ("iii->i", [(2, 2, 2)]),
])
def test_einsum_of_three_dimensions_in_the_backends_and_its_rule(spec: str,
                                                                 shapes: list[Any]) -> None:
    """The language holds two dimensions; the op and its rule take any number."""
    rng = np.random.default_rng(len(spec))
    values = {f"p{i}": rng.normal(size=s) for i, s in enumerate(shapes)}
    leaves = {n: g.var(n, v.shape) for n, v in values.items()}
    node = GRAPH_OPS["einsum"](list(leaves.values()), spec)
    expected = np.einsum(spec, *values.values())
    assert node.shape == expected.shape
    weights = rng.normal(size=expected.shape)
    leaves["D"] = g.var("D", weights.shape, "data")
    root = GRAPH_OPS["sum"](GRAPH_OPS["sin"](node) * leaves["D"])
    found = Program([node]).compile(numpy_ops.OPS)(values)[0]
    np.testing.assert_allclose(found, expected, rtol=1e-14)
    check_quotients(root, leaves, {**values, "D": weights}, [f"p{i}" for i in range(len(shapes))])


def _gradient(result: diffcmp.Result, engine: str) -> np.ndarray:
    rows = result.gradients[(result.gradients["engine"] == engine)
                            & (result.gradients["point"] == 0)]
    return rows["value"].to_numpy(dtype=float)


def _hessian(result: diffcmp.Result, engine: str, n: int) -> np.ndarray:
    rows = result.hessians[(result.hessians["engine"] == engine)
                           & (result.hessians["col"] != "v") & (result.hessians["point"] == 0)]
    return rows["value"].to_numpy(dtype=float).reshape(n, n)


def test_repeated_indices_accumulate_in_the_gradient_and_the_hessian() -> None:
    """``sum(c * w[idx]**2)`` with idx = [0, 2, 2, -1]: w[2] is taken three times, so its
    derivative is 2 w_2 (c_1 + c_2 + c_3) and its second derivative 2 (c_1 + c_2 + c_3);
    w[1] is never taken."""
    w, c = np.array([0.3, -0.7, 1.1]), np.array([1.0, 2.0, 3.0, 4.0])
    result = diffcmp.compare("sum(c * w[idx] ** 2)", {"w": w}, {"idx": [0, 2, 2, -1], "c": c},
                             order=2, engines=("matcalc", "torch", "jax"), timing=False)
    assert result.ok
    counts = np.array([c[0], 0.0, c[1] + c[2] + c[3]])
    for engine in ("reference", "matcalc", "torch", "jax"):
        np.testing.assert_allclose(_gradient(result, engine), 2 * w * counts, rtol=1e-14,
                                   err_msg=engine)
        np.testing.assert_allclose(_hessian(result, engine, 3), np.diag(2 * counts),
                                   rtol=1e-14, err_msg=engine)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


CE = "-mean(take_along_axis(log_softmax(Z, axis=1), reshape(y, (-1, 1)), axis=1))"


def test_cross_entropy_of_integer_labels_has_the_hand_derived_gradient_and_hessian() -> None:
    """CE = -(1/n) sum_i log softmax(Z_i)[y_i]: its gradient (softmax(Z) - onehot(y)) / n, its
    Hessian block-diagonal by rows, (diag(p_i) - p_i p_i^T) / n."""
    z = np.array([[0.2, -1.0, 0.5], [1.5, 0.3, -0.4], [-0.7, 0.1, 0.9], [0.0, 2.0, -1.0]])
    y = np.array([2, 0, 1, 1])
    n, c = z.shape
    p = _softmax(z)
    onehot = np.eye(c)[y]
    hessian = np.zeros((n * c, n * c))
    for i in range(n):
        hessian[i * c:(i + 1) * c, i * c:(i + 1) * c] = (np.diag(p[i]) - np.outer(p[i], p[i])) / n
    engines = ("matcalc", "torch", "jax", "sympy")
    result = diffcmp.compare(CE, {"Z": z}, {"y": y}, order=2, engines=engines, timing=False)
    assert result.ok
    for engine in ("reference", *engines):
        np.testing.assert_allclose(_gradient(result, engine), ((p - onehot) / n).ravel(),
                                   rtol=1e-13, atol=1e-16, err_msg=engine)
        np.testing.assert_allclose(_hessian(result, engine, n * c), hessian, rtol=1e-12,
                                   atol=1e-16, err_msg=engine)


def test_the_same_loss_by_a_gather_of_rows_and_columns() -> None:
    """``x[idx]`` spelt three ways computes one gradient: the flat take, the column take, and
    a one-hot product (hand-written)."""
    z = RNG.normal(size=(3, 4))
    y = np.array([3, 0, 3])
    one_hot = np.eye(4)[y]
    losses = ["sum(take(Z, [3, 4, 11]) ** 2)", "sum(diag(Z[:, y]) ** 2)",
              "sum(sum(Z * H, axis=1) ** 2)"]
    grads = []
    for loss in losses:
        result = diffcmp.compare(loss, {"Z": z}, {"y": y, "H": one_hot}, timing=False,
                                 engines=("matcalc", "torch"))
        assert result.ok, loss
        grads.append(_gradient(result, "reference"))
    expected = (2 * z * one_hot).ravel()
    for found in grads:
        np.testing.assert_allclose(found, expected, rtol=1e-14)


def test_the_hessian_of_an_einsum_quadratic_form_is_m_plus_its_transpose() -> None:
    m = RNG.normal(size=(3, 3))
    w = RNG.normal(size=3)
    leaves = {"w": g.var("w", (3,)), "M": g.var("M", (3, 3), "data")}
    root = lang.compile_expression(lang.parse("einsum('i,ij,j', w, M, w)"), GRAPH_OPS,
                                   {"w": (3,), "M": (3, 3)})(leaves)
    tangent = g.var("t", (3,), "data")
    run = Program(hvp(derive(root, [leaves["w"]]), [tangent]).outputs).compile(numpy_ops.OPS)
    for k in range(3):
        (_, product) = run({"w": w, "M": m, "t": np.eye(3)[k]})
        np.testing.assert_allclose(product, (m + m.T)[:, k], rtol=1e-13)


def test_the_gradient_prints_with_the_datas_name() -> None:
    leaves = {"Z": g.var("Z", (2, 3))}
    shapes = valued_shapes({"Z": np.zeros((2, 3))}, {"y": np.array([2.0, 0.0])})
    root = lang.compile_expression(lang.parse(CE), GRAPH_OPS, shapes)(leaves)
    assert "take_along_axis(log_softmax(Z, axis=1), reshape(y, (-1, 1)), axis=1)" in \
        formula(root)
    # the adjoint adds back at the flat positions taken: row 0 column 2, row 1 column 0
    assert "scatter_add(reshape(-1 / 2, 2), 6, [2, 3], axis=0)" in \
        formula(derive(root, [leaves["Z"]]).outputs[1])


@pytest.mark.parametrize(("loss", "data", "message"), [
    ("sum(w[idx])", {"idx": [0, 3]}, r"data idx: the index idx holds 3 at \[1\], out of range "
                                     r"for axis 0 of 3 elements \(indices lie in -3 to 2\)"),
    ("sum(w[idx])", {"idx": [0, -4]}, r"holds -4 at \[1\], out of range"),
    ("sum(w[idx])", {"idx": [0, 1.5]}, r"data idx: the index idx holds 1.5 at \[1\]: indices "
                                       r"must be integers"),
    ("sum(take_along_axis(X, reshape(y, (-1, 1)), axis=1))", {"y": [0, 2]},
     r"data y: the index reshape\(y, \(-1, 1\)\) holds 2 at \[1, 0\], out of range for axis 1"),
    ("sum(w[w])", {}, r"'w' is not data"),
    ("sum(w[0][idx])", {"idx": [0]}, r"a scalar cannot be indexed"),
    ("sum(X[y, y])", {"y": [0, 1]}, r"one integer-array index per subscript"),
    ("sum(take_along_axis(X, y, axis=1))", {"y": [0, 1]}, r"take_along_axis\(\) needs indices of "
                                                          r"2 dimensions"),
    ("sum(einsum('ij,jk->ik', X, Y))", {"Y": [[1.0, 2.0, 3.0]]},
     r"letter 'j' is 2 in operand 0 but 1 in operand 1"),
    ("einsum('...i', w)", {}, r"ellipsis"),
    ("einsum('ij', w)", {}, r"term 'ij' has 2 letters for operand 0 of shape \(3\)"),
    ("einsum('i,i', w)", {}, r"name 2 operands, got 1 arrays"),
    ("sum(einsum('i->ii', w))", {}, r"output 'ii' must name letters of its inputs, each once"),
    ("sum(tensordot(X, X, axes=([1], [1, 0])))", {}, r"two axis lists differ"),
    ("sum(diag(w, k=1) @ X)", {}, r"do not match"),
])
def test_bad_indices_and_subscripts_are_errors_that_name_them(loss: str, data: dict[str, Any],
                                                              message: str) -> None:
    params = {"w": np.array([0.3, -0.7, 1.1]), "X": np.array([[1.0, 2.0], [3.0, 4.0]])}
    with pytest.raises((CaseError, ExpressionError), match=message):
        diffcmp.compare(loss, params, data, engines=("matcalc",), timing=False)


@pytest.mark.parametrize(("form", "expected"), [
    ("swapaxes(T, 0, 2)", lambda t: np.swapaxes(t, 0, 2)),
    ("swapaxes(T, -1, 1)", lambda t: np.swapaxes(t, -1, 1)),
    ("moveaxis(T, 0, 2)", lambda t: np.moveaxis(t, 0, 2)),
    ("moveaxis(T, -1, 0)", lambda t: np.moveaxis(t, -1, 0)),
    ("moveaxis(T, 1, 1)", lambda t: t),
])
def test_swapaxes_and_moveaxis_of_three_dimensions_are_numpys(form: str, expected: Any) -> None:
    t = np.arange(24.0).reshape(2, 3, 4)
    compiled = lang.compile_expression(lang.parse(form), numpy_ops.OPS, {"T": t.shape},
                                       scalar=False)
    np.testing.assert_array_equal(compiled({"T": t}), expected(t))
def _statuses(result: diffcmp.Result, derivative: str) -> dict[str, str]:
    rows = result.agreement[(result.agreement["derivative"] == derivative)
                            & (result.agreement["point"] == 0)]
    return dict(zip(rows["engine"], rows["status"], strict=True))


def test_a_norm_of_gathered_elements_at_zero_is_a_kink_and_smooth_elsewhere() -> None:
    """``sqrt(sum(w[idx]**2))`` is a norm: at ``w = 0`` the cone's tip (graded ``kink``, never
    ``mismatch``: a gather of squares is no negative), elsewhere ``w_j * count_j / norm``."""
    loss, data = "sqrt(sum(w[idx] ** 2))", {"idx": [0, 2, 2]}
    engines = ["matcalc", "torch", "jax", "fd-central"]
    tip = diffcmp.compare(loss, {"w": [0.0, 0.0, 0.0]}, data, timing=False, engines=engines)
    assert "kink" in set(_statuses(tip, "gradient").values())
    assert "mismatch" not in set(_statuses(tip, "gradient").values())
    w = np.array([0.3, -0.7, 1.1])
    away = diffcmp.compare(loss, {"w": w}, data, timing=False, engines=engines)
    assert set(_statuses(away, "gradient").values()) == {"ok"}
    counts = np.array([1.0, 0.0, 2.0])
    np.testing.assert_allclose(_gradient(away, "jax"), w * counts / np.sqrt(np.sum(counts * w**2)),
                               rtol=1e-14)
