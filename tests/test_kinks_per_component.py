"""Kinks graded per component: at a non-differentiable point the components the kink does not
touch are graded as at a smooth point, and a touched one must lie between its one-sided
derivatives (``kink`` inside, ``mismatch`` outside).

Every number here is derived by hand in the comments.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import diffcmp
from diffcmp.cases import Case
from diffcmp.grading.floors import FloorFinder
from diffcmp.grading.grade import Floors, Outcome, kink_verdict
from diffcmp.grading.kinks import KinkDetector
from diffcmp.status import Status
from diffcmp.symbolic.problem import lower

# --- elastic net at a sparse point -------------------------------------------------------------
# loss = sum((x w - y)^2) + lam * sum(|w|) at w = (1, 0, -1, 2), lam = 1/2:
#   x w = (1 - 2, 0 + 2, 1 + 0) = (-1, 2, 1), r = x w - y = (-1, 1, 0),
#   loss = |r|^2 + lam |w|_1 = 2 + 4/2 = 4,
#   2 x^T r = 2 (-1 + 0, 0 + 1 + 0, -2, 1) = (-2, 2, -4, 2),
#   lam sign(w) = (1/2, 0 [any s in [-1/2, 1/2] at w[1] = 0], -1/2, 1/2),
# so the gradient is (-1.5, 2 + s, -4.5, 2.5): w[1] is the only component the kink of |w[1]|
# touches, with one-sided derivatives 2 - 1/2 = 1.5 (left) and 2 + 1/2 = 2.5 (right).
ENET = "sum((x @ w - y)**2) + lam * sum(abs(w))"
ENET_DATA = {"x": np.array([[1.0, 0.0, 2.0, 0.0], [0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]]),
             "y": np.array([0.0, 1.0, 1.0]), "lam": 0.5}
ENET_W = {"w": np.array([1.0, 0.0, -1.0, 2.0])}


def enet(w: np.ndarray, x: np.ndarray, y: np.ndarray, lam: float) -> tuple[float, Any]:
    """Correct: np.sign(0) = 0 picks the subgradient 2 (the middle of [1.5, 2.5]) for w[1]."""
    r = x @ w - y
    return float(r @ r + lam * np.abs(w).sum()), {"w": 2 * x.T @ r + lam * np.sign(w)}


def enet_right_side(w: np.ndarray, x: np.ndarray, y: np.ndarray,
                    lam: float) -> tuple[float, Any]:
    """Correct: the subgradient +lam of |w| at 0, the right end 2.5 of w[1]'s interval."""
    r = x @ w - y
    return float(r @ r + lam * np.abs(w).sum()), {
        "w": 2 * x.T @ r + lam * np.where(w >= 0, 1.0, -1.0)}


def enet_no_factor_2(w: np.ndarray, x: np.ndarray, y: np.ndarray,
                     lam: float) -> tuple[float, Any]:
    """The factor 2 of the square missing: x^T r + lam sign(w) = (-0.5, 1, -2.5, 1.5)."""
    r = x @ w - y
    return float(r @ r + lam * np.abs(w).sum()), {"w": x.T @ r + lam * np.sign(w)}


def enet_l1_twice_at_zero(w: np.ndarray, x: np.ndarray, y: np.ndarray,
                          lam: float) -> tuple[float, Any]:
    """Right everywhere but w[1]: 2 + 2 lam = 3 there, outside [1.5, 2.5]."""
    r = x @ w - y
    grad = 2 * x.T @ r + lam * np.sign(w) + 2 * lam * (w == 0)
    return float(r @ r + lam * np.abs(w).sum()), {"w": grad}


def _rows(result: diffcmp.Result) -> dict[str, tuple[str, str]]:
    return {e: (s, m) for e, s, m in zip(result.agreement["engine"], result.agreement["status"],
                                         result.agreement["message"], strict=True)}


def _check(fn: Any, params: dict[str, Any], data: dict[str, Any],
           loss: str) -> tuple[diffcmp.Result, str, str]:
    result = diffcmp.check(fn, params, data, loss=loss, engines=["matcalc"])
    status, message = _rows(result)[fn.__name__]
    return result, status, message


