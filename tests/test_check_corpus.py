# ruff: noqa: N803, N806  (course-assignment names: W, X, Y)
"""diffcmp.check on a corpus of hand-written NumPy gradients (tests/check_corpus.py): every
correct version passes, every buggy one fails naming a component it really gets wrong, with and
without ``loss=``; and the black-box plumbing (kinks, ties, NaN, exceptions, integer labels,
N-d params, bare gradients, signatures, fast mode)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from check_corpus import families, named, wrong_components

import diffcmp

FAMILIES = {family.name: family for family in families()}


def _check(fn, family, loss, **kwargs) -> tuple[diffcmp.Result, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the NaN family's own overflow
        result = diffcmp.check(fn, family.params, family.data, loss=loss, **kwargs)
    rows = result.agreement[result.agreement["engine"] == fn.__name__]
    return result, rows.iloc[0].to_dict()


def _modes(with_loss: bool):
    out = []
    for name, family in FAMILIES.items():
        if with_loss and family.loss is None:
            continue
        out.append(pytest.param(name, family.loss if with_loss else None,
                                id=f"{name}-{'loss' if with_loss else 'blackbox'}"))
    return out


@pytest.mark.parametrize(("name", "loss"), _modes(False) + _modes(True))
def test_a_correct_gradient_passes(name: str, loss: str | None) -> None:
    family = FAMILIES[name]
    result, row = _check(family.correct, family, loss)
    assert result.ok, row["message"]
    assert row["status"] in ("ok", "kink")


@pytest.mark.parametrize(("name", "loss"), _modes(False) + _modes(True))
def test_a_buggy_gradient_fails_naming_a_wrong_component(name: str, loss: str | None) -> None:
    family = FAMILIES[name]
    result, row = _check(family.buggy, family, loss)
    assert not result.ok, row["message"]
    if name == "softmax_nan":  # the loss overflows: not finite, said so
        assert row["status"] in ("nan", "undefined")
        assert "overflow in numpy's exp" in row["message"]
        return
    assert row["status"] == "mismatch"
    assert named(row["message"]) in wrong_components(family), row["message"]


def test_the_corpus_covers_what_the_issue_asks() -> None:
    tags = {tag for family in FAMILIES.values() for tag in family.tags}
    assert len(FAMILIES) >= 12
    assert {"tie", "beside a kink", "NaN", "integer labels", "3-d weight"} <= tags


# -- kinks without loss= --------------------------------------------------------------------------

def test_relu_at_zero_is_a_kink_not_a_mismatch() -> None:
    def relu(w):
        return np.maximum(w, 0).sum(), (w > 0).astype(float)

    result = diffcmp.check(relu, {"w": np.array([0.0, 1.0, -2.0])})
    assert result.ok
    row = result.agreement.iloc[1]
    assert row["status"] == "kink"
    assert row["message"].startswith("kink at w[0]: one-sided derivatives differ (w[0]: 0 left "
                                     "/ 1 right, relu 0 between them)")
    assert list(result.one_sided["component"]) == ["w[0]"]


def test_a_value_outside_the_one_sided_derivatives_is_a_mismatch() -> None:
    def relu(w):
        return np.maximum(w, 0).sum(), np.where(w == 0, 2.0, (w > 0).astype(float))

    result = diffcmp.check(relu, {"w": np.array([0.0, 1.0])})
    row = result.agreement.iloc[1]
    assert row["status"] == "mismatch" and row["message"].startswith("w[0]: relu 2, outside")


def test_a_gradient_routed_to_both_tied_inputs_is_named_by_the_pair() -> None:
    def maxpool(x):  # each tied input gets the whole gradient: 1 + 1 along x[1] + x[2]
        return x.max(), (x == x.max()).astype(float)

    result = diffcmp.check(maxpool, {"x": np.array([1.0, 3.0, 3.0])})
    row = result.agreement.iloc[1]
    assert row["status"] == "mismatch"
    assert row["message"].startswith("along x[1] + x[2]: maxpool 2 vs reference 1")


# -- the same behaviour in both modes -------------------------------------------------------------

@pytest.mark.parametrize("loss", [None, "sum(w**2)"], ids=["blackbox", "loss"])
def test_an_exception_in_the_function_is_an_error_row(loss: str | None) -> None:
    def broken(w):
        raise ValueError("boom")

    result = diffcmp.check(broken, {"w": np.array([1.0, 2.0])}, loss=loss)
    assert not result.ok
    row = result.agreement[result.agreement["engine"] == "broken"].iloc[0]
    assert row["status"] == "error" and row["message"].startswith("ValueError: boom")


@pytest.mark.parametrize("loss", [None, "sum(w**2)"], ids=["blackbox", "loss"])
def test_a_nan_gradient_fails_naming_the_component(loss: str | None) -> None:
    def half_nan(w):
        return np.sum(w**2), np.array([2 * w[0], np.nan])

    result = diffcmp.check(half_nan, {"w": np.array([1.0, 2.0])}, loss=loss)
    row = result.agreement[result.agreement["engine"] == "half_nan"].iloc[0]
    assert not result.ok and row["status"] == "nan"
    assert row["message"].startswith("w[1]: half_nan nan")


def test_a_nan_loss_fails_even_where_undefined_points_are_allowed_only_with_the_flag() -> None:
    def nan_loss(w):
        return np.sum(w) * np.nan, {"w": np.ones_like(w)}

    result = diffcmp.check(nan_loss, {"w": np.array([1.0])})
    row = result.agreement.iloc[1]
    assert not result.ok and row["status"] == "nan"
    assert row["message"].startswith("loss: nan_loss nan, the first non-finite output")


def test_integer_labels_keep_their_dtype_also_in_the_complex_step() -> None:
    seen = []

    def picked(w, y):
        seen.append(y.dtype)
        return np.sum(w[y] ** 2), {"w": np.bincount(y, weights=2 * w[y], minlength=3)}

    result = diffcmp.check(picked, {"w": np.array([1.0, 2.0, 3.0])}, {"y": np.array([0, 2, 2])})
    assert result.ok
    assert set(seen) == {np.dtype(np.int64)}  # the complex step too (bincount refuses it)


def test_a_single_param_may_return_its_gradient_alone_and_fn_gets_what_it_names() -> None:
    def f(W, X):  # a 3-d param, a 3-d datum; 'unused' is not in the signature
        return np.sum(W * X), X

    X = np.arange(24.0).reshape(2, 3, 4)
    result = diffcmp.check(f, {"W": np.ones((2, 3, 4))}, {"X": X, "unused": "text"})
    assert result.ok
    assert result.gradients["component"].iloc[-1] == "W[1,2,3]"
    with pytest.raises(diffcmp.DiffcmpError, match="does not take the param 'V'"):
        diffcmp.check(f, {"W": np.ones(2), "V": np.ones(2)}, {"X": np.ones(2)})


def test_check_with_a_loss_runs_the_reference_and_your_row_unless_asked() -> None:
    def sq(w):
        return np.sum(w**2), 2 * w

    result = diffcmp.check(sq, {"w": np.array([1.0, 2.0])}, loss="sum(w**2)")
    assert list(result.agreement["engine"]) == ["reference", "sq"]
    more = diffcmp.check(sq, {"w": np.array([1.0, 2.0])}, loss="sum(w**2)", engines=["sympy"])
    assert list(more.agreement["engine"]) == ["reference", "sympy", "sq"]


# -- fast mode ------------------------------------------------------------------------------------

def _quadratic(n: int, bad: int | None):
    rng = np.random.default_rng(3)
    A = rng.standard_normal((n, n)) / np.sqrt(n)

    def quad(w):
        g = 0.5 * (A @ w + A.T @ w)
        if bad is not None:
            g[bad] *= 1.001
        return 0.5 * w @ (A @ w) + np.sum(np.cos(w)), g - np.sin(w)

    return quad, {"w": rng.standard_normal(n)}


def test_fast_mode_passes_a_correct_gradient_and_names_one_wrong_component() -> None:
    quad, params = _quadratic(200, None)
    result = diffcmp.check(quad, params)
    assert result.ok and result.meta["fd_reference"]["mode"] == "fast"
    assert "4 random directional derivatives" in result.agreement.iloc[0]["message"]
    quad, params = _quadratic(200, 137)
    result = diffcmp.check(quad, params)
    row = result.agreement.iloc[1]
    assert row["status"] == "mismatch" and row["message"].startswith("w[137]: quad ")


@pytest.mark.slow
def test_the_per_component_check_names_the_same_component() -> None:
    quad, params = _quadratic(200, 137)
    slow = diffcmp.check(quad, params, fast=False)
    assert slow.agreement.iloc[1]["message"].startswith("w[137]: quad ")
