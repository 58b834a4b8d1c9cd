"""Verdicts at the edges (issue 9): a reference that certifies its precision, the loss as written,
where() traps named, kinks exactly, switches within rounding, bombs refused, crashes that are
merely undefined points. Every expected value is hand-derived in the comment beside it."""

from __future__ import annotations

import math

import mpmath
import pytest

import diffcmp
from diffcmp.engines.certify import certify
from diffcmp.errors import UnresolvedError
from diffcmp.ops import mpmath as mpmath_ops


def _statuses(result: diffcmp.Result) -> dict[str, str]:
    return dict(zip(result.agreement["engine"], result.agreement["status"], strict=True))


def _reference(result: diffcmp.Result) -> tuple[float, list[float], float]:
    ref = result.agreement[result.agreement["engine"] == "reference"].iloc[0]
    grads = result.gradients[result.gradients["engine"] == "reference"]["value"].tolist()
    return float(ref["loss"]), grads, float(ref["digits"])


def test_the_reference_raises_its_precision_past_a_cancellation() -> None:
    # (1 - cos w)/w^2 = 1/2 - w^2/24 + ...: loss 0.5, derivative -w/12 at w = 1e-26
    result = diffcmp.compare("(1 - cos(w))/w**2", {"w": 1e-26}, timing=False)
    loss, grad, digits = _reference(result)
    assert loss == 0.5
    assert grad[0] == pytest.approx(-1e-26 / 12, rel=1e-15)
    # at 50 and 100 digits 1 - cos(w) is lost (its ball is wider than the value); at 200 digits
    # every ball proves 17 digits: the gradient, sin(w)/w**2 - 2(1 - cos w)/w**3, cancels about
    # 105 of them (1 - cos w loses 52, the difference of two terms near 1e26 another 53)
    assert 17 <= digits < 100
    statuses = _statuses(result)
    assert statuses["torch"] == statuses["jax"] == "mismatch"
    assert result.exit_code == 1


def test_a_reference_that_does_not_settle_is_unresolved_for_every_engine() -> None:
    result = diffcmp.compare("(1 - cos(w))/w**2", {"w": 1e-26}, timing=False,
                             reference={"max_digits": 100})
    assert set(_statuses(result).values()) == {"unresolved"}
    message = result.agreement["message"].iloc[0]
    assert "did not settle within its ceiling of 100 digits" in message
    assert "at 50 digits" in message
    assert result.exit_code == 0  # no verdict, not a failure


def test_certify_raises_precision_until_two_evaluations_agree() -> None:
    import mpmath

    calls: list[int] = []

    def function() -> list[object]:
        calls.append(mpmath.mp.dps)
        return [1 - mpmath.cos(mpmath.mpf(10) ** -30)]

    certified = certify(function, 50, 800, ["the loss"])
    assert calls == [50, 100, 200]
    assert float(certified.values[0] * 10**60) == pytest.approx(0.5)
    with pytest.raises(UnresolvedError):
        certify(function, 50, 100, ["the loss"])


def test_undefined_at_fifty_digits_only_is_not_undefined() -> None:
    # log(1 - tanh a) = log 2 - 2a - log(1 + e^-2a); derivative -(1 + tanh a) = -2 at a = 60
    result = diffcmp.compare("log(1 - tanh(a))", {"a": 60.0}, timing=False)
    loss, grad, digits = _reference(result)
    assert loss == pytest.approx(math.log(2) - 120, rel=1e-15)
    assert grad == [-2.0]
    # 1 - tanh(60) is a ball around 0 at 50 digits, log of it undecided; at 100 digits 1 -
    # tanh(60) = 2e-52 is proven to about 50 digits, and so is everything after it
    assert 17 <= digits < 100
    assert _statuses(result)["torch"] == "nan"


@pytest.mark.parametrize("loss", ["exp(log(w))", "sqrt(w)**2"])
def test_the_loss_as_written_wins_over_sympys_rewriting(loss: str) -> None:
    result = diffcmp.compare(loss, {"w": -1.0}, timing=False)
    assert set(_statuses(result).values()) <= {"undefined", "unsupported"}
    assert "as written" in result.agreement["message"].iloc[0]
    assert result.exit_code == 1  # undefined, and not declared: nothing was graded
    assert diffcmp.compare(loss, {"w": -1.0}, timing=False, allow_undefined=True).exit_code == 0