def test_the_one_sided_derivatives_of_the_elastic_net_are_the_hand_derived_ones() -> None:
    result = diffcmp.compare(ENET, ENET_W, ENET_DATA, engines=["matcalc"], timing=False)
    sides = result.one_sided.set_index("component")
    assert sides["left"].tolist() == pytest.approx([-1.5, 1.5, -4.5, 2.5], abs=1e-15)
    assert sides["right"].tolist() == pytest.approx([-1.5, 2.5, -4.5, 2.5], abs=1e-15)


@pytest.mark.parametrize("fn", [enet, enet_right_side])
def test_a_correct_elastic_net_gradient_at_a_sparse_point_is_a_kink_not_failing(fn: Any) -> None:
    result, status, message = _check(fn, ENET_W, ENET_DATA, ENET)
    assert status == "kink", message
    assert result.ok
    assert message.startswith("kink: abs(w) has argument 0; w[1]: ")
    assert result.agreement.set_index("engine").loc[fn.__name__, "loss"] == 4.0


def test_the_elastic_net_without_its_factor_2_is_a_mismatch_at_the_sparse_point() -> None:
    # before: `kink`, no verdict. Untouched: w[0] -0.5 vs -1.5 (error 1/2, the worst), w[2] -2.5
    # vs -4.5 (2/7), w[3] 1.5 vs 2.5 (1/4); and the touched w[1] = 1 is below [1.5, 2.5]
    result, status, message = _check(enet_no_factor_2, ENET_W, ENET_DATA, ENET)
    assert status == "mismatch"
    assert not result.ok
    assert message.startswith("3 of 4 gradient components are off")
    assert "the worst: w[0]: enet_no_factor_2 -0.5 vs reference -1.5" in message
    assert "w[1]: enet_no_factor_2 1 is outside [1.5, 2.5]" in message
    row = result.agreement.set_index("engine").loc["enet_no_factor_2"]
    assert row["error"] == pytest.approx(0.5)


def test_an_elastic_net_subgradient_outside_the_one_sided_interval_is_a_mismatch() -> None:
    # every untouched component right: only w[1] = 3 is off, 0.5 above the interval's end 2.5
    result, status, message = _check(enet_l1_twice_at_zero, ENET_W, ENET_DATA, ENET)
    assert status == "mismatch"
    assert message == ("w[1]: enet_l1_twice_at_zero 3 is outside [1.5, 2.5], between its "
                       "one-sided derivatives at the kink (abs(w) has argument 0)")
    row = result.agreement.set_index("engine").loc["enet_l1_twice_at_zero"]
    assert row["error"] == pytest.approx(0.5 / 5.5)  # |3 - 2.5| / (3 + 2.5)


# --- a linear SVM's hinge at a zero margin -----------------------------------------------------
# loss = mean(relu(1 - y (x w))) with w = (1/4, 1/2, 3/4), y = (1, -1, 1, -1):
#   x w = (1/4 + 3/4, 1/8 + 1/2 - 3/4, -1/4 + 1 + 3/8, 1/2 - 1 + 3/4) = (1, -1/8, 9/8, 1/4),
#   margins m = 1 - y x w = (0, 7/8, -1/8, 5/4): sample 0 is on the margin (a tie),
#   loss = (7/8 + 5/4) / 4 = 0.53125.
# The gradient is -(1/4) sum over active i of y_i x_i. Samples 1 and 3 are active:
#   -(1/4) (-(1/2, 1, -1) - (2, -2, 1)) = (0.625, -0.25, 0); sample 0, active or not at its
#   tie, adds t (-(1/4) (1, 0, 1)) = (-t/4, 0, -t/4) with t in [0, 1]. So w[0] lies in
#   [0.375, 0.625], w[2] in [-0.25, 0], and w[1] = -0.25 is untouched (x_01 = 0), graded.
SVM = "mean(relu(1 - y * (x @ w)))"
SVM_DATA = {"x": np.array([[1.0, 0.0, 1.0], [0.5, 1.0, -1.0], [-1.0, 2.0, 0.5],
                           [2.0, -2.0, 1.0]]),
            "y": np.array([1.0, -1.0, 1.0, -1.0])}
SVM_W = {"w": np.array([0.25, 0.5, 0.75])}


