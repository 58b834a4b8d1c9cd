"""The grading floor (issue 9, item 6): derived from the case, so that a tiny gradient that is 100%
off is a mismatch while a component lost in float64 cancellation is not; and values that exist
beyond float64's range (issue 9, item 9). Every expected value is hand-derived beside it."""

from __future__ import annotations

import math

import numpy as np
import pytest

import diffcmp
from diffcmp.grading.grade import Floors, Outcome, grade, rho


def _rows(result: diffcmp.Result) -> dict[str, dict[str, object]]:
    return {row["engine"]: row for row in result.agreement.to_dict("records")}


def test_a_tiny_gradient_is_graded_relative_to_its_own_size() -> None:
    # 1e-11 * sin(w) at w = 1: gradient 1e-11 cos(1) = 5.403e-12. Its floor is the rounding bound
    # of 1e-11 * cos(w): cos rounds (|cos 1|, times 1e-11) and the product rounds (|5.4e-12|),
    # so 2 * 5.403e-12.
    result = diffcmp.compare("1e-11*sin(w)", {"w": 1.0}, timing=False)
    rows = _rows(result)
    assert rows["torch"]["status"] == "ok"
    floor = float(rows["torch"]["floor"])
    assert floor == pytest.approx(2e-11 * math.cos(1.0), rel=1e-12)
    # a gradient ten times too large (the hand-written -2e-11 sin(w) for 2e-12 cos(w) kind of
    # bug) is a mismatch above this floor, though ADBench's rho calls it 4.9e-11: "ok"
    truth = Outcome(loss=1e-11 * math.sin(1.0), grad=np.array([1e-11 * math.cos(1.0)]))
    wrong = Outcome(loss=truth.loss, grad=truth.grad * 10)
    verdict = grade("mine", wrong, truth, ["w"], 1e-10, Floors(1e-11, np.array([floor])))
    assert verdict.status == "mismatch"
    assert verdict.rho_adbench == pytest.approx(9 * 5.403023058681398e-12, rel=1e-9)
    assert verdict.rho_adbench < 1e-10  # what ADBench's fixed floor would have let through


def test_an_expected_zero_gradient_fails_where_the_truth_is_tiny() -> None:
    # the truth is 5.4e-12; "grad = 0" is 100% off, above the floor 1.08e-11: rho = 0.5
    result = diffcmp.compare("1e-11*sin(w)", {"w": 1.0}, timing=False,
                             expect={"grad": {"w": 0.0}})
    assert not bool(result.expectations["holds"].iloc[0])
    assert result.exit_code == 1


def test_a_component_lost_in_cancellation_is_not_a_mismatch() -> None:
    # d/dw tanh(w) = 1 - tanh(w)**2 = 1.7e-17 at w = 20, but tanh(20) rounds to 1 in float64, so
    # every float64 engine gives 0: 100% off, yet within float64's reach of terms of size 1
    result = diffcmp.compare("tanh(w)", {"w": 20.0}, timing=False)
    rows = _rows(result)
    for engine in ("sympy", "torch", "jax"):
        assert rows[engine]["status"] == "ok"
        assert rows[engine]["floor"] == 1.0  # the bound (3) is capped at ADBench's 1
    values = result.gradients[result.gradients["engine"] == "torch"]
    assert float(values["value"].iloc[0]) == 0.0
    assert float(values["reference"].iloc[0]) == pytest.approx(4 * math.exp(-40), rel=1e-6)


def test_the_floor_never_exceeds_adbench() -> None:
    # exp(w) - w at 1e-10: gradient exp(w) - 1 = 1e-10, from terms of size 1 (bound > 1)
    result = diffcmp.compare("exp(w) - w", {"w": 1e-10}, timing=False)
    assert set(result.agreement["status"]) == {"ok"}
    assert result.agreement["floor"].dropna().max() == 1.0
    assert float(rho(1.0, 1.0 + 1e-12, 0.0)) == pytest.approx(0.5e-12, rel=1e-3)
    assert float(rho(0.0, 0.0, 0.0)) == 0.0  # equal values are no error, even below no floor


def test_a_value_beyond_float64_exists_and_every_float64_engine_overflows() -> None:
    # exp(710) = 2.2339948e308 > 1.797e308: the loss exists, so the point is not undefined
    result = diffcmp.compare("exp(a)", {"a": 710.0}, timing=False)
    rows = _rows(result)
    assert rows["reference"]["status"] == "ok"
    assert "2.2339948e+308" in str(rows["reference"]["message"])
    for engine in ("sympy", "torch", "jax", "fd-complex"):
        assert rows[engine]["status"] == "nan"
        assert "overflow" in str(rows[engine]["cause"])
    assert "undefined" not in set(result.agreement["status"])


def test_a_loss_that_sympy_folds_to_a_constant_is_still_graded() -> None:
    # exp(a) * exp(-a) is 1 with gradient 0 (SymPy folds it to 1), as written it uses a
    result = diffcmp.compare("exp(a)*exp(-a)", {"a": 3.0}, timing=False)
    assert set(result.agreement["status"]) == {"ok"}
    assert result.gradients[result.gradients["engine"] == "reference"]["value"].tolist() == [0.0]
