"""The built-in suite, agreement only: every case's statuses against a table of what is expected."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import diffcmp
from diffcmp.cases import discover, load_cases
from diffcmp.engines import ENGINE_NAMES
from diffcmp.registry import default_engine_names

CASES = Path(__file__).resolve().parent.parent / "cases"

KINK = {**dict.fromkeys(ENGINE_NAMES, "kink"), "fd-complex": "unsupported"}
NO_COMPLEX_STEP = {"fd-complex": "unsupported"}
FLOAT64 = ("sympy", "matcalc", "torch", "torch-fwd", "jax", "jax-fwd", "fd-central", "fd-complex")

#: Statuses that are not "ok", per case and engine (at every point of the case). Each entry says
#: why: a kink, a non-analytic loss for complex step, or a declared float64 failure. The forward
#: engines (torch-fwd, jax-fwd) compute the same loss in the same ops as torch and jax, so they
#: share every float64 failure and every kink; they differ only where the two modes' local rules
#: differ, at a where (below).
EXPECTED: dict[str, dict[str, str]] = {
    "kink_abs_at_zero": KINK,
    "kink_max_tie": KINK,
    "kink_relu_at_zero": KINK,
    # C^1 at the where boundary (equal slopes): graded; the curvature jump costs central
    # differences h/2 (declared)
    "kink_where_boundary": {"fd-central": "mismatch", "fd-complex": "unsupported"},
    "kink_abs_away": NO_COMPLEX_STEP,
    "kink_heaviside_away": NO_COMPLEX_STEP,
    "kink_max_away": NO_COMPLEX_STEP,
    "kink_relu_away": NO_COMPLEX_STEP,
    "kink_where_away": NO_COMPLEX_STEP,
    "ml_hinge_svm": NO_COMPLEX_STEP,
    "ml_huber_regression": NO_COMPLEX_STEP,
    "ml_lasso": NO_COMPLEX_STEP,
    # float64 cancellation in 1 - cos(x) at 1e-4: every float64 engine misses (declared)
    "num_cos_cancellation": dict.fromkeys(FLOAT64, "mismatch"),
    # exp(1000) overflows float64 (declared); the reference is finite
    "num_logsumexp_naive": dict.fromkeys(FLOAT64, "nan"),
    # the central-difference step is wider than the smoothing width 1e-6 (declared)
    "num_sqrt_smoothed_abs": {"fd-central": "mismatch"},
    # edge cases (issue 9): each declares the float64 engines' known failure
    "edge_abs_rounding": KINK,
    "edge_max_rounding": KINK,
    "edge_cancellation_tiny": dict.fromkeys(FLOAT64, "mismatch"),
    "edge_log1m_tanh": dict.fromkeys(FLOAT64, "nan"),
    # matcalc's norm rule and PyTorch (both modes: vector_norm's JVP at 0 is 0 too) give the
    # subgradient 0; SymPy and JAX (both modes: sqrt's derivative at 0 is inf, times 0) give NaN
    "edge_norm_at_center": {"reference": "kink", "sympy": "nan", "matcalc": "kink",
                            "torch": "kink", "torch-fwd": "kink", "jax": "nan", "jax-fwd": "nan",
                            "fd-central": "kink", "fd-complex": "kink"},
    # the where trap is reverse mode's: the untaken branch's zero adjoint times its infinite
    # local derivative is NaN. Forward mode has none: the where selects the taken branch's
    # tangent and drops the untaken one's (inf), never multiplying it by 0. So torch-fwd and
    # jax-fwd are right (ok) where torch and jax are NaN (declared), and at the sqrt(0)
    # boundary they give the taken branch's 0, the left derivative (kink).
    "edge_where_data_log": {"torch": "nan", "jax": "nan", "fd-complex": "unsupported"},
    "edge_where_sqrt_zero": {**KINK, "torch": "nan", "jax": "nan"},
    "edge_where_trap": {"torch": "nan", "jax": "nan", "fd-complex": "unsupported"},
    "edge_written_domain": dict.fromkeys(ENGINE_NAMES, "undefined"),
    # the origin is Ackley's cone point, a kink: the engines that differentiate sqrt at 0 (in
    # either mode) give NaN where a subgradient exists (declared)
    "testfn_ackley_min": {"reference": "kink", "sympy": "nan", "matcalc": "nan", "torch": "nan",
                          "torch-fwd": "nan", "jax": "nan", "jax-fwd": "nan",
                          "fd-central": "kink", "fd-complex": "kink"},
    # GradBench's evals (cases/gradbench/) and the built-in sweeps at their run sizes
    # (cases/sweeps/): max (and min, sign) are not analytic; SymPy's scalar max over n entries
    # costs n^2 operations, so the sympy engine skips itself (with its estimate)
    "gradbench_lse": {"sympy": "skipped", "fd-complex": "unsupported"},
    "gradbench_kmeans": NO_COMPLEX_STEP,
    "sweep_gradbench_lse": {"sympy": "skipped", "fd-complex": "unsupported"},
    "sweep_gradbench_llsq": NO_COMPLEX_STEP,
    # reductions and scans (issue 19): sort is not analytic
    "ranking_sort": NO_COMPLEX_STEP,
}


#: The default run grades the cases whose statuses the table spells out (every kink, edge and
#: declared failure; one of the cases that only complex step cannot express) and the two
#: below; the slow run grades the whole suite, GradBench's evals and the sweeps included (their
#: values are checked by hand in test_gradbench.py and test_sweep.py).
QUICK = {*EXPECTED, "seed_linear_regression", "num_logsumexp_stable"} - {
    "kink_heaviside_away", "kink_max_away", "kink_relu_away", "kink_where_away", "ml_hinge_svm",
    "ml_huber_regression", "ml_lasso", "gradbench_lse", "gradbench_kmeans",
    "sweep_gradbench_lse", "sweep_gradbench_llsq"}


def builtin_cases(names: set[str] | None = None) -> list[diffcmp.Case]:
    """The built-in suite's cases (those named in ``names``, if given)."""
    return [case for path in discover([CASES]) for case in load_cases(path)
            if names is None or case.name in names]