def test_the_where_trap_is_named_with_its_fix() -> None:
    # the loss is w (y <= 0 selects it): loss 1, gradient 1
    result = diffcmp.compare("where(y > 0, w/x, w)", {"w": 1.0}, {"x": 0.0, "y": -1.0},
                             timing=False)
    loss, grad, _ = _reference(result)
    assert (loss, grad) == (1.0, [1.0])
    statuses = _statuses(result)
    assert statuses["torch"] == statuses["jax"] == "nan"
    assert statuses["sympy"] == statuses["fd-central"] == "ok"
    causes = result.agreement.set_index("engine")["cause"]
    assert "branch not taken, w / x" in causes["torch"] and "double where" in causes["torch"]
    assert causes["sympy"] == ""


def test_a_condition_on_data_alone_is_no_kink() -> None:
    # sum(where(x > 0, w log x, 0)) at x = [0, 2]: w log 2, gradient log 2
    result = diffcmp.compare("sum(where(x > 0, w*log(x), 0))", {"w": 1.0}, {"x": [0.0, 2.0]},
                             timing=False)
    statuses = _statuses(result)
    assert statuses["reference"] == "ok" and statuses["torch"] == statuses["jax"] == "nan"
    assert _reference(result)[1] == [pytest.approx(math.log(2), rel=1e-15)]
    assert result.one_sided.empty


def test_norm_at_zero_is_a_kink_and_jaxs_nan_is_named() -> None:
    result = diffcmp.compare("norm(w - c)", {"w": [1.0, 2.0]}, {"c": [1.0, 2.0]}, timing=False)
    statuses = _statuses(result)
    assert statuses["torch"] == "kink"  # PyTorch's subgradient 0
    assert statuses["jax"] == "nan"  # JAX issue 2377
    sides = result.one_sided
    assert sides["left"].tolist() == [pytest.approx(-1), pytest.approx(-1)]
    assert sides["right"].tolist() == [pytest.approx(1), pytest.approx(1)]


def test_equal_one_sided_derivatives_are_no_kink() -> None:
    # Huber at |r| = delta: both sides have slope 1, so the point is graded
    result = diffcmp.compare(
        "where(abs(w - y) <= 1, (w - y)**2 / 2, abs(w - y) - 1/2)", {"w": 2.0}, {"y": 1.0},
        timing=False, engines=["torch", "jax"])
    assert set(_statuses(result).values()) == {"ok"}
    # a tie inside a branch that is not taken cannot matter: max(min(a, t), 5) is 5 around
    result = diffcmp.compare("max(min(a, t), 5)", {"a": 0.5}, {"t": 0.5}, timing=False,
                             engines=["torch", "jax"])
    assert set(_statuses(result).values()) == {"ok"}


@pytest.mark.parametrize(("loss", "point"), [("max(w, 3/10)", 0.3),
                                             ("abs(3*w - 1)", 0.3333333333333333)])
def test_a_switch_within_rounding_is_a_kink(loss: str, point: float) -> None:
    result = diffcmp.compare(loss, {"w": point}, timing=False)
    assert set(_statuses(result).values()) <= {"kink", "unsupported"}
    assert result.exit_code == 0


def test_a_compound_condition_is_looked_into() -> None:
    # where(where(a <= 1, a + 1, 1) > a, 0.5, a) jumps at a = 1 (0.5 below, a above)
    result = diffcmp.compare("where(where(a <= 1, a + 1, 1) > a, 0.5, a)", {"a": 1.0},
                             timing=False, engines=["torch", "fd-central"])
    assert set(_statuses(result).values()) == {"kink"}


@pytest.mark.parametrize("loss", ["max(log(a), 1)", "max(sqrt(a), 0)"])
def test_an_undefined_point_is_undefined_not_an_error(loss: str) -> None:
    result = diffcmp.compare(loss, {"a": -1.0}, timing=False)
    assert set(_statuses(result).values()) <= {"undefined", "unsupported"}


