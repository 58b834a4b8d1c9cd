"""Reductions and scans of issue 19: ``keepdims=True`` and tuples of axes on every reduction,
``var`` and ``std``, ``cumsum``, ``cumprod`` and ``sort``: each form's value against NumPy, each
vector-Jacobian rule against high-precision difference quotients (``cumprod`` at zeros too),
second order through them against Hessians written out by hand, ties of ``sort`` graded as
kinks, the printed formulas, and errors that name the problem."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.special
from quotients import check_quotients, weighted

import diffcmp
from diffcmp import lang
from diffcmp.api import run_cases
from diffcmp.errors import ExpressionError
from diffcmp.matcalc import graph as g
from diffcmp.matcalc.derive import derive, hvp
from diffcmp.matcalc.evaluate import Program
from diffcmp.matcalc.printer import formula
from diffcmp.matcalc.table import GRAPH_OPS
from diffcmp.ops import mpmath as mpmath_ops
from diffcmp.ops import numpy as numpy_ops
from diffcmp.run.options import Options

RNG = np.random.default_rng(1919)
VALUES = {"A": RNG.normal(size=(2, 3)), "v": RNG.normal(size=3),
          "Z": np.array([[1.2, 0.0, -0.7], [0.0, 0.0, 1.5]]),
          "u": np.array([0.8, -1.1, 0.0, 1.3, 0.0, 0.6])}
SHAPES = {k: v.shape for k, v in VALUES.items()}
PARAMS = list(VALUES)

#: Each form, and NumPy computing it (the language must mean what NumPy means).
FORMS: dict[str, Any] = {
    "A - mean(A, axis=1, keepdims=True)": lambda a, v, z, u: a - a.mean(axis=1, keepdims=True),
    "A / sum(A, axis=0, keepdims=True)": lambda a, v, z, u: a / a.sum(axis=0, keepdims=True),
    "prod(A, axis=1, keepdims=True) * A": lambda a, v, z, u: a.prod(axis=1, keepdims=True) * a,
    "norm(A, keepdims=True) * A": lambda a, v, z, u: np.sqrt(np.sum(a**2)) * a,
    "logsumexp(A, axis=-1, keepdims=True) - A": lambda a, v, z, u: scipy.special.logsumexp(
        a, axis=-1, keepdims=True) - a,
    "max(A, axis=0, keepdims=True) - A": lambda a, v, z, u: a.max(axis=0, keepdims=True) - a,
    "min(A, axis=(0, 1), keepdims=True) * A": lambda a, v, z, u: a.min(axis=(0, 1),
                                                                       keepdims=True) * a,
    "sum(A, axis=(1, 0)) * v": lambda a, v, z, u: a.sum(axis=(1, 0)) * v,
    "mean(v, keepdims=True) * v": lambda a, v, z, u: v.mean(keepdims=True) * v,
    "var(A) * v": lambda a, v, z, u: np.var(a) * v,
    "var(A, axis=1)": lambda a, v, z, u: np.var(a, axis=1),
    "var(A, 0, ddof=1, keepdims=True) * A": lambda a, v, z, u: np.var(a, 0, ddof=1,
                                                                       keepdims=True) * a,
    "std(v, ddof=1) * v": lambda a, v, z, u: np.std(v, ddof=1) * v,
    "std(A, axis=1, keepdims=True) * A": lambda a, v, z, u: np.std(a, axis=1, keepdims=True) * a,
    "std(A, axis=(0, 1), ddof=2)": lambda a, v, z, u: np.std(a, axis=(0, 1), ddof=2),
    "cumsum(A)": lambda a, v, z, u: np.cumsum(a),
    "cumsum(A, axis=1)": lambda a, v, z, u: np.cumsum(a, axis=1),
    "cumsum(A, 0)": lambda a, v, z, u: np.cumsum(a, 0),
    "cumsum(v)": lambda a, v, z, u: np.cumsum(v),
    "cumprod(A, axis=1)": lambda a, v, z, u: np.cumprod(a, axis=1),
    "cumprod(A, axis=0)": lambda a, v, z, u: np.cumprod(a, axis=0),
    "cumprod(A)": lambda a, v, z, u: np.cumprod(a),
    "cumprod(Z, axis=1)": lambda a, v, z, u: np.cumprod(z, axis=1),
    "cumprod(Z, axis=-2)": lambda a, v, z, u: np.cumprod(z, axis=-2),
    "cumprod(u)": lambda a, v, z, u: np.cumprod(u),
    "cumprod(u[:1])": lambda a, v, z, u: np.cumprod(u[:1]),
    "sort(A)": lambda a, v, z, u: np.sort(a),
    "sort(A, axis=0)": lambda a, v, z, u: np.sort(a, axis=0),
    "sort(A, axis=None)": lambda a, v, z, u: np.sort(a, axis=None),
    "sort(v)": lambda a, v, z, u: np.sort(v),
    "sort(v * A, -1)[:, 1:]": lambda a, v, z, u: np.sort(v * a, -1)[:, 1:],
}


def _loss(form: str) -> tuple[str, np.ndarray]:
    return weighted(form, SHAPES)


@pytest.mark.parametrize("form", list(FORMS))
def test_each_form_computes_what_numpy_computes(form: str) -> None:
    loss, weights = _loss(form)
    env = {**VALUES, "D": weights}
    compiled = lang.compile_expression(lang.parse(loss), numpy_ops.OPS,
                                       {k: np.shape(v) for k, v in env.items()})
    expected = np.sum(np.sin(FORMS[form](*VALUES.values())) * weights)
    assert float(compiled(env)) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("form", list(FORMS))
def test_each_rule_agrees_with_high_precision_difference_quotients(form: str) -> None:
    """The gradient of the array graph, at 60 digits, against central differences of the loss
    (``cumprod`` of ``Z`` and ``u`` at elements that are 0: no rule may divide by them)."""
    loss, weights = _loss(form)
    values = {**VALUES, "D": weights}
    shapes = {k: np.shape(v) for k, v in values.items()}
    leaves = {n: g.var(n, s, "data" if n == "D" else "param") for n, s in shapes.items()}
    root = lang.compile_expression(lang.parse(loss), GRAPH_OPS, shapes)(leaves)
    check_quotients(root, leaves, values, PARAMS)


def _hessian(loss: str, shapes: dict[str, tuple[int, ...]], values: dict[str, Any],
             param: str) -> np.ndarray:
    """The Hessian of the array graph in ``param`` (reverse over reverse), column by column."""
    leaves = {n: g.var(n, s, "param" if n == param else "data") for n, s in shapes.items()}
    root = lang.compile_expression(lang.parse(loss), GRAPH_OPS, shapes)(leaves)
    tangent = g.var("t", shapes[param], "data")
    second = hvp(derive(root, [leaves[param]]), [tangent])
    run = Program(second.outputs).compile(numpy_ops.OPS)
    n = shapes[param][0]
    return np.array([run({**values, "t": np.eye(n)[k]})[1] for k in range(n)]).T


def test_second_order_through_cumprod_at_zeros_is_the_hessian_written_out() -> None:
    """``sum(c * cumprod(u))`` is ``sum_j c_j prod_{m <= j} u_m``: its Hessian is
    ``H_ik = sum_{j >= max(i, k)} c_j prod_{m <= j, m != i, k} u_m`` (0 on the diagonal), which
    is not 0 where a single factor is: the rule's own derivative must keep every zero a
    variable (an earlier masked form lost ``H[1, 2]`` at a first zero)."""
    u = np.array([1.5, 0.0, 2.0, -0.5, 0.0])
    c = np.array([0.3, -0.9, 1.6, 2.3, 1.9])
    found = _hessian("sum(c * cumprod(u))", {"u": (5,), "c": (5,)}, {"u": u, "c": c}, "u")
    expected = np.zeros((5, 5))
    for i in range(5):
        for k in range(5):
            if i != k:
                expected[i, k] = sum(c[j] * np.prod([u[m] for m in range(j + 1)
                                                     if m not in (i, k)])
                                     for j in range(max(i, k), 5))
    assert expected[1, 2] == pytest.approx(0.675)  # 1.6 * 1.5 + 2.3 * 1.5 * -0.5
    np.testing.assert_allclose(found, expected, rtol=1e-14, atol=1e-15)


def test_second_order_through_sort_follows_the_permutation() -> None:
    """``sum(c * sort(w)**3)``: the j-th smallest element's second derivative is
    ``6 c_j w_(j)``, on the diagonal at that element's own place."""
    w = np.array([0.4, -1.3, 0.9, 0.1])
    c = np.array([1.0, -2.0, 0.5, 3.0])
    found = _hessian("sum(c * sort(w)**3)", {"w": (4,), "c": (4,)}, {"w": w, "c": c}, "w")
    expected = np.zeros((4, 4))
    for rank, place in enumerate(np.argsort(w)):  # -1.3, 0.1, 0.4, 0.9
        expected[place, place] = 6 * c[rank] * w[place]
    np.testing.assert_allclose(found, expected, rtol=1e-14)


