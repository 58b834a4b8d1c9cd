"""The language researchers write: reductions along an axis, softmax and log_softmax, slicing,
reshape and typo suggestions; parsed and compiled (shapes, the raw arguments backends receive,
errors with columns, size accounting), then end to end through ``diffcmp.compare`` against
gradients derived by hand."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import pytest

import diffcmp
from diffcmp import lang
from diffcmp.ops import numpy as numpy_ops
from diffcmp.ops.sympy_functions import LogSumExp
from diffcmp.symbolic.problem import lower

SHAPES = {"A": (2, 3), "X": (3, 2), "w": (5,), "v": (6,), "s": ()}


def shape(source: str) -> tuple[int, ...]:
    return lang.result_shape(lang.parse(source), SHAPES)


@pytest.mark.parametrize(("source", "expected"), [
    ("sum(A, axis=0)", (3,)), ("sum(A, axis=1)", (2,)), ("sum(A, axis=-1)", (2,)),
    ("sum(A, axis=-2)", (3,)), ("sum(A, axis=None)", ()), ("sum(A)", ()),
    ("mean(A, axis=0)", (3,)), ("prod(A, axis=1)", (2,)), ("norm(A, axis=0)", (3,)),
    ("logsumexp(A, axis=1)", (2,)), ("max(A, axis=0)", (3,)), ("min(A, axis=-1)", (2,)),
    ("sum(w, axis=0)", ()), ("max(A, X.T)", (2, 3)),
    ("softmax(A)", (2, 3)), ("softmax(A, axis=0)", (2, 3)), ("log_softmax(w)", (5,)),
    ("w[1:3]", (2,)), ("w[::2]", (3,)), ("w[1::2]", (2,)), ("w[-2:]", (2,)), ("w[:-1]", (4,)),
    ("X[:, 0]", (3,)), ("X[1:, :1]", (2, 1)), ("X[-1]", (2,)), ("X[0:3:2, 1]", (2,)),
    ("X[1:][0, :]", (2,)),
    ("reshape(v, (2, 3))", (2, 3)), ("reshape(v, (-1, 2))", (3, 2)), ("reshape(A, -1)", (6,)),
    ("reshape(A, 6)", (6,)), ("reshape(A, (6,))", (6,)), ("reshape(A.T, (1, -1))", (1, 6)),
])
def test_shapes_of_the_new_constructs(source: str, expected: tuple[int, ...]) -> None:
    assert shape(source) == expected


class _Recording(dict[str, Callable[..., Any]]):
    """NumPy's op table, recording every call's op name and arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __missing__(self, name: str) -> Callable[..., Any]:
        function = numpy_ops.OPS[name]

        def record(*args: Any) -> Any:
            self.calls.append((name, args))
            return function(*args)
        return record


def raw_arguments(source: str, op: str) -> list[Any]:
    """The last argument of every call of ``op`` when ``source`` runs on the NumPy table."""
    ops = _Recording()
    values = {name: np.arange(1.0, 1.0 + np.prod(s)).reshape(s) for name, s in SHAPES.items()}
    lang.compile_expression(lang.parse(source), ops, SHAPES)(values)
    return [args[-1] for name, args in ops.calls if name == op]


def test_backends_receive_normalised_axes_keys_and_shapes() -> None:
    assert raw_arguments("sum(sum(A, axis=-1))", "sum") == [1, None]
    assert raw_arguments("sum(max(A, axis=-2)) + max(s, 1)", "amax") == [0]
    assert raw_arguments("sum(softmax(A))", "softmax") == [1]
    assert raw_arguments("sum(log_softmax(A, axis=-2))", "log_softmax") == [0]
    assert raw_arguments("X[-1, 1:] @ w[:-4]", "index") == [(2, slice(1, 2, 1)),
                                                            slice(0, 1, 1)]
    assert raw_arguments("w[-1] + X[0, -1]", "index") == [4, (0, 1)]
    assert raw_arguments("sum(reshape(v, (-1, 2)))", "reshape") == [(3, 2)]
    assert raw_arguments("sum(reshape(A, -1))", "reshape") == [(6,)]