def svm_gt(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, Any]:
    """Correct: the tie excluded (``m > 0``), t = 0: (0.625, -0.25, 0)."""
    m = 1 - y * (x @ w)
    return float(np.maximum(m, 0).mean()), {"w": -(x.T @ (y * (m > 0))) / len(y)}


def svm_ge(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, Any]:
    """Correct: the tie included (``m >= 0``), t = 1: (0.375, -0.25, -0.25)."""
    m = 1 - y * (x @ w)
    return float(np.maximum(m, 0).mean()), {"w": -(x.T @ (y * (m >= 0))) / len(y)}


def svm_tie_twice(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, Any]:
    """Wrong only at the tie: the sample on the margin counted by both a ``>=`` mask and a
    ``==`` term, t = 2: (0.125, -0.25, -0.5)."""
    m = 1 - y * (x @ w)
    weight = (m >= 0).astype(float) + (m == 0)
    return float(np.maximum(m, 0).mean()), {"w": -(x.T @ (y * weight)) / len(y)}


@pytest.mark.parametrize("fn", [svm_gt, svm_ge])
def test_either_mask_at_a_zero_margin_is_a_valid_subgradient(fn: Any) -> None:
    result, status, message = _check(fn, SVM_W, SVM_DATA, SVM)
    assert status == "kink", message
    assert result.ok
    sides = result.one_sided.set_index("component")
    assert sides["left"].tolist() == pytest.approx([0.375, -0.25, -0.25], abs=1e-15)
    assert sides["right"].tolist() == pytest.approx([0.625, -0.25, 0.0], abs=1e-15)
    assert result.agreement.set_index("engine").loc[fn.__name__, "loss"] == 0.53125


def test_a_tie_counted_twice_lands_outside_the_one_sided_interval() -> None:
    # before: `kink`. w[0] = 0.125 is 0.25 below 0.375 (error 0.25/0.5), w[2] = -0.5 is 0.25
    # below -0.25 (error 0.25/0.75)
    result, status, message = _check(svm_tie_twice, SVM_W, SVM_DATA, SVM)
    assert status == "mismatch"
    assert not result.ok
    assert message.startswith("w[0]: svm_tie_twice 0.125 is outside [0.375, 0.625]")
    assert message.endswith("(and 1 more)")


# The `>` mask / `>=` count bug with a bias b (loss mean(relu(1 - y (x w + b))) at b = 0, the
# same margins): dL/db = -(1/4) sum over active y_i = -(1/4)(-1 - 1) = 0.5, and 0.5 - t/4 with
# the tie, so b's interval is [0.25, 0.5]. A gradient that counts the tie in db (t = 1: 0.25)
# but not in dw (t = 0: (0.625, -0.25, 0)) is no subgradient (one sample, one t), yet every
# component sits at an end of its own interval: only a pair check sees it.
# In (w[0], w[1], w[2], b) the loss is S.v + (1/4) relu(m_0) to first order, with the smooth part
# S = (0.625, -0.25, 0, 0.5) (samples 1 and 3) and grad m_0 = -(x_0, 1) = -(1, 0, 1, 1); the tie
# touches w[0], w[2], b (w[1] is untouched: x_01 = 0). Along v = e_w0 - e_b, grad m_0 . v =
# -1 + 1 = 0: the margin does not move, both one-sided derivatives are S.v = 0.625 - 0.5 =
# 0.125, and every subgradient gives 0.125 there; the buggy one gives 0.625 - 0.25 = 0.375.
# Along e_w2 - e_b likewise: -0.5 from both sides, -0.25 given. The other pairs hold: w[0] + b
# (grad m_0 . v = -2: [1.125 - 0.5, 1.125] = [0.625, 1.125], given 0.875), w[0] +- w[2], w[2] + b.
SVM_B = "mean(relu(1 - y * (x @ w + b)))"


def svm_mask_gt_count_ge(w: np.ndarray, b: float, x: np.ndarray,
                         y: np.ndarray) -> tuple[float, Any]:
    m = 1 - y * (x @ w + b)
    return float(np.maximum(m, 0).mean()), {"w": -(x.T @ (y * (m > 0))) / len(y),
                                             "b": -(y * (m >= 0)).sum() / len(y)}