def test_the_ranking_case_is_least_trimmed_squares_by_hand() -> None:
    """``cases/ranking_sort.toml``'s expectations, from exact fractions of the float64 data: the
    3 smallest squared residuals (rows 2, 4, 1) and their sum's derivatives."""
    x = [[-1.5, -2.0], [-0.5, 1.5], [1.0, 0.5], [3.0, 0.25], [2.0, -1.0]]
    y = [-6.0, 2.1, 1.2, 4.4, 0.3]
    w = [0.9, 1.1]
    r = [sum(Fraction(a) * Fraction(b) for a, b in zip(row, w, strict=True)) - Fraction(t)
         for row, t in zip(x, y, strict=True)]
    kept = sorted(range(5), key=lambda i: r[i] ** 2)[:3]
    assert kept == [2, 4, 1]
    case = diffcmp.load_case(Path(__file__).resolve().parent.parent / "cases" /
                             "ranking_sort.toml")
    assert case.expect["loss"] == pytest.approx(float(sum(r[i] ** 2 for i in kept)), rel=1e-15)
    gradient = [float(sum(2 * r[i] * Fraction(x[i][j]) for i in kept)) for j in range(2)]
    assert list(case.expect["grad"]["w"]) == pytest.approx(gradient, rel=1e-15)
    assert gradient == pytest.approx([3.0, -3.25], rel=1e-15)


