"""GradBench's evals as built-in cases (cases/gradbench/): their inputs are GradBench's (its
generators at its sizes), their definitions GradBench's, and their [expect] values are derived
here by hand in mpmath at 50 digits, by methods other than diffcmp's (the built-in suite checks
those values against diffcmp's reference)."""

from __future__ import annotations

from pathlib import Path

import mpmath
import numpy as np
import pytest

import diffcmp

GRADBENCH = Path(__file__).resolve().parent.parent / "cases" / "gradbench"
SWEEPS = GRADBENCH.parent / "sweeps"


def _mp(values: np.ndarray) -> list:
    return [mpmath.mpf(float(v)) for v in np.ravel(values)]


def _gradbench_rand(*shape: int) -> np.ndarray:
    """What GradBench's generators draw: np.random.seed(31337); np.random.rand(...)."""
    return np.random.RandomState(31337).rand(*shape)


def test_lse_inputs_and_the_expected_loss_by_hand() -> None:
    shifted = diffcmp.load_case(GRADBENCH / "lse.toml")
    plain = diffcmp.load_case(GRADBENCH / "lse_plain.toml")
    x = _gradbench_rand(2500)
    np.testing.assert_array_equal(shifted.params["x"], x)
    np.testing.assert_array_equal(plain.params["x"], x)
    assert shifted.loss == "max(x) + log(sum(exp(x - max(x))))"
    assert plain.loss == "log(sum(exp(x)))"
    with mpmath.workdps(50):
        xs = _mp(x)
        top = max(xs)
        loss = top + mpmath.log(mpmath.fsum(mpmath.exp(v - top) for v in xs))
        # the same number without the shift: nothing overflows for x in [0, 1)
        assert abs(loss - mpmath.log(mpmath.fsum(mpmath.exp(v) for v in xs))) < mpmath.mpf(
            "1e-45")
    assert shifted.expect["loss"] == plain.expect["loss"] == float(loss)
    assert "gradbench" in shifted.tags and "gradbench" in plain.tags


def _laplace(rows: list[int], cols: list[int]) -> str:
    """det_of_minor's recursion (cmpad, GradBench's det.hpp) written out: expand along the first
    remaining row, signs alternating over the remaining columns."""
    if len(rows) == 1:
        return f"A[{rows[0]}, {cols[0]}]"
    terms = []
    for j, col in enumerate(cols):
        minor = _laplace(rows[1:], cols[:j] + cols[j + 1:])
        term = f"A[{rows[0]}, {col}] * " + (minor if len(rows) == 2 else f"({minor})")
        terms.append(term if j == 0 else ("- " if j % 2 else "+ ") + term)
    return " ".join(terms)


def test_det_is_the_expansion_by_minors_and_its_values_by_lu_by_hand() -> None:
    case = diffcmp.load_case(GRADBENCH / "det.toml")
    assert case.loss == _laplace(list(range(5)), list(range(5)))
    assert case.loss.count("A[") == 5 + 20 + 60 + 120 + 120  # one entry per expansion node
    a = _gradbench_rand(25).reshape(5, 5)  # GradBench's A, row-major
    np.testing.assert_array_equal(case.params["A"], a)
    with mpmath.workdps(50):
        m = mpmath.matrix([_mp(row) for row in a])
        det = mpmath.det(m)  # LU with pivoting: not the expansion
        inverse = m ** -1
        # Jacobi's formula: d det / d A[i, j] = det * inv(A)[j, i]
        grad = [[float(det * inverse[j, i]) for j in range(5)] for i in range(5)]
    assert case.expect["loss"] == float(det)
    np.testing.assert_array_equal(case.expect["grad"]["A"], grad)


def test_kmeans_inputs_and_its_values_by_hand() -> None:
    case = diffcmp.load_case(GRADBENCH / "kmeans.toml")
    points = _gradbench_rand(40, 4)
    np.testing.assert_array_equal(case.data["P"], points)
    np.testing.assert_array_equal(case.params["C"], points[-4:])  # GradBench: the last k points
    with mpmath.workdps(50):
        centroids = [_mp(c) for c in points[-4:]]
        cost = mpmath.mpf(0)
        grad = [[mpmath.mpf(0)] * 4 for _ in range(4)]
        for p in (_mp(row) for row in points):
            distances = [mpmath.fsum((pk - ck) ** 2 for pk, ck in zip(p, c, strict=True))
                         for c in centroids]
            nearest = min(range(4), key=distances.__getitem__)
            assert sorted(distances)[1] - distances[nearest] > mpmath.mpf("1e-3")  # no tie
            cost += distances[nearest]
            for k in range(4):
                grad[nearest][k] += 2 * (centroids[nearest][k] - p[k])
    assert case.expect["loss"] == float(cost)
    np.testing.assert_array_equal(case.expect["grad"]["C"],
                                  [[float(g) for g in row] for row in grad])


def test_the_llsq_sweep_is_gradbench_llsq_and_its_loss_by_hand() -> None:
    case = diffcmp.load_case(SWEEPS / "llsq.toml")
    assert case.size == 16  # GradBench's smallest n
    n, m = 16, 16
    np.testing.assert_allclose(case.data["t"], [-1 + i * 2 / (n - 1) for i in range(n)],
                               rtol=0, atol=1e-15)
    np.testing.assert_array_equal(case.data["j"], np.arange(m))
    np.testing.assert_array_equal(case.params["x"], _gradbench_rand(m))
    with mpmath.workdps(50):  # llsq.hpp's primal: 0.5 * sum_i (s(t_i) - sum_j x_j t_i^j)^2
        x = _mp(case.params["x"])
        total = mpmath.mpf(0)
        for i in range(n):
            t = mpmath.mpf(-1) + mpmath.mpf(2 * i) / (n - 1)
            total += (mpmath.sign(t) - mpmath.fsum(x[j] * t**j for j in range(m))) ** 2
    assert case.expect["loss"] == pytest.approx(float(total / 2), rel=1e-15)
    assert "loss" not in case.at_size(64).expect  # a value at the run size only


def test_the_lse_sweep_draws_gradbench_inputs_at_every_size() -> None:
    case = diffcmp.load_case(SWEEPS / "lse.toml")
    for n in (100, 2500):
        np.testing.assert_array_equal(case.at_size(n).params["x"], _gradbench_rand(n))


@pytest.mark.slow
def test_the_reference_gradient_of_lse_is_softmax_by_hand() -> None:
    case = diffcmp.load_case(GRADBENCH / "lse.toml")
    result = diffcmp.run_cases([case], diffcmp.Options(engines=("matcalc",), timing=False))
    assert result.exit_code == 0
    gradients = result.gradients[result.gradients["engine"] == "reference"]
    with mpmath.workdps(50):
        xs = _mp(case.params["x"])
        top = max(xs)
        weights = [mpmath.exp(v - top) for v in xs]
        total = mpmath.fsum(weights)
        softmax = np.array([float(w / total) for w in weights])
    np.testing.assert_allclose(gradients["reference"].to_numpy(), softmax, rtol=1e-15, atol=0)