@pytest.mark.parametrize(("loss", "message"), [
    ("(3*w)**2147483647", "the power 2,147,483,647 of a non-constant base is over 1,024"),
    ("exp(exp(exp(exp(w))))", "exponentials nest 4 deep"),
    ("w**(w**(w**(w**w)))", "exponentials nest 4 deep"),
])
def test_bombs_are_refused_before_any_work(loss: str, message: str) -> None:
    with pytest.raises(diffcmp.CaseError, match=message):
        diffcmp.compare(loss, {"w": 3.0}, timing=False)


def test_an_exponential_past_any_precision_is_unresolved_not_a_hang() -> None:
    # exp(exp(exp(10))) = exp(e^22026) exists, but its ball is unbounded at any precision the
    # reference reaches: no verdict, and why
    result = diffcmp.compare("exp(exp(exp(w)))", {"w": 10.0}, timing=False,
                             engines=["sympy"])
    assert _statuses(result) == {"reference": "unresolved", "sympy": "unresolved"}
    assert "cannot be bounded at 800 digits" in result.agreement["message"].iloc[0]


def test_a_wrong_derivative_rule_is_reported_as_a_diffcmp_bug(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from diffcmp.matcalc.rules import VJP

    # sigmoid'(x) = s (1 - s); inject s (1 + s), which the reference and matcalc engines share
    monkeypatch.setitem(VJP, "sigmoid", lambda k, g, ans, a: (g * (ans * (1 + ans)),))
    result = diffcmp.compare("sigmoid(w)", {"w": 0.5}, timing=False,
                             engines=["matcalc", "torch"])
    statuses = _statuses(result)
    assert statuses["reference"] == "error"
    assert statuses["torch"] == statuses["matcalc"] == "unresolved"  # no engine is at fault
    message = result.agreement.set_index("engine").loc["reference", "message"]
    assert message.startswith("diffcmp bug: the reference gradient's w is")
    assert result.exit_code == 1


def test_a_wrong_sympy_rule_is_the_sympy_engines_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    from diffcmp.ops.sympy_functions import Sigmoid

    # the same wrong rule in SymPy's Sigmoid: the scalar SymPy engine is graded against the
    # reference's independent derivation, so it is the one off: s (1 + s) at 0.5 is 0.9831...
    monkeypatch.setattr(Sigmoid, "fdiff",
                        lambda self, argindex=1: Sigmoid(self.args[0]) * (1 + Sigmoid(
                            self.args[0])))
    result = diffcmp.compare("sigmoid(w)", {"w": 0.5}, timing=False,
                             engines=["sympy", "torch"])
    statuses = _statuses(result)
    assert (statuses["reference"], statuses["torch"], statuses["sympy"]) == (
        "ok", "ok", "mismatch")


def test_the_cross_check_passes_correct_gradients() -> None:
    result = diffcmp.compare("sigmoid(w) * exp(w)", {"w": 0.5}, timing=False,
                             engines=["sympy", "torch"])
    assert set(_statuses(result).values()) == {"ok"}


def test_a_power_of_a_value_that_is_zero_to_within_its_ball_is_defined() -> None:
    # sin(pi w) at w = 1 is 0 to within rounding (a ball around 0 in the reference's arithmetic);
    # its square plus 1 is 1, the loss sqrt(1) = 1, the gradient pi sin(pi w) cos(pi w) / 1 ~ 0
    result = diffcmp.compare("sqrt(sin(pi * w)**2 + 1)", {"w": 1.0}, timing=False)
    loss, grad, _ = _reference(result)
    assert loss == 1.0
    assert abs(grad[0]) < 1e-15
    assert set(_statuses(result).values()) == {"ok"}


def test_a_complex_intermediate_is_nan_in_the_reference_without_computing_it() -> None:
    """A negative base's real power is complex in mpmath; a function of it is nan (undefined),
    returned at once: erf of a huge complex argument took minutes (found by the slow edge
    fuzz)."""
    calls: list[object] = []
    spy = mpmath_ops._real(lambda z: calls.append(z) or mpmath.erf(z))
    assert mpmath.isnan(spy(mpmath.mpc(-1e6, 3e6)))
    assert calls == []
    assert mpmath.isnan(mpmath_ops.OPS["erf"](mpmath.mpf(-2) ** mpmath.mpf("1861.3")))
    assert spy(mpmath.mpf(1)) == mpmath.erf(1)