def svm_b_ge(w: np.ndarray, b: float, x: np.ndarray, y: np.ndarray) -> tuple[float, Any]:
    """Correct: the tie counted in every component (t = 1)."""
    m = 1 - y * (x @ w + b)
    return float(np.maximum(m, 0).mean()), {"w": -(x.T @ (y * (m >= 0))) / len(y),
                                             "b": -(y * (m >= 0)).sum() / len(y)}


def test_the_one_sided_derivatives_along_pairs_are_the_hand_derived_ones() -> None:
    problem = lower(Case(name="t", loss=SVM_B, params={**SVM_W, "b": 0.0}, data=SVM_DATA))
    sides = KinkDetector(problem).sides(problem.point)
    found = {(p.name(problem.components)): (p.left, p.right) for p in sides.pairs}
    assert set(found) == {"w[0] + w[2]", "w[0] - w[2]", "w[0] + b", "w[0] - b", "w[2] + b",
                          "w[2] - b"}  # w[1] is untouched: in no pair
    expected = {"w[0] + w[2]": (0.125, 0.625), "w[0] - w[2]": (0.625, 0.625),
                "w[0] + b": (0.625, 1.125), "w[0] - b": (0.125, 0.125),
                "w[2] + b": (0.0, 0.5), "w[2] - b": (-0.5, -0.5)}
    for name, (low, high) in expected.items():
        assert sorted(found[name]) == pytest.approx([low, high], abs=1e-15), name


def test_a_mask_and_count_that_disagree_only_across_components_fail_along_a_pair() -> None:
    result, status, message = _check(svm_mask_gt_count_ge, {**SVM_W, "b": 0.0}, SVM_DATA,
                                     SVM_B)
    sides = result.one_sided.set_index("component")
    assert sides.loc["b", "left"] == pytest.approx(0.25, abs=1e-15)
    assert sides.loc["b", "right"] == pytest.approx(0.5, abs=1e-15)
    assert status == "mismatch", message
    assert not result.ok
    assert message == (
        "w[0] - b: svm_mask_gt_count_ge 0.375 is outside 0.125, its derivative from both sides "
        "along it at the kink (relu(1 - y * (x @ w + b)) has argument 0) (and 1 more): each "
        "component is within its one-sided derivatives, but not consistently (one side of a tie "
        "for one, the other side for another)")


def svm_b_gt(w: np.ndarray, b: float, x: np.ndarray, y: np.ndarray) -> tuple[float, Any]:
    """Correct: the tie counted in no component (t = 0)."""
    m = 1 - y * (x @ w + b)
    return float(np.maximum(m, 0).mean()), {"w": -(x.T @ (y * (m > 0))) / len(y),
                                             "b": -(y * (m > 0)).sum() / len(y)}


@pytest.mark.parametrize("fn", [svm_b_ge, svm_b_gt])
def test_a_consistent_mask_passes_every_pair(fn: Any) -> None:
    result, status, message = _check(fn, {**SVM_W, "b": 0.0}, SVM_DATA, SVM_B)
    assert status == "kink", message
    assert result.ok


def test_pairs_are_checked_only_where_one_switch_element_moves_both() -> None:
    # relu(x) + min(y, 0) at the origin: two elements, one bending up and one down. Along
    # e_x + e_y both one-sided derivatives are 1 (t + 0 and -(-t) / -1), yet (0, 0) (relu'(0) =
    # 0, and min's derivative 0 for y at its tie) is a valid subgradient giving 0: no pair here
    problem = lower(Case(name="t", loss="relu(x) + min(y, 0)", params={"x": 0.0, "y": 0.0}))
    sides = KinkDetector(problem).sides(problem.point)
    assert sides.kink and sides.pairs == ()
    result = diffcmp.check(lambda x, y: (0.0, {"x": 0.0, "y": 0.0}), {"x": 0.0, "y": 0.0},
                           loss="relu(x) + min(y, 0)", engines=["torch"])
    assert result.ok, result.agreement["message"].tolist()


# --- built-in engines and the verdict's own rules ----------------------------------------------

def test_built_in_engines_at_a_kink_stay_kink_with_the_untouched_component_graded() -> None:
    # abs(x) + y^2 at (0, 1/2): x is touched ([-1, 1]); y is not, graded: 2y = 1
    result = diffcmp.compare("abs(x) + y**2", {"x": 0.0, "y": 0.5}, engines=["torch", "jax"],
                             timing=False)
    assert set(result.agreement["status"]) == {"kink"}
    assert result.exit_code == 0