def test_slices_and_reshape_read_the_elements_numpy_reads() -> None:
    values = {name: np.arange(1.0, 1.0 + np.prod(s)).reshape(s) for name, s in SHAPES.items()}
    for source, expected in [
            ("sum(X[1:, :1])", np.sum(values["X"][1:, :1])),
            ("X[:, 0] @ X[:, -1]", values["X"][:, 0] @ values["X"][:, -1]),
            ("sum(w[1::2] * w[:-3])", np.sum(values["w"][1::2] * values["w"][:-3])),
            ("sum(reshape(A.T, (2, 3)) * A)", np.sum(values["A"].T.reshape(2, 3) * values["A"])),
            ("sum(sum(A, axis=0) * X[:, 1])", values["A"].sum(0) @ values["X"][:, 1])]:
        compiled = lang.compile_expression(lang.parse(source), numpy_ops.OPS, SHAPES)
        assert compiled(values) == expected, source


#: Mistakes and the whole message each gives (the column is the offending part's).
ERRORS = {
    "tahn(w)": "unknown function 'tahn'; did you mean 'tanh'?",
    "sum(logsoftmax(w))": "(column 5): unknown function 'logsoftmax'; did you mean "
                          "'log_softmax'?",
    "sum(sigmiod(w))": "(column 5): unknown function 'sigmiod'; did you mean 'sigmoid'?",
    "sum(ww)": "(column 5): unknown name 'ww' (not a param, data or constant); did you mean 'w'?",
    "sum(q)": "(column 5): unknown name 'q' (not a param, data or constant)",
    "sum(A, axs=1)": "(column 8): sum() takes no keyword argument 'axs' (only axis); did you "
                     "mean 'axis'?",
    "sum(A, keepdims=1)": "(column 17): sum()'s keepdims must be True or False",
    "sum(exp(A, axis=1))": "(column 12): exp() takes no keyword arguments",
    "sum(A, 1)": "(column 1): sum() takes 1 argument, got 2 (an axis is given by name: "
                 "sum(a, axis=1))",
    "sum(max(A, X.T, axis=0))": "(column 17): max() of 2 arguments is elementwise and takes no "
                                "axis (the reduction is max(a, axis=...))",
    "sum(A, axis=0, axis=1)": "(column 16): sum() is given axis= twice",
    "sum(A, axis=2)": "(column 13): axis 2 is out of range for shape (2, 3) (axes -2 to 1)",
    "sum(A, axis=-3)": "(column 13): axis -3 is out of range for shape (2, 3) (axes -2 to 1)",
    "sum(s, axis=0)": "(column 13): sum() of a scalar takes no axis",
    "sum(A, axis=s)": "(column 13): an axis must be an integer literal or None, like axis=1",
    "sum(A, axis=1.0)": "(column 13): an axis must be an integer literal or None, like axis=1",
    "sum(softmax(A, axis=None))": "(column 21): softmax()'s axis must be an integer literal, "
                                  "like axis=-1 (the default)",
    "sum(softmax(s))": "(column 5): softmax() takes a vector or matrix, not a scalar",
    "sum(w[1:6])": "(column 9): slice bound 6 is out of range for axis 0 of shape (5) (bounds "
                   "lie in -5 to 5)",
    "sum(X[:, -3:])": "(column 10): slice bound -3 is out of range for axis 1 of shape (3, 2) "
                      "(bounds lie in -2 to 2)",
    "sum(w[3:1])": "(column 7): the slice 3:1 of axis 0 of shape (5) is empty",
    "sum(w[::0])": "(column 9): a slice's step must not be zero",
    "sum(w[:s])": "(column 8): slice bounds must be integer literals, like w[1:3] or X[:, 0]",
    "X[1, 2]": "(column 6): index 2 is out of range for axis 1 of shape (3, 2) (indices lie "
               "in -2 to 1)",
    "sum(X[:, :, 0])": "(column 5): 3 indices for a value of shape (3, 2)",
    "sum(reshape(v, (4, -1)))": "(column 16): cannot reshape shape (6) (6 elements) into "
                                "(4, -1): 6 is not a multiple of 4",
    "sum(reshape(v, (4, 2)))": "(column 16): cannot reshape shape (6) (6 elements) into (4, 2) "
                               "(8 elements)",
    "sum(reshape(v, (-1, -1)))": "(column 16): reshape() takes -1 for at most one size",
    "sum(reshape(v, (0, 6)))": "(column 17): reshape()'s sizes must be positive, or -1 (once) "
                               "for the size that fits, not 0",
    "sum(reshape(v, (1, w, 3)))": "(column 16): reshape()'s shape must be 1 to 32 integer "
                                  "literals, like reshape(a, (2, 3)), reshape(a, (2, 3, 4)) "
                                  "or reshape(a, 6)",
    "sum(reshape(v, 2, 3))": "(column 5): reshape() takes 2 arguments, got 3 (the shape is one "
                             "tuple: reshape(a, (2, 3)))",
    "sum(reshape(s, 1))": "(column 16): reshape() takes a vector or matrix, not a scalar (index "
                          "it, or use it as it is)",
    "sum(A, axis=1)": ": must reduce to a scalar, but has shape (2); wrap it in sum() or mean()",
}


