"""The certificate never lies (issue 16): a digit is certified only by its own ball, a value
whose ball holds 0 is a bound or a higher precision, and undefined needs a proof. Every expected
value is derived independently in mpmath (at 2,000 digits, by the closed form named beside it).
"""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
import pytest
from flint import arb

import diffcmp
from diffcmp.engines.certify import ZERO_BOUND, Certified, certify, settle
from diffcmp.errors import UndecidedError, UnresolvedError
from diffcmp.ops import arb as arb_ops
from diffcmp.registry import get_engine
from diffcmp.symbolic.problem import lower


def _certificate(loss: str, params: dict[str, Any], data: dict[str, Any] | None = None,
                 **options: Any) -> Certified:
    """The reference's certificate at the case's point, at full precision."""
    case = diffcmp.Case(name="c", loss=loss, params=params, data=data or {}, **options)
    problem = lower(case)
    prepared = get_engine("reference").prepare(problem)
    prepared.value_and_grad(problem.point)
    return prepared.details["certified"]


def _agrees(value: Any, truth: str, digits: int = 17) -> bool:
    with mpmath.workdps(60):
        truth = mpmath.mpf(truth)
        return bool(abs(value - truth) <= abs(truth) * mpmath.mpf(10) ** -(digits - 1))


def _statuses(result: diffcmp.Result) -> dict[str, str]:
    return dict(zip(result.agreement["engine"], result.agreement["status"], strict=True))


# -- the examples -----------------------------------------------------------------------

def test_tanh_saturated_gradients_are_their_own_values_not_the_balls_noise() -> None:
    # d tanh(w)/dw = sech(w)**2 = 4 / (e^w + e^-w)**2
    certified = _certificate("sum(tanh(w))", {"w": [60.0, 200.0, 1000.0]})
    assert certified.bounds is None  # each one proven, none a bound
    grads = certified.values[1:]
    # to 35 digits: the certificate holds more than float64 (its balls prove 45 or more)
    assert _agrees(grads[0], "3.067059229488799852973683350110331072936e-52", 35)
    assert _agrees(grads[1], "7.660678386856022780079359114617057402968e-174", 35)
    assert _agrees(grads[2], "1.030614349184459860876060199802941165089e-868", 35)
    assert certified.digits == 50  # sech^2 has no cancellation: the first precision proves it
    assert certified.significant >= 45


def test_saturated_tanh_keeps_float64_engines_graded_within_their_floor() -> None:
    # torch computes 1 - tanh(w)**2 = 0 at w = 200: float64 cannot hold 7.66e-174 that way,
    # and the floor (derived with the form float64 engines compute) says so
    result = diffcmp.compare("sum(tanh(w))", {"w": [60.0, 200.0, 1000.0]}, timing=False,
                             engines=["torch", "jax", "matcalc"])
    assert set(_statuses(result).values()) == {"ok"}
    reference = result.gradients[result.gradients["engine"] == "reference"]["value"].tolist()
    assert reference == [pytest.approx(3.0670592294888e-52, rel=1e-15),
                         pytest.approx(7.66067838685602e-174, rel=1e-15), 0.0]


def test_a_square_root_of_a_cancellation_is_defined_and_certified_at_a_higher_precision() -> None:
    # 1 - sigmoid(676) ~ e^-676 is [+/- 1e-50] at 50 digits: sqrt of it is undecided, not nan.
    # d/da sigmoid(u), u = sqrt(s(1 - s)): sigmoid'(u) * s(1 - s)(1 - 2s) / (2u), s = sigmoid(a)
    loss = "sigmoid(sqrt(sigmoid(a) * (1 - sigmoid(a))))"
    certified = _certificate(loss, {"a": 676.0})
    assert _agrees(certified.values[0], "0.5")
    assert _agrees(certified.values[1], "-2.020110517275314e-148", 16)
    assert certified.digits >= 400
    result = diffcmp.compare(loss, {"a": 676.0}, timing=False, engines=["torch"])
    assert _statuses(result)["reference"] == "ok"


def test_zero_to_a_positive_power_has_gradient_zero_in_the_exponent() -> None:
    # HIPS/autograd's test_power_arg1_zero: 0**y = 0 near any y > 0, so d/dy = 0
    result = diffcmp.compare("x**y", {"y": 1.5}, {"x": 0.0}, timing=False, engines=["torch"])
    assert _statuses(result) == {"reference": "ok", "torch": "ok"}
    assert result.gradients.set_index("engine").loc["reference", "value"] == 0.0


