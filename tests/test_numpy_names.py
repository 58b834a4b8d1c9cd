"""NumPy's names (issue 19, first part): the new elementwise functions' vector-Jacobian rules
against 50-digit difference quotients, their second derivatives in every engine against hand-
derived Hessians, the jumps of ``floor`` and ``mod`` and the kinks of ``clip`` found and graded
as such, and NumPy's aliases computing exactly what the language's own names do."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import pytest

import diffcmp
from diffcmp import lang
from diffcmp.errors import ExpressionError
from diffcmp.matcalc import graph as g
from diffcmp.matcalc.derive import derive
from diffcmp.matcalc.evaluate import Program
from diffcmp.matcalc.printer import formula
from diffcmp.matcalc.table import GRAPH_OPS
from diffcmp.ops import arb as arb_ops
from diffcmp.ops import mpmath as mpmath_ops
from diffcmp.ops.spec import ALIASES, SPEC

#: (loss of scalar params a, b, c; points): every new op, at points on either side of its
#: interesting places (negative arguments of cbrt and gammaln, 0 for sinc, both signs of mod's
#: divisor, each region of clip).
RULES: list[tuple[str, list[tuple[float, ...]]]] = [
    ("expm1(a)", [(-0.3,), (2.0,), (1e-5,)]),
    ("log2(a)", [(0.3,), (5.0,)]),
    ("log10(a)", [(0.3,), (5.0,)]),
    ("square(a)", [(-0.3,), (1.7,)]),
    ("cbrt(a)", [(-0.3,), (8.0,)]),
    ("reciprocal(a)", [(-0.3,), (2.0,)]),
    ("sinc(a)", [(0.3,), (-1.7,), (0.0,)]),
    ("erfc(a)", [(0.3,), (-1.2,)]),
    ("erfinv(a)", [(-0.3,), (0.9,)]),
    ("gammaln(a)", [(-0.3,), (-2.5,), (3.7,)]),
    ("digamma(a)", [(-0.3,), (2.5,)]),
    ("asinh(a)", [(-0.3,), (4.0,)]),
    ("acosh(a)", [(1.3,), (3.0,)]),
    ("atanh(a)", [(-0.3,), (0.9,)]),
    ("floor(a) * a", [(0.3,), (-1.7,)]),
    ("ceil(a) * a", [(0.3,), (-1.7,)]),
    ("hypot(a, b)", [(-0.3, 0.5), (3.0, -4.0)]),
    ("logaddexp(a, b)", [(0.3, -0.5), (100.0, 99.0)]),
    ("mod(a, b)", [(-0.7, 0.5), (1.3, -0.4)]),
    ("a % b", [(2.3, 0.7)]),
    ("clip(a, b, c)", [(0.3, -0.5, 0.5), (-0.7, -0.5, 0.5), (0.9, -0.5, 0.5)]),
]


def _gradient(loss: str, names: list[str]) -> Any:
    shapes: dict[str, tuple[int, ...]] = {n: () for n in names}
    leaves = {n: g.var(n, (), "param") for n in names}
    root = lang.compile_expression(lang.parse(loss), GRAPH_OPS, shapes)(leaves)
    return derive(root, [leaves[n] for n in names])


@pytest.mark.parametrize(("loss", "points"), RULES, ids=[r[0] for r in RULES])
def test_each_rule_agrees_with_50_digit_difference_quotients(
        loss: str, points: list[tuple[float, ...]]) -> None:
    names = ["a", "b", "c"][:len(points[0])]
    gradient = _gradient(f"({loss}) * 1.5", names)
    run = Program(gradient.outputs).compile(mpmath_ops.OPS, fresh_constants=True)
    with mpmath.workdps(50):  # truncation h**2 = 1e-40, rounding 1e-50 / h = 1e-30
        h = mpmath.mpf(10) ** -20
        for point in points:
            env = {n: mpmath.mpf(v) for n, v in zip(names, point, strict=True)}
            _, *exact = run(env)
            for name, derivative in zip(names, exact, strict=True):
                up, down = dict(env), dict(env)
                up[name] += h
                down[name] -= h
                quotient = (run(up)[0] - run(down)[0]) / (2 * h)
                assert abs(derivative - quotient) <= mpmath.mpf(10) ** -25 * max(
                    1, abs(quotient)), (loss, point, name, derivative, quotient)


@pytest.mark.parametrize(("loss", "points"), RULES, ids=[r[0] for r in RULES])
def test_the_reference_balls_enclose_each_value_and_derivative(
        loss: str, points: list[tuple[float, ...]]) -> None:
    """The ball versions (and those of the ops their rules use: ``polygamma`` of a negative
    argument for ``digamma``'s) against mpmath at 50 digits."""
    names = ["a", "b", "c"][:len(points[0])]
    program = Program(_gradient(f"({loss}) * 1.5", names).outputs)
    run = program.compile(mpmath_ops.OPS, fresh_constants=True)
    balls = program.compile(arb_ops.OPS, fresh_constants=True)
    for point in points:
        with mpmath.workdps(50):
            expected = run({n: mpmath.mpf(v) for n, v in zip(names, point, strict=True)})
        with arb_ops.precision(50):
            got = balls({n: arb_ops.array(v) for n, v in zip(names, point, strict=True)})
        for ball, value in zip(got, expected, strict=True):
            assert ball.is_finite() and ball.rad() < 1e-40 * max(1, abs(float(value))), (
                loss, point, ball)
            with mpmath.workdps(50):
                assert abs(arb_ops.to_mpmath(ball) - value) <= 1e-40 * max(1, abs(value)), (
                    loss, point, ball, value)


def _statuses(result: diffcmp.Result, derivative: str) -> dict[str, str]:
    rows = result.agreement[(result.agreement["derivative"] == derivative)
                            & (result.agreement["point"] == 0)]
    return dict(zip(rows["engine"], rows["status"], strict=True))


def _hessian(result: diffcmp.Result, engine: str, n: int) -> np.ndarray:
    rows = result.hessians[(result.hessians["engine"] == engine)
                           & (result.hessians["col"] != "v") & (result.hessians["point"] == 0)]
    return rows["value"].to_numpy().reshape(n, n)


def test_second_derivatives_of_the_new_functions_are_the_hand_derived_ones() -> None:
    # d2/dw2 (expm1(w) + log2(w) + cbrt(w)) = exp(w) - 1 / (w**2 ln 2) - (2/9) w**(-5/3)
    w = np.array([0.3, 1.7])
    result = diffcmp.compare("sum(expm1(w) + log2(w) + cbrt(w))", {"w": w}, timing=False,
                             order=2, engines=["matcalc", "torch", "jax", "fd-central"])
    expected = np.diag(np.exp(w) - 1 / (w**2 * math.log(2)) - 2 / 9 * w ** (-5 / 3))
    statuses = _statuses(result, "hessian")
    for engine in ("reference", "matcalc", "torch", "jax"):
        assert statuses[engine] == "ok", engine
        np.testing.assert_allclose(_hessian(result, engine, 2), expected, rtol=1e-12)


def test_second_derivatives_of_the_special_functions_and_two_argument_ones() -> None:
    # d2/da2 gammaln(a) = polygamma(1, a); d2 logaddexp(a, b) = s (1 - s) [[1, -1], [-1, 1]]
    # with s = sigmoid(a - b); erfinv'' = 2 y (sqrt(pi) / 2)**2 exp(2 y**2), y = erfinv(a)
    a, b = 0.4, -0.5
    result = diffcmp.compare("gammaln(a) + logaddexp(a, b) + erfinv(b)", {"a": a, "b": b},
                             timing=False, order=2, engines=["matcalc", "torch", "jax"])
    s = 1 / (1 + math.exp(b - a))
    y = float(mpmath.erfinv(b))
    expected = s * (1 - s) * np.array([[1.0, -1.0], [-1.0, 1.0]])
    expected[0, 0] += float(mpmath.polygamma(1, a))
    expected[1, 1] += 2 * y * (math.pi / 4) * math.exp(2 * y * y)
    statuses = _statuses(result, "hessian")
    for engine in ("reference", "matcalc", "torch", "jax"):
        assert statuses[engine] == "ok", engine
        # torch.polygamma(1, 0.4) is 1.8e-10 off (relative), within what grading allows it
        rtol = 1e-9 if engine == "torch" else 1e-12
        np.testing.assert_allclose(_hessian(result, engine, 2), expected, rtol=rtol)


@pytest.mark.parametrize(("loss", "slope"), [
    ("sum(floor(3 * w) + w**2)", 0.0), ("sum(w % 0.5 + w**2)", 1.0),
    ("sum(mod(w, 0.5) + w**2)", 1.0), ("sum(ceil(w) * 2 + w**2)", 0.0)])
def test_a_jump_of_a_step_is_reported_never_graded_as_smooth(loss: str, slope: float) -> None:
    at_jump = diffcmp.compare(loss, {"w": [1.0, 0.3]}, timing=False,
                              engines=["matcalc", "torch", "jax", "fd-central"])
    statuses = _statuses(at_jump, "gradient")
    assert set(statuses.values()) == {"kink"}, statuses
    assert not at_jump.ok or at_jump.one_sided is not None
    described = " ".join(at_jump.agreement["message"].astype(str))
    assert "jump" in described or "kink" in described
    # off the jumps a step's derivative is 0 (mod's is 1 in a): the gradient is slope + 2 w
    away = diffcmp.compare(loss, {"w": [0.7, 0.3]}, timing=False,
                           engines=["matcalc", "torch", "jax", "fd-central"])
    assert set(_statuses(away, "gradient").values()) == {"ok"}
    gradients = away.gradients[(away.gradients["engine"] == "torch")]
    np.testing.assert_allclose(gradients["value"].to_numpy(), slope + np.array([1.4, 0.6]),
                               rtol=1e-14)


def test_clip_at_its_bounds_is_a_kink_and_inside_is_smooth() -> None:
    for point in ([-0.5, 0.3], [0.2, 0.5]):  # on the lower bound, on the upper bound
        result = diffcmp.compare("sum(clip(w, -0.5, 0.5)**2)", {"w": point}, timing=False,
                                 engines=["matcalc", "torch", "jax", "fd-central"])
        assert "kink" in set(_statuses(result, "gradient").values())
    inside = diffcmp.compare("sum(clip(w, -0.5, 0.5)**2)", {"w": [0.7, 0.3]}, timing=False,
                             engines=["matcalc", "torch", "jax", "fd-central"])
    assert set(_statuses(inside, "gradient").values()) == {"ok"}
    gradients = inside.gradients[(inside.gradients["engine"] == "jax")]
    np.testing.assert_allclose(gradients["value"].to_numpy(), [0.0, 0.6], rtol=1e-14)


@pytest.mark.parametrize(("alias", "same"), [
    ("arcsin(w[0]) + arccos(w[1]) + arctan(w[0])", "asin(w[0]) + acos(w[1]) + atan(w[0])"),
    ("arctan2(w[0], w[1]) + arcsinh(w[1]) + arctanh(w[0])",
     "atan2(w[0], w[1]) + asinh(w[1]) + atanh(w[0])"),
    ("arccosh(w[0] + 2) + absolute(w[1])", "acosh(w[0] + 2) + abs(w[1])"),
    ("sum(maximum(w, 0.1) + minimum(w, 0.2))", "sum(max(w, 0.1) + min(w, 0.2))"),
    ("sum(power(w, 2)) + power(w[0] + 1, w[1])", "sum(w**2) + (w[0] + 1)**w[1]"),
    ("sum(remainder(w, 0.3))", "sum(w % 0.3)"),
])
def test_numpys_names_compute_exactly_what_the_languages_do(alias: str, same: str) -> None:
    shapes = {"w": (2,)}
    leaves = {"w": g.var("w", (2,), "param")}
    one = lang.compile_expression(lang.parse(alias), GRAPH_OPS, shapes)(leaves)
    other = lang.compile_expression(lang.parse(same), GRAPH_OPS, shapes)(leaves)
    assert formula(one) == formula(other)


def test_aliases_take_what_numpy_takes() -> None:
    assert set(ALIASES) <= lang.FUNCTION_NAMES
    assert all(target in lang.FUNCTION_NAMES or target == "pow" for target in ALIASES.values())
    with pytest.raises(ExpressionError, match=r"maximum\(\) takes 2 arguments, got 1"):
        lang.parse("maximum(w)")
    with pytest.raises(ExpressionError, match=r"clip\(\) takes 3 arguments, got 2"):
        lang.parse("clip(w, 0)")
    with pytest.raises(ExpressionError, match="modulo by zero"):
        lang.analyze(lang.parse("w + 3 % 0"), {"w": ()})
    # Python's % of literals is NumPy's mod: the sign of the divisor
    shapes = {"w": ()}
    leaves = {"w": g.var("w", (), "param")}
    node = lang.compile_expression(lang.parse("w + (-7) % 3"), GRAPH_OPS, shapes)(leaves)
    assert formula(node) == "w + 2"


def test_every_new_function_is_in_the_spec_with_numpys_name() -> None:
    for name in ("expm1", "log2", "log10", "square", "cbrt", "reciprocal", "hypot", "logaddexp",
                 "sinc", "erfc", "erfinv", "gammaln", "digamma", "floor", "ceil", "mod", "clip"):
        assert SPEC[name].call == name
    assert (SPEC["clip"].arity, SPEC["mod"].arity, SPEC["hypot"].arity) == (3, 2, 2)
    assert not SPEC["floor"].smooth and not SPEC["mod"].analytic


def test_the_readmes_language_section_names_every_function() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## A case file", 1)[1].split("### Generated data", 1)[0]
    missing = [name for name in sorted(lang.FUNCTION_NAMES)
               if not re.search(rf"(?<![\w.]){name}(?![\w])", section)]
    assert not missing


@pytest.mark.parametrize(("name", "args"), [
    ("log2", (0.0,)), ("log10", (-1.0,)), ("acosh", (0.5,)), ("atanh", (1.0,)),
    ("erfinv", (1.0,)), ("erfinv", (-1.5,)), ("gammaln", (-2.0,)), ("digamma", (0.0,)),
    ("reciprocal", (0.0,)), ("mod", (0.7, 0.0))])
def test_the_reference_proves_each_domain_edge_undefined(name: str,
                                                         args: tuple[float, ...]) -> None:
    """``nan`` in the balls means proven undefined: each op outside its domain (or at a pole)."""
    with arb_ops.precision(50):
        value = arb_ops.OPS[name](*[arb_ops.array(a) for a in args])
        assert arb_ops.is_undefined(value) and not arb_ops.is_undecided(value), (name, value)


def test_a_ball_straddling_an_edge_is_undecided_not_undefined() -> None:
    from flint import arb

    with arb_ops.precision(50):
        for name, ball in (("log2", arb(0, 1e-50)), ("erfinv", arb(1, 1e-50)),
                           ("acosh", arb(1, 1e-50))):
            value = arb_ops.OPS[name](ball)
            assert arb_ops.is_undecided(value) or value.is_finite(), (name, value)
        around = arb_ops.OPS["cbrt"](arb(0, 1e-30))  # the root is increasing: +/- 1e-10
        assert around.is_finite() and around.contains(arb("1e-10") * 0.99)