@pytest.mark.parametrize("source", sorted(ERRORS))
def test_mistakes_are_named_with_their_column(source: str) -> None:
    with pytest.raises(diffcmp.ExpressionError) as caught:
        lang.analyze(lang.parse(source), SHAPES)
    message = str(caught.value)
    expected = ERRORS[source]
    prefix = {"(": "loss ", ":": "loss"}.get(expected[0], "loss (column 1): ")
    assert message == prefix + expected


def test_scalar_operations_count_lines_along_the_axis() -> None:
    def ops(source: str) -> int:
        return lang.analyze(lang.parse(source), {"A": (4, 5)}).scalar_ops

    assert ops("sum(A)") == ops("sum(A, axis=None)") == 20
    assert ops("sum(sum(A, axis=1))") == 20 + 4  # one per element read, then 4
    assert ops("sum(mean(A, axis=0))") == 20 + 5
    assert ops("sum(prod(A, axis=1))") == 20 * 5 + 4  # n**2 per line of n = 5
    assert ops("sum(max(A, axis=0))") == 20 * 4 + 5  # lines of 4
    assert ops("prod(A)") == 20 * 20  # one line of every element, as before
    assert ops("sum(softmax(A))") == 20 * 5 + 20
    assert ops("sum(log_softmax(A, axis=0))") == 20 * 4 + 20
    assert ops("sum(A[1:, :2])") == 6  # slicing and reshape count nothing
    assert ops("sum(reshape(A, (2, -1)).T)") == 20


def test_softmax_lowers_to_sympy_through_the_stable_logsumexp() -> None:
    problem = lower(diffcmp.Case(name="c", loss="sum(c * softmax(z)) + sum(log_softmax(z))",
                                 params={"z": [1000.0, 1001.0]}, data={"c": [1.0, 2.0]}))
    assert problem.loss.atoms(LogSumExp)
    # the SymPy gradient, evaluated in float64 at logits near 1000, stays finite
    assert np.isfinite(diffcmp.compare("sum(c * softmax(z))", {"z": [1000.0, 1001.0]},
                                       {"c": [1.0, 2.0]}, engines=["sympy"], timing=False)
                       .gradients["value"]).all()


# --- end to end: every engine against gradients derived by hand ------------------------------

