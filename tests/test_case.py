"""Case loading: the TOML contract, Python case files, array symbols by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import diffcmp
from diffcmp.symbolic.problem import lower

CASES = Path(__file__).resolve().parent.parent / "cases"


def test_seed_case_file() -> None:
    case = diffcmp.load_case(CASES / "seed_linear_regression.toml")
    assert case.name == "seed_linear_regression"
    assert case.loss == "s**2" and case.nodes == {"yhat": "w*x", "s": "yhat - y"}
    assert case.params["w"] == 1.0
    assert case.expect["loss"] == 1.0
    assert case.expect["grad"]["w"] == -2.0
    assert "seed" in case.tags


def test_integers_are_exact_in_the_language() -> None:
    problem = lower(diffcmp.Case(name="half", loss="1/2 * w**2", params={"w": 3.0}))
    w = problem.param_symbols[0]
    assert problem.loss == sp.Rational(1, 2) * w**2
    assert problem.gradient.components == (w,)


def test_vector_and_matrix_symbols_match_params_by_name() -> None:
    w = diffcmp.vector("w", 2)
    weights = diffcmp.matrix("W", 2, 2)
    assert [s.name for s in w] == ["w[0]", "w[1]"]
    assert weights[1, 0].name == "W[1,0]"
    loss = (w.T * weights * w)[0]
    result = diffcmp.compare(loss, {"w": [1.0, 2.0], "W": [[1.0, 2.0], [3.0, 4.0]]},
                             timing=False)
    # d/dw w^T W w = (W + W^T) w = [2+5*2, 5+8*2]; d/dW_ij = w_i w_j
    torch_rows = result.gradients[result.gradients["engine"] == "torch"]
    assert dict(zip(torch_rows["component"], torch_rows["value"], strict=True)) == {
        "w[0]": 12.0, "w[1]": 21.0, "W[0,0]": 1.0, "W[0,1]": 2.0, "W[1,0]": 2.0, "W[1,1]": 4.0}
    assert set(result.agreement["status"]) == {"ok"}


def test_python_case_file(tmp_path: Path) -> None:
    path = tmp_path / "quad.py"
    path.write_text(
        "import diffcmp\n"
        "w = diffcmp.vector('w', 3)\n"
        "CASE = diffcmp.Case(name='quad', loss=sum(wi**4 for wi in w), "
        "params={'w': [1.0, -2.0, 0.5]}, expect={'grad': {'w': [4.0, -32.0, 0.5]}})\n")
    case = diffcmp.load_case(path)
    assert case.source == str(path)
    result = diffcmp.run_cases([case], diffcmp.Options(timing=False))
    assert result.exit_code == 0
    assert result.expectations["holds"].all()


def test_stray_symbol_is_named(tmp_path: Path) -> None:
    x, z = sp.symbols("x z", real=True)
    with pytest.raises(diffcmp.CaseError, match="uses symbol 'z'"):
        lower(diffcmp.Case(name="stray", loss=x * z, params={"x": 1.0}))


def test_sample_points_are_seeded() -> None:
    case = diffcmp.Case(name="s", loss="sum(w**2)", params={"w": [1.0, 2.0]},
                        sample={"count": 3, "seed": 7, "low": -1.0, "high": 1.0})
    first, second = lower(case).points(), lower(case).points()
    assert len(first) == 4
    np.testing.assert_array_equal(np.array(first), np.array(second))
    assert np.all(np.abs(np.array(first[1:])) <= 1.0)


def test_compare_raises_for_a_loss_it_cannot_build() -> None:
    with pytest.raises(diffcmp.CaseError, match=r"unknown name 'design'"):
        diffcmp.compare("sum(design @ w)", {"w": [1.0, 2.0]}, timing=False)
    with pytest.raises(diffcmp.CaseError, match=r"shapes \(3, 2\) @ \(3\) do not match"):
        diffcmp.compare("sum(X @ w)", {"w": [1.0, 2.0, 3.0]}, {"X": [[1, 2], [3, 4], [5, 6]]},
                        timing=False)