@pytest.fixture(scope="module")
def suite() -> diffcmp.Result:
    return diffcmp.run_cases(builtin_cases(QUICK), diffcmp.Options(timing=False))


def assert_statuses_as_the_table_expects(result: diffcmp.Result) -> None:
    """Every engine's statuses on every case's gradient are those of ``EXPECTED`` (``ok``
    elsewhere; second order is declared by the cases themselves)."""
    gradient = result.agreement[result.agreement["derivative"] == "gradient"]
    for case, rows in gradient.groupby("case"):
        expected = {engine: EXPECTED.get(case, {}).get(engine, "ok")
                    for engine in default_engine_names()}
        seen = {engine: "/".join(sorted(set(group["status"])))
                for engine, group in rows.groupby("engine")}
        assert seen == expected, case


def test_the_cases_the_table_names_have_its_statuses_and_pass(suite: diffcmp.Result) -> None:
    assert suite.errors.empty
    assert set(suite.agreement["case"]) == QUICK
    assert_statuses_as_the_table_expects(suite)
    assert suite.exit_code == 0
    assert suite.expectations["holds"].all()


@pytest.mark.slow
def test_the_whole_suite_passes_with_the_statuses_the_table_expects() -> None:
    result = diffcmp.run_cases(builtin_cases(), diffcmp.Options(timing=False))
    assert result.errors.empty
    assert result.agreement["case"].nunique() >= 30
    assert_statuses_as_the_table_expects(result)
    assert set(EXPECTED) <= set(result.agreement["case"])
    assert result.exit_code == 0
    assert result.expectations["holds"].all()


def test_seed_case_gives_minus_two_in_every_engine(suite: diffcmp.Result) -> None:
    rows = suite.gradients[suite.gradients["case"] == "seed_linear_regression"]
    assert rows["engine"].tolist() == list(default_engine_names())
    assert rows["value"].tolist() == [-2.0] * len(default_engine_names())
    losses = suite.agreement[suite.agreement["case"] == "seed_linear_regression"]["loss"]
    assert losses.tolist() == [1.0] * len(default_engine_names())


def test_naive_logsumexp_overflows_but_the_reference_is_right(suite: diffcmp.Result) -> None:
    exact = 1000.5 + math.log(1 + math.exp(-0.5) + math.exp(-1.5))
    for name in ("num_logsumexp_naive", "num_logsumexp_stable"):
        rows = suite.agreement[suite.agreement["case"] == name].set_index("engine")
        assert rows.loc["reference", "loss"] == pytest.approx(exact, rel=1e-15)
    stable = suite.agreement[suite.agreement["case"] == "num_logsumexp_stable"]
    assert set(stable["status"]) == {"ok"}
    naive = suite.agreement[suite.agreement["case"] == "num_logsumexp_naive"].set_index("engine")
    assert math.isinf(naive.loc["torch", "loss"])


def test_every_case_is_described_and_tagged() -> None:
    kinds = {"ml": 10, "testfn": 8, "numerics": 6, "nonsmooth": 4, "seed": 1}
    counts = dict.fromkeys(kinds, 0)
    for path in discover([CASES]):
        for case in load_cases(path):
            assert case.description, case.name
            assert case.tags, case.name
            for tag in kinds:
                counts[tag] += tag in case.tags
    assert all(counts[tag] >= n for tag, n in kinds.items()), counts


@pytest.mark.slow
def test_the_whole_suite_passes_at_second_order() -> None:
    """``diffcmp run cases/ --order 2``: every Hessian and product agrees, or fails as its case
    declares ([expect.hessian_status], [expect.hvp_status]), and Rosenbrock's textbook Hessian
    holds."""
    result = diffcmp.run_cases(builtin_cases(), diffcmp.Options(timing=False, order=2))
    assert result.errors.empty
    assert result.exit_code == 0, result.failing()[["case", "engine", "derivative", "status"]]
    second = result.agreement[result.agreement["derivative"] != "gradient"]
    assert set(second["case"]) == set(result.agreement["case"])
    assert (second["status"] == "ok").sum() > 0.6 * len(second)
    hessian = result.expectations[result.expectations["kind"] == "hessian"]
    assert hessian["holds"].all()
    rosenbrock = hessian[hessian["case"] == "testfn_rosenbrock"]
    assert rosenbrock["item"].tolist() == ["H[x, x]", "H[x, y]", "H[y, x]", "H[y, y]"]