def components(name: str, values: Any) -> dict[str, float]:
    """``{"A[0,1]": value, ...}``: a param's gradient as diffcmp names its components."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        return {f"{name}[{i}]": float(v) for i, v in enumerate(array)}
    return {f"{name}[{i},{j}]": float(array[i, j]) for i, j in np.ndindex(*array.shape)}


def check(result: diffcmp.Result, loss: float, gradient: Mapping[str, float],
          unsupported: tuple[str, ...] = (), fd_central: float = 1e-6) -> None:
    """Every engine ``ok`` (those of ``unsupported`` unsupported), the reference equal to the
    hand-derived loss and gradient, every other engine within its tolerance of them (central
    differences within ``fd_central``)."""
    statuses = dict(zip(result.agreement["engine"], result.agreement["status"], strict=True))
    assert statuses == {e: "unsupported" if e in unsupported else "ok" for e in statuses}
    reference = result.agreement.set_index("engine").loc["reference", "loss"]
    assert reference == pytest.approx(loss, rel=1e-14, abs=1e-14)
    for engine, rows in result.gradients.groupby("engine"):
        seen = dict(zip(rows["component"], rows["value"], strict=True))
        assert set(seen) == set(gradient)
        tolerance = {"reference": 1e-14, "fd-central": fd_central}.get(engine, 1e-9)
        for component, value in gradient.items():
            assert seen[component] == pytest.approx(value, rel=tolerance, abs=tolerance), \
                (engine, component)


A = np.array([[1.0, 2.0, -1.0], [0.5, -3.0, 2.0]])


def test_sum_along_an_axis_end_to_end() -> None:
    result = diffcmp.compare("sum(sum(A, axis=0)**2)", {"A": A.tolist()}, timing=False)
    # L = sum_j c_j**2 with column sums c = (1.5, -1, 1): L = 4.25, dL/dA_ij = 2 c_j
    check(result, 4.25, components("A", [[3.0, -2.0, 2.0], [3.0, -2.0, 2.0]]))


def test_every_reduction_along_an_axis_end_to_end() -> None:
    loss = ("mean(A, axis=1) @ prod(A, axis=-1) + sum(norm(A, axis=0)) "
            "+ sum(logsumexp(A, axis=0))")
    result = diffcmp.compare(loss, {"A": A.tolist()}, timing=False)
    m, p = A.mean(axis=1), A.prod(axis=1)                     # rows
    n = np.sqrt((A**2).sum(axis=0))                            # columns
    lse = np.log(np.exp(A).sum(axis=0))
    value = m @ p + n.sum() + lse.sum()
    # d(m_i p_i)/dA_ij = p_i / 3 + m_i p_i / A_ij; d n_j = A_ij / n_j; d lse_j = softmax_i
    grad = p[:, None] / 3 + (m * p)[:, None] / A + A / n + np.exp(A - lse)
    check(result, value, components("A", grad))
    extremes = diffcmp.compare("sum(max(A, axis=1)) - sum(min(A, axis=0))", {"A": A.tolist()},
                               timing=False)
    # row maxima 2 at (0, 1) and (1, 2); column minima at (1, 0), (1, 1), (0, 2)
    check(extremes, 4.0 - (0.5 - 3.0 - 1.0),
          components("A", [[0.0, 1.0, -1.0], [-1.0, -1.0, 1.0]]), unsupported=("fd-complex",))


def test_softmax_and_log_softmax_near_1000_end_to_end() -> None:
    z = [1000.0, 1001.0, 999.5]
    zm = [[1000.0, -1000.5, 3.0], [1001.0, -999.0, 2.5]]
    c, y = [1.0, -2.0, 0.5], [[1.0, 0.0, 0.5], [0.0, 1.0, 2.0]]
    # central differences step cbrt(eps) * 1000 ~ 6e-3 at logits near 1000: their truncation
    # error is about 1e-6, so they get the tolerance num_logsumexp_stable gives them
    result = diffcmp.compare("sum(softmax(z) * c) + sum(Y * log_softmax(Z, axis=0))",
                             {"z": z, "Z": zm}, {"c": c, "Y": y}, timing=False,
                             tolerance={"fd-central": 1e-5})
    with mpmath.workdps(40):  # by hand: softmax shifted by hand, at 40 digits
        s = [mpmath.exp(v - 1001) for v in z]
        s = [v / mpmath.fsum(s) for v in s]
        sc = mpmath.fdot(s, c)
        lse = [mpmath.log(mpmath.exp(zm[0][j]) + mpmath.exp(zm[1][j])) for j in range(3)]
        value = sc + mpmath.fsum(y[i][j] * (zm[i][j] - lse[j])
                                 for i in range(2) for j in range(3))
        # d/dz_k sum(s * c) = s_k (c_k - s.c); d/dZ_ij = Y_ij - (Y_0j + Y_1j) softmax_ij
        grad_z = [float(s[k] * (c[k] - sc)) for k in range(3)]
        grad_zm = [[float(y[i][j] - (y[0][j] + y[1][j]) * mpmath.exp(zm[i][j] - lse[j]))
                    for j in range(3)] for i in range(2)]
    check(result, float(value), {**components("z", grad_z), **components("Z", grad_zm)},
          fd_central=1e-5)


def test_slicing_end_to_end() -> None:
    w = [0.5, -1.0, 2.0, 3.0, -0.25]
    x = [[1.0, 2.0], [-0.5, 4.0], [3.0, -1.5]]
    result = diffcmp.compare("sum(w[1:3]**2) + 3*sum(w[::2]) + X[1:, 0] @ X[:2, -1]",
                             {"w": w, "X": x}, timing=False)
    # w1**2 + w2**2 + 3 (w0 + w2 + w4) + X10 X01 + X20 X11
    value = 1.0 + 4.0 + 3 * (0.5 + 2.0 - 0.25) + (-0.5 * 2.0) + 3.0 * 4.0
    grad_w = [3.0, -2.0, 4.0 + 3.0, 0.0, 3.0]
    grad_x = [[0.0, -0.5], [2.0, 3.0], [4.0, 0.0]]
    check(result, value, {**components("w", grad_w), **components("X", grad_x)})


def test_reshape_end_to_end() -> None:
    v, u = [1.0, -2.0, 0.5, 3.0, 1.5, -1.0], [2.0, -1.0, 0.5]
    vm = [[1.5, -2.0], [0.5, 3.0]]
    result = diffcmp.compare("sum((reshape(v, (2, -1)) @ u)**2) + reshape(V, 4) @ "
                             "reshape(V.T, -1)", {"v": v, "V": vm}, {"u": u}, timing=False)
    r = np.reshape(v, (2, 3)) @ u                       # (4.25, 5.5)
    # d/dW sum((W u)**2) = 2 r u^T, flattened; V00**2 + 2 V01 V10 + V11**2
    grad_v = (2 * np.outer(r, u)).ravel()
    value = float(r @ r) + 1.5**2 + 2 * (-2.0 * 0.5) + 3.0**2
    check(result, value, {**components("v", grad_v),
                          **components("V", [[3.0, 1.0], [-4.0, 6.0]])})


# --- the built-in case, derived independently ------------------------------------------------

CASE = Path(__file__).resolve().parent.parent / "cases" / "ml_softmax_cross_entropy_batched.toml"


def test_the_batched_cross_entropy_case_expects_what_mpmath_derives_by_hand() -> None:
    """The case's ``[expect]`` values, derived again here at 60 digits without any diffcmp op:
    L = -(1/N) sum_i log p_i[y_i] + lam |W|^2, dL/dW = X^T (P - Y) / N + 2 lam W,
    dL/db = column means of P - Y, with P the rows' softmax. Its logits are near 1000, where
    exp overflows float64."""
    case = diffcmp.load_case(CASE)
    x, y, lam = case.data["X"], case.data["Y"], case.data["lam"]
    w, b = case.params["W"], case.params["b"]
    n, k = y.shape
    with mpmath.workdps(60):
        z = [[mpmath.fdot(x[i], w[:, j]) + b[j] for j in range(k)] for i in range(n)]
        lse = [mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row)) for row in z]
        p = [[mpmath.exp(z[i][j] - lse[i]) for j in range(k)] for i in range(n)]
        loss = (-mpmath.fsum(y[i, j] * (z[i][j] - lse[i]) for i in range(n) for j in range(k))
                / n + lam * mpmath.fsum(v**2 for v in w.ravel()))
        grad_w = [[float(mpmath.fsum(x[i, r] * (p[i][j] - y[i, j]) for i in range(n)) / n
                         + 2 * lam * w[r, j]) for j in range(k)] for r in range(w.shape[0])]
        grad_b = [float(mpmath.fsum(p[i][j] - y[i, j] for i in range(n)) / n) for j in range(k)]
        assert min(max(row) for row in z) > 1000  # exp overflows float64 past 709.78
    assert float(loss) == case.expect["loss"]
    np.testing.assert_array_equal(case.expect["grad"]["W"], grad_w)
    np.testing.assert_array_equal(case.expect["grad"]["b"], grad_b)
    with np.errstate(over="ignore"):
        assert np.isinf(np.log(np.exp(x @ w + b).sum(axis=1))).all()  # the naive form
    assert "ml" in case.tags