def _outcome(*grad: float, loss: float = 1.0) -> Outcome:
    return Outcome(loss=loss, grad=np.array(grad, dtype=float))


def test_an_end_within_the_one_sided_quotients_error_passes() -> None:
    # abs(3w - 1) at w = 0.3333333333333333, 5.6e-17 left of its switch: the right-hand quotient
    # steps over the switch and is biased by 3 * 5.6e-17 / h: 2.9999993, not 3. An engine on the
    # other side of the switch in float64 says 3: within the quotient's error, so a kink
    problem = lower(Case(name="t", loss="abs(3*w - 1)", params={"w": 0.3333333333333333}))
    sides = KinkDetector(problem).sides(problem.point)
    assert sides.right[0] < 3 < sides.right[0] + sides.spread[0]
    reference = Outcome(loss=5.551115123125783e-17, grad=np.array([-3.0]))
    floors = FloorFinder(problem).at(problem.point)
    assert floors.loss == 1.0  # abs at its switch carries 3w's rounding: not 0
    verdict = kink_verdict("e", _outcome(3.0, loss=0.0), sides.kink or "", ["w"], sides.left,
                           sides.right, reference=reference, tolerance=1e-10, floors=floors,
                           spread=sides.spread)
    assert verdict.status == "kink", verdict.message
    verdict = kink_verdict("e", _outcome(3.0, loss=0.0), sides.kink or "", ["w"], sides.left,
                           sides.right, reference=reference, tolerance=1e-10, floors=floors)
    assert verdict.status == "mismatch"  # without the error bound, 3 is 7e-7 outside


def test_an_interval_that_is_not_known_gives_no_verdict() -> None:
    reference = _outcome(0.0, 0.0)
    for left, right in (([np.inf, 0.0], [np.inf, 0.0]),  # a jump: both sides infinite
                        ([np.nan, 0.0], [1.0, 0.0])):  # a side undefined
        verdict = kink_verdict("e", _outcome(-7.0, 0.0), "k", ["a", "b"], np.array(left),
                               np.array(right), reference=reference, tolerance=1e-10)
        assert verdict.status == "kink", (left, right, verdict.message)
    verdict = kink_verdict("e", _outcome(-7.0, 0.0), "k", ["a", "b"], np.array([0.0, 0.0]),
                           np.array([np.inf, 0.0]), reference=reference, tolerance=1e-10)
    assert verdict.status == "mismatch"  # [0, inf] is known: -7 is below it


def test_without_a_reference_gradient_the_untouched_components_meet_their_sides() -> None:
    reference = Outcome(loss=1.0, status=Status.UNDEFINED, message="undefined")
    left, right = np.array([-1.0, 2.0]), np.array([1.0, 2.0])
    ok = kink_verdict("e", _outcome(0.0, 2.0), "k", ["a", "b"], left, right,
                      reference=reference, tolerance=1e-10)
    assert ok.status == "kink"
    off = kink_verdict("e", _outcome(0.0, 2.5), "k", ["a", "b"], left, right,
                       reference=reference, tolerance=1e-10)
    assert off.status == "mismatch"
    assert off.message == "b: e 2.5 is outside 2, its derivative from both sides at the kink (k)"


def test_the_reference_row_nan_and_a_missing_gradient_keep_their_verdicts() -> None:
    left, right = np.array([-1.0]), np.array([1.0])
    reference = _outcome(0.0)
    assert kink_verdict("reference", _outcome(5.0), "k", ["a"], left, right,
                        reference=reference).status == "kink"
    assert kink_verdict("e", _outcome(np.nan), "k", ["a"], left, right,
                        reference=reference).status == "nan"
    undefined = Outcome(loss=1.0, status=Status.UNDEFINED)
    assert kink_verdict("e", undefined, "k", ["a"], left, right,
                        reference=reference).status == "kink"
    # the loss is graded first, as at a smooth point
    loss_off = kink_verdict("e", _outcome(0.0, loss=2.0), "k", ["a"], left, right,
                            reference=reference, tolerance=1e-10, floors=Floors())
    assert loss_off.status == "mismatch" and loss_off.message.startswith("loss: e 2 vs ")