def test_a_component_far_below_float64_is_proven_not_taken_from_the_noise() -> None:
    # d/db (tanh(b)**2 + a) a = 2 a tanh(b) sech(b)**2 = -4.0235977718525879e-375 at b = -431.9
    certified = _certificate("(tanh(b)**2 + a) * a", {"a": 0.7, "b": -431.9})
    assert _agrees(certified.values[2], "-4.02359777185258788312226196454630812683e-375", 35)
    assert _agrees(certified.values[1], "2.399999999999999911182158029987476766109", 35)


def test_a_value_that_rounds_to_zero_in_float64_is_a_bound_and_says_so() -> None:
    # the loss as written, 1 - tanh(1000)**2 = 1.03e-868, needs 870 digits to prove a digit;
    # at 400 its ball lies inside |v| < 2**-1075: reported as 0 with that bound
    certified = _certificate("1 - tanh(w)**2", {"w": 1000.0})
    assert certified.bounds is not None and certified.bounds[0] is not None
    assert certified.values[0] == 0
    assert 0 < certified.bounds[0] < ZERO_BOUND
    assert certified.bound(1) is None  # the gradient, -2 tanh(w) sech(w)**2, is proven
    assert _agrees(certified.values[1], "-2.061228698368919721752120399605882330178e-868", 35)


def test_a_value_that_never_settles_is_unresolved_and_names_its_balls() -> None:
    result = diffcmp.compare("1 - tanh(w)**2", {"w": 1000.0}, timing=False, engines=["torch"],
                             reference={"max_digits": 200})
    assert set(_statuses(result).values()) == {"unresolved"}
    message = result.agreement["message"].iloc[0]
    assert "the loss as written is" in message and "at 200 digits" in message
    assert "proves no 17 significant digits" in message


# -- undefined needs a proof -------------------------------------------------------------------

@pytest.mark.parametrize(("loss", "params", "data", "where"), [
    ("sum(log(w))", {"w": [0.0, 1.0]}, {}, "the loss as written is undefined: log(0) at w[0]"),
    ("sum(log(w))", {"w": [1.0, -2.0]}, {}, "log(-2) at w[1]"),
    ("sqrt(w)**2", {"w": -1.0}, {}, "sqrt(-1) at w"),
    ("w/x", {"w": 1.0}, {"x": 0.0}, "1 / 0 in w / x"),
    ("x**y", {"y": -1.5}, {"x": 0.0}, "0 ** -1.5 in x**y"),
    ("sum(sqrt(w - c))", {"w": [1.0, 2.0]}, {"c": [1.0, 1.0]},
     "the gradient is undefined: 1 / 0 in 1 / (2 * sqrt(w - c)), element [0]"),
])
def test_an_undefined_point_is_proven_and_names_where(loss: str, params: dict[str, Any],
                                                      data: dict[str, Any], where: str) -> None:
    result = diffcmp.compare(loss, params, data, timing=False, engines=["torch"])
    row = result.agreement.set_index("engine").loc["reference"]
    assert row["status"] == "undefined"
    assert where in row["message"]


def test_a_ball_straddling_a_domain_edge_raises_the_precision_instead() -> None:
    # log(1 - tanh(60)) = log 2 - 120 - log1p(e^-120): 1 - tanh(60) is [+/- 1e-50] at 50 digits
    certified = _certificate("log(1 - tanh(a))", {"a": 60.0})
    assert certified.digits == 100
    assert _agrees(certified.values[0], str(mpmath.log(2) - 120 - mpmath.log1p(
        mpmath.exp(-120))), 16)


def test_where_discards_an_undecided_branch_it_does_not_select() -> None:
    # where(w > 0, log(w), 0) at w = -1: 0, gradient 0 (log's branch is not selected)
    certified = _certificate("where(w > 0, log(w), 0)", {"w": -1.0})
    assert certified.values == [0, 0]


# -- the ball arithmetic underneath ------------------------------------------------------------