@pytest.mark.slow
def test_ranking_and_layer_norm_cases_pass_every_engine_at_second_order() -> None:
    root = Path(__file__).resolve().parent.parent / "cases"
    cases = [diffcmp.load_case(root / name) for name in ("ranking_sort.toml",
                                                         "ml_layer_norm.toml")]
    result = run_cases(cases, Options(order=2, timing=False))
    assert result.ok


def test_a_tie_in_sort_is_a_kink_never_a_mismatch() -> None:
    """Two equal elements of ``w`` change places under any step: the one-sided derivatives of
    ``sum(sort(w)[:2] * c)`` differ, and every engine is graded against them."""
    result = diffcmp.compare("sum(sort(w)[:2] * c) + sum(w**2) / 4",
                             {"w": np.array([1.5, 0.2, 1.5, 0.2])}, {"c": np.array([1.0, 2.0])},
                             timing=False)
    statuses = dict(zip(result.agreement["engine"], result.agreement["status"], strict=True))
    assert "mismatch" not in statuses.values()
    assert statuses["matcalc"] == statuses["torch"] == statuses["jax"] == "kink"
    assert "has tied elements" in " ".join(result.agreement["message"].astype(str))


def test_keepdims_prints_as_numpy_writes_it() -> None:
    x = g.var("x", (2, 3))
    root = lang.compile_expression(lang.parse("sum((x - mean(x, axis=1, keepdims=True))**2)"),
                                   GRAPH_OPS, {"x": (2, 3)})({"x": x})
    assert formula(root) == "sum((x - mean(x, axis=1, keepdims=True))**2)"
    y = g.var("y", (3, 2))
    var = lang.compile_expression(lang.parse("var(y, axis=0, ddof=1)"), GRAPH_OPS,
                                  {"y": (3, 2)}, scalar=False)({"y": y})
    assert formula(var) == "sum((y - mean(y, axis=0, keepdims=True))**2, axis=0) / 2"