def test_arb_tells_proven_undefined_from_undecided() -> None:
    ops = arb_ops.OPS
    straddling = arb(0, 1e-50)
    with arb_ops.precision(50):
        assert arb_ops.is_undefined(ops["log"](arb(0)))
        assert arb_ops.is_undefined(ops["log"](arb(-1)))
        assert arb_ops.is_undefined(ops["sqrt"](arb(-1)))
        assert arb_ops.is_undefined(ops["div"](arb(1), arb(0)))
        assert arb_ops.is_undefined(ops["pow"](arb(-2), arb(1.5)))
        assert arb_ops.is_undefined(ops["asin"](arb(2)))
        for value in (ops["log"](straddling), ops["sqrt"](straddling),
                      ops["div"](arb(1), straddling), ops["pow"](straddling, arb(1.5)),
                      ops["tanh"](arb_ops.undecided()), ops["erf"](arb_ops.undecided())):
            assert arb_ops.is_undecided(value)
        assert "log([+/- 1.01e-50])" in arb_ops.undecided_note()
        # a proven-undefined operand stays proven; an undecided one stays undecided
        assert arb_ops.is_undefined(ops["add"](ops["log"](arb(0)), arb_ops.undecided()))
        total = ops["logsumexp"](np.array([arb(1), arb_ops.undecided()], dtype=object), None)
        assert arb_ops.is_undecided(total)
        with pytest.raises(UndecidedError):
            ops["gt"](arb_ops.undecided(), arb(0))
        assert ops["gt"](ops["log"](arb(0)), arb(0)) is False  # as IEEE compares nan


def test_settle_proves_digits_or_a_float64_zero_and_nothing_else() -> None:
    mp = mpmath.mpf
    assert settle(mp(3), mp(0)) == (True, None)  # exact
    assert settle(mp("3.0670592294888e-52"), mp("1e-70")) == (True, None)
    # 3.34e-52 inside a ball of radius 1e-50 (tanh(60) by 1 - tanh**2 at 50 digits): no digit
    assert settle(mp("3.34e-52"), mp("1e-50")) == (False, None)
    assert settle(mp("1e-330"), mp("1e-400")) == (True, None)  # tiny, but proven
    done, bound = settle(mp("1e-330"), mp("1e-331"))  # no digit, but it rounds to 0
    assert done and bound == pytest.approx(mp("1.1e-330")) and bound < ZERO_BOUND
    assert settle(mp("1e-300"), mp("1e-299")) == (False, None)


def test_certify_raises_precision_until_each_ball_settles() -> None:
    calls: list[int] = []

    def function() -> list[Any]:
        digits = int(arb_ops.ctx.prec / 3.33)
        calls.append(digits)
        w = arb(200)
        return [1 - w.tanh() ** 2]  # 7.66e-174 by cancellation: ~190 digits needed

    certified = certify(function, 50, 800, ["the loss"])
    assert len(calls) == 3  # 50, 100: balls around 0; 200: proven
    assert _agrees(certified.values[0], "7.6606783868560228e-174", 16)
    with pytest.raises(UnresolvedError, match="proves no 17 significant digits"):
        certify(function, 50, 100, ["the loss"])


def test_a_value_with_an_astronomical_exponent_is_kept_and_flagged_without_hanging() -> None:
    # sigmoid(c) (1 - sigmoid(c)) at c = cosh(105.3) + 1/2 ~ 3.4e45 is e^-c: its exponent
    # alone has 46 digits; the gradient s(1 - s)(1 - 2s) sinh(b) is as small, and negative
    result = diffcmp.compare("sigmoid(cosh(b) + 1/2) * (1 - sigmoid(cosh(b) + 1/2))",
                             {"b": 105.3}, timing=False, engines=["torch"])
    assert _statuses(result) == {"reference": "ok", "torch": "ok"}
    row = result.gradients[result.gradients["engine"] == "reference"].iloc[0]
    assert row["reference_flag"] == "beyond float64"
    assert row["reference_exact"].startswith("-") and "e-11694004592241802191022340353519" \
        in row["reference_exact"]


def test_an_element_the_loss_never_uses_is_no_part_of_its_gradient() -> None:
    # log(w)[0] at w = [1.5, 0]: the loss is log(1.5), gradient [1/1.5, 0]; reverse mode's
    # 0 / 0 for the unused element (PyTorch, JAX: nan) is the index trap, like where's
    result = diffcmp.compare("log(w)[0]", {"w": [1.5, 0.0]}, timing=False,
                             engines=["torch"])
    assert _statuses(result) == {"reference": "ok", "torch": "nan"}
    grads = result.gradients[result.gradients["engine"] == "reference"]["value"].tolist()
    assert grads == [pytest.approx(1 / 1.5, rel=1e-15), 0.0]
    # an element the loss does use stays undefined: sqrt's slope at 0
    result = diffcmp.compare("sqrt(w)[1]", {"w": [1.5, 0.0]}, timing=False, engines=["torch"])
    assert _statuses(result)["reference"] == "undefined"