@pytest.mark.parametrize(("loss", "message"), [
    ("var(v, ddof=3)", r"var\(\)'s ddof=3 must be less than the 3 elements it reduces"),
    ("sum(std(A, axis=0, ddof=2))", r"ddof=2 must be less than the 2 elements"),
    ("var(v, ddof=w)", r"var\(\)'s ddof must be an integer literal"),
    ("var(v, 0, 1)", r"var\(\) takes at most 2 positional arguments \(a, axis\), got 3; ddof,"),
    ("var(v, ddf=1)", r"no keyword argument 'ddf'.*did you mean 'ddof'"),
    ("sum(mean(A, axis=1, keepdims=1))", r"mean\(\)'s keepdims must be True or False"),
    ("sum(sum(A, axis=(1, -1)))", r"sum\(\)'s axis \(1, -1\) names an axis twice"),
    ("sum(sum(A, axis=(0, 2)))", r"axis 2 is out of range for shape \(2, 3\)"),
    ("sum(sum(A, axis=(0, w)))", r"axis must be an integer literal, a tuple of them or None"),
    ("sum(cumsum(v, axis=1))", r"axis 1 is out of range for shape \(3\)"),
    ("sum(cumprod(v, axis=w))", r"cumprod\(\)'s axis must be an integer literal or None"),
    ("sum(sort(v[0]))", r"sort\(\) of a scalar"),
    ("sum(sort(v, kind=1))", r"sort\(\) takes no keyword argument 'kind'"),
    ("sum(sort())", r"sort\(\) is missing its argument 'a'"),
    ("sort(v, axis=0)", r"must reduce to a scalar, but has shape \(3\)"),
])
def test_bad_arguments_are_errors_that_name_the_problem(loss: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        lang.analyze(lang.parse(loss), {**SHAPES, "w": (3,)})


def test_scalars_and_flattening_follow_numpy() -> None:
    """``cumsum`` of a scalar is a vector of one, ``sort(A, axis=None)`` and ``cumprod(A)`` are
    flattened, and a full reduction with ``keepdims=True`` has every axis of size 1."""
    shapes = {"A": (2, 3), "s": ()}
    for source, shape in (("cumsum(s)", (1,)), ("sort(A, axis=None)", (6,)),
                          ("cumprod(A)", (6,)), ("sum(A, keepdims=True)", (1, 1)),
                          ("var(A, axis=(0, 1), keepdims=True)", (1, 1)),
                          ("std(A, axis=1, keepdims=True)", (2, 1)), ("max(s, keepdims=True)", ())):
        assert lang.result_shape(lang.parse(source), shapes) == shape, source


def _backends() -> dict[str, tuple[Any, Any, Any]]:
    """Each backend's ops, how it takes a float array and how its result becomes floats."""
    import jax.numpy as jnp
    import sympy as sp
    import torch

    from diffcmp.ops import arb as arb_ops
    from diffcmp.ops import jax as jax_ops
    from diffcmp.ops import sympy as sympy_ops
    from diffcmp.ops import torch as torch_ops

    objects = np.frompyfunc(float, 1, 1)
    return {
        "numpy": (numpy_ops.OPS, np.asarray, np.asarray),
        "torch": (torch_ops.OPS, lambda v: torch.tensor(v, dtype=torch.float64),
                  lambda v: v.numpy()),
        "jax": (jax_ops.OPS, jnp.asarray, np.asarray),
        "mpmath": (mpmath_ops.OPS, mpmath_ops.array, lambda v: objects(v).astype(float)),
        "arb": (arb_ops.OPS, arb_ops.array, lambda v: objects(v).astype(float)),
        "sympy": (sympy_ops.OPS, np.frompyfunc(lambda x: sp.Float(x, 30), 1, 1),
                  lambda v: objects(v).astype(float)),
    }


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "mpmath", "arb", "sympy"])
def test_every_backend_scans_and_sorts_along_every_axis_as_numpy(backend: str) -> None:
    """``cumsum``, ``cumprod``, ``sort`` and sort's permutations along each axis of a matrix
    and of a vector, against NumPy; ``sort_scatter`` undoes ``sort_gather``."""
    import jax

    ops, array, floats = _backends()[backend]
    with jax.enable_x64(True):
        _scan_every_axis(ops, array, floats)


def _scan_every_axis(ops: Any, array: Any, floats: Any) -> None:
    matrix = np.array([[0.5, -1.0, 0.3], [2.0, 0.0, -0.7]])
    weights = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    for value, axes in ((matrix, (0, 1)), (matrix[1], (0,))):
        x = weights[: len(value)] if value.ndim == 2 else weights[0]
        for axis in axes:
            for name, expected in (("cumsum", np.cumsum(value, axis)),
                                   ("cumprod", np.cumprod(value, axis)),
                                   ("sort", np.sort(value, axis))):
                found = floats(ops[name](array(value), axis))
                np.testing.assert_allclose(found, expected, rtol=1e-15, err_msg=name)
            order = np.argsort(value, axis, kind="stable")
            gathered = ops["sort_gather"](array(x), array(value), axis)
            np.testing.assert_array_equal(floats(gathered), np.take_along_axis(x, order, axis))
            back = ops["sort_scatter"](gathered, array(value), axis)
            np.testing.assert_array_equal(floats(back), x)


def test_the_reference_sorts_only_where_its_balls_decide_the_order() -> None:
    """Balls that overlap cannot be put in order at this precision: the reference raises its
    precision (``UndecidedError``), as for comparisons; equal exact balls keep their order."""
    from flint import arb

    from diffcmp.errors import UndecidedError
    from diffcmp.ops import arb as arb_ops

    close = np.array([arb(1, 1e-10), arb("1.000000000001"), arb(0)], dtype=object)
    with pytest.raises(UndecidedError):
        arb_ops.OPS["sort"](close, 0)
    apart = np.array([arb(1), arb("0.999999999999"), arb(1)], dtype=object)
    order = arb_ops.OPS["sort_gather"](arb_ops.array([10.0, 20.0, 30.0]), apart, 0)
    assert [float(v) for v in order] == [20.0, 10.0, 30.0]


def test_std_where_every_element_is_equal_is_a_kink_like_a_norm_at_zero() -> None:
    """``std`` is the square root of a mean of squares: where they are all 0 (every element
    equal) it is a cone's tip, graded as ``norm`` at 0 is, never as a mismatch."""
    result = diffcmp.compare("std(w) + sum(w)", {"w": np.array([0.5, 0.5, 0.5])}, timing=False)
    statuses = dict(zip(result.agreement["engine"], result.agreement["status"], strict=True))
    assert "mismatch" not in statuses.values()
    assert statuses["fd-central"] == "kink"
    assert "(a norm) is at 0" in " ".join(result.agreement["message"].astype(str))


def test_sorting_counts_what_sympys_network_costs() -> None:
    """SymPy sorts expressions by a network of ``Min`` and ``Max`` nested as deep as the line
    is long, and its derivative grows about as ``2**n``: counted so, the sympy engine skips a
    long sort with its estimate instead of running for hours; a short one counts little."""
    assert lang.analyze(lang.parse("sum(sort(w))"), {"w": (5,)}).scalar_ops == 5 * 2**5 + 5
    assert lang.analyze(lang.parse("sum(sort(w))"), {"w": (20,)}).scalar_ops > lang.MAX_SCALAR_OPS
    assert lang.analyze(lang.parse("sum(cumsum(w))"), {"w": (20,)}).scalar_ops == 20 * 20 + 20


@pytest.mark.parametrize("v", [[0.0, 2.0, 3.0], [2.0, 0.0, 0.0], [1.5, -2.0, 0.5, 3.0]])
def test_second_order_through_prod_at_zeros_is_the_hessian_written_out(v: list[float]) -> None:
    """``prod(v)``: ``H_ik`` is the product of every element but ``i`` and ``k`` (0 on the
    diagonal), symmetric, and not 0 where a single other element is (``H[1, 0] = 3`` at
    ``(0, 2, 3)``): its rule divides by nothing, so its own derivative keeps each zero."""
    u = np.array(v)
    n = len(u)
    found = _hessian("prod(v) + sum(reshape(prod(reshape(v, (1, -1)), axis=1), 1))",
                     {"v": (n,)}, {"v": u}, "v")
    expected = np.array([[0.0 if i == k else 2 * np.prod(np.delete(u, [i, k]))
                          for k in range(n)] for i in range(n)])
    np.testing.assert_allclose(found, expected, rtol=1e-14, atol=1e-15)
