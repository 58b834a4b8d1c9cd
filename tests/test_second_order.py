"""Second order (issue 18): every engine's Hessian and Hessian-vector product graded against the
reference's, with hand-derived truths: Rosenbrock at the textbook start, a seeded quadratic
form, kinks, the size limit, ``[expect] hessian``, declarations, the tables and the files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import diffcmp
from diffcmp.cases import load_case
from diffcmp.cli import main
from diffcmp.engines.fd_central import CentralDifferenceEngine
from diffcmp.engines.fd_complex import ComplexStepEngine
from diffcmp.grading.grade import Floors, Verdict
from diffcmp.results.tables import Tables
from diffcmp.run.second import _asymmetry, tangent
from diffcmp.status import Status

CASES = Path(__file__).resolve().parent.parent / "cases"
ROSENBROCK = "100*(y - x**2)**2 + (1 - x)**2"
#: Hand-derived at (-1.2, 1): [[1200 x^2 - 400 y + 2, -400 x], [-400 x, 200]].
ROSENBROCK_H = np.array([[1330.0, 480.0], [480.0, 200.0]])
SECOND_ORDER = ("reference", "sympy", "matcalc", "torch", "jax", "fd-central", "fd-complex")


def _hessian(result: diffcmp.Result, engine: str, n: int) -> np.ndarray:
    rows = result.hessians[(result.hessians["engine"] == engine)
                           & (result.hessians["col"] != "v") & (result.hessians["point"] == 0)]
    return rows["value"].to_numpy().reshape(n, n)


def _statuses(result: diffcmp.Result, derivative: str) -> dict[str, str]:
    rows = result.agreement[(result.agreement["derivative"] == derivative)
                            & (result.agreement["point"] == 0)]
    return dict(zip(rows["engine"], rows["status"], strict=True))


@pytest.fixture(scope="module")
def rosenbrock() -> diffcmp.Result:
    return diffcmp.compare(ROSENBROCK, {"x": -1.2, "y": 1.0}, timing=False, order=2)


def test_every_engine_gives_rosenbrocks_textbook_hessian(rosenbrock: diffcmp.Result) -> None:
    statuses = _statuses(rosenbrock, "hessian")
    assert {name: statuses[name] for name in SECOND_ORDER} == dict.fromkeys(SECOND_ORDER, "ok")
    for engine in SECOND_ORDER:
        tolerance = 1e-6 if engine.startswith("fd") else 1e-12
        np.testing.assert_allclose(_hessian(rosenbrock, engine, 2), ROSENBROCK_H,
                                   rtol=tolerance)
    # forward mode computes gradients only, and says so
    assert statuses["torch-fwd"] == statuses["jax-fwd"] == "unsupported"
    message = rosenbrock.agreement.query("engine == 'jax-fwd' and derivative == 'hessian'")[
        "message"].iloc[0]
    assert message == "this engine offers no Hessian (it computes: gradient)"


def test_the_product_is_the_hessian_times_the_seeded_vector(
        rosenbrock: diffcmp.Result) -> None:
    v = tangent(2)
    expected = ROSENBROCK_H @ v
    products = rosenbrock.hessians[(rosenbrock.hessians["col"] == "v")]
    assert set(products["engine"]) == set(SECOND_ORDER)
    for engine, rows in products.groupby("engine"):
        rtol = 1e-6 if str(engine).startswith("fd") else 1e-12
        np.testing.assert_allclose(rows["value"].to_numpy(), expected, rtol=rtol)
        np.testing.assert_allclose(rows["reference"].to_numpy(), expected, rtol=1e-15)
    assert set(_statuses(rosenbrock, "hvp").values()) == {"ok", "unsupported"}


def test_a_quadratic_forms_hessian_is_a_plus_its_transpose() -> None:
    rng = np.random.default_rng(7)
    a = rng.standard_normal((30, 30))
    w = rng.standard_normal(30)
    result = diffcmp.compare("w @ A @ w", {"w": w}, {"A": a}, timing=False, order=2,
                             engines=["matcalc", "torch", "jax", "fd-central", "fd-complex"])
    assert set(_statuses(result, "hessian").values()) == {"ok"}
    for engine in ("reference", "matcalc", "torch", "jax"):
        np.testing.assert_allclose(_hessian(result, engine, 30), a + a.T, rtol=0, atol=1e-13)
    np.testing.assert_allclose(_hessian(result, "fd-complex", 30), a + a.T, atol=1e-8)


def test_logistic_regressions_product_is_printed_at_array_level() -> None:
    result = diffcmp.run_cases([load_case(CASES / "ml_logistic_regression.toml")],
                               diffcmp.Options(timing=False, order=2, engines=("matcalc",)))
    formula = result.expressions["hvp_formula"].iloc[0]
    # X.T @ diag(y^2 s(-t) s(t)) @ X applied to v: one matrix product each way, no scalar swell
    assert formula == ("t1 = y * (X @ w); (Hv)_w = X.T @ (X @ v_w * y * sigmoid(-t1) * "
                       "sigmoid(t1) * y)")
    assert set(_statuses(result, "hessian").values()) == {"ok"}
    # and the Hessian itself, as matrix calculus writes it
    assert result.expressions["hessian_formula"].iloc[0] == (
        "X.T @ diag(y * sigmoid(-(y * (X @ w))) * sigmoid(y * (X @ w)) * y) @ X")


def test_least_squares_and_ridge_hessians_are_printed_as_matrices() -> None:
    data = {"X": [[1.0, 2.0], [3.0, 4.0], [5.0, 7.0]], "y": [1.0, 2.0, 3.0], "lam": 0.5}
    ridge = diffcmp.compare("sum((X @ w - y)**2) + lam * sum(w**2)", {"w": [1.0, 2.0]}, data,
                            timing=False, order=2, engines=["matcalc"])
    assert ridge.expressions["hessian_formula"].iloc[0] == "2 * X.T @ X + 2 * lam * I"
    x = np.array(data["X"])
    np.testing.assert_allclose(_hessian(ridge, "matcalc", 2), 2 * x.T @ x + np.eye(2))


@pytest.mark.parametrize("loss", ["abs(w) + w**2", "relu(w) * 3 + w**3"])
def test_a_kink_is_a_kink_for_the_hessian_never_a_mismatch(loss: str) -> None:
    result = diffcmp.compare(loss, {"w": 0.0}, timing=False, order=2,
                             engines=["matcalc", "torch", "jax", "fd-central"])
    for derivative in ("hessian", "hvp"):
        statuses = _statuses(result, derivative)
        assert set(statuses.values()) == {"kink"}, statuses
    message = result.agreement.query("engine == 'torch' and derivative == 'hessian'")[
        "message"].iloc[0]
    assert "second derivatives are one-sided here" in message


def test_above_the_size_limit_the_hessian_is_skipped_and_the_product_still_runs() -> None:
    result = diffcmp.compare(ROSENBROCK, {"x": -1.2, "y": 1.0}, timing=False, order=2,
                             max_hessian_n=1, engines=["torch"])
    hessian = result.agreement.query("derivative == 'hessian'")
    assert set(hessian["status"]) == {"skipped"}
    assert "above max_hessian_n = 1" in hessian["message"].iloc[0]
    assert _statuses(result, "hvp") == {"reference": "ok", "torch": "ok"}
    assert result.ok


def test_expect_hessian_is_checked_against_the_reference(tmp_path: Path) -> None:
    right = diffcmp.compare(ROSENBROCK, {"x": -1.2, "y": 1.0}, timing=False,
                            engines=["torch"], expect={"hessian": ROSENBROCK_H.tolist()})
    rows = right.expectations[right.expectations["kind"] == "hessian"]
    assert rows["item"].tolist() == ["H[x, x]", "H[x, y]", "H[y, x]", "H[y, y]"]
    assert rows["holds"].all() and right.ok
    wrong = diffcmp.compare(ROSENBROCK, {"x": -1.2, "y": 1.0}, timing=False,
                            engines=["torch"], expect={"hessian": [[1330, 480], [-480, 200]]})
    assert not wrong.ok
    failed = wrong.expectations[~wrong.expectations["holds"].astype(bool)]
    assert failed["item"].tolist() == ["H[y, x]"] and failed["actual"].tolist() == [480.0]
    with pytest.raises(diffcmp.CaseError, match=r"expect.hessian has shape \(2,\), but the "
                       "params have 2 components: it must be 2 x 2"):
        diffcmp.compare(ROSENBROCK, {"x": -1.2, "y": 1.0}, expect={"hessian": [1, 2]})


def test_the_built_in_rosenbrock_case_expects_its_hessian() -> None:
    case = load_case(CASES / "testfn_rosenbrock.toml")
    assert case.order == 2
    np.testing.assert_array_equal(case.expect["hessian"], ROSENBROCK_H)


def test_a_declared_second_order_failure_passes_and_an_undeclared_one_fails() -> None:
    # a gradient tolerance of 1e-14 scales fd-central's second-order 1e-4 to 1e-12, below its
    # second differences' error on Rosenbrock (~1e-9)
    strict = {"tolerance": {"fd-central": 1e-14}}
    undeclared = diffcmp.compare(ROSENBROCK, {"x": -1.2, "y": 1.0}, timing=False, order=2,
                                 engines=["fd-central"], **strict)
    assert _statuses(undeclared, "hessian")["fd-central"] == "mismatch"
    assert not undeclared.ok
    declared = diffcmp.compare(
        ROSENBROCK, {"x": -1.2, "y": 1.0}, timing=False, order=2, engines=["fd-central"],
        expect={"status": {"fd-central": "mismatch"},
                "hessian_status": {"fd-central": "mismatch"},
                "hvp_status": {"fd-central": "mismatch"}}, **strict)
    assert declared.ok, declared.failing()[["engine", "derivative", "status"]]


def test_a_case_file_asks_for_order_two_and_refuses_other_orders(tmp_path: Path) -> None:
    path = tmp_path / "quad.toml"
    path.write_text('loss = "x**2 * y"\norder = 2\n[params]\nx = 1.5\ny = -2.0\n')
    result = diffcmp.run_cases([load_case(path)], diffcmp.Options(timing=False,
                                                                  engines=("matcalc",)))
    np.testing.assert_allclose(_hessian(result, "matcalc", 2), [[-4.0, 3.0], [3.0, 0.0]])
    path.write_text('loss = "x**2"\norder = 3\n[params]\nx = 1.5\n')
    with pytest.raises(diffcmp.CaseError, match="'order' must be 1 or 2, not 3"):
        load_case(path)


def test_second_differences_and_complex_step_differences_are_accurate() -> None:
    def f(x: np.ndarray) -> object:
        return x[0] ** 3 * x[1] + np.sin(x[1])

    x = np.array([0.7, -1.3])
    exact = np.array([[6 * 0.7 * -1.3, 3 * 0.7**2], [3 * 0.7**2, -np.sin(-1.3)]])
    engine = CentralDifferenceEngine()
    np.testing.assert_allclose(engine.hessian(f, x), exact, rtol=1e-6)
    np.testing.assert_allclose(ComplexStepEngine().hessian(f, x), exact, rtol=1e-9)
    v = np.array([0.5, 2.0])
    np.testing.assert_allclose(engine.hvp(f, x, v), exact @ v, rtol=1e-6)
    np.testing.assert_allclose(ComplexStepEngine().hvp(f, x, v), exact @ v, rtol=1e-9)


def test_an_asymmetric_hessian_is_reported_as_such() -> None:
    verdict = Verdict(Status.MISMATCH, 0.5, 0.5, "H[b, a]: engine 3 vs reference 2")
    asymmetric = np.array([[1.0, 2.0], [3.0, 4.0]]).ravel()
    noted = _asymmetry(verdict, asymmetric, 2, ["a", "b"], 1e-9, Floors())
    assert noted.message.endswith("asymmetric beyond rounding: H[a, b] = 2 but H[b, a] = 3")
    symmetric = np.array([[1.0, 2.0], [2.0, 4.0]]).ravel()
    assert _asymmetry(verdict, symmetric, 2, ["a", "b"], 1e-9, Floors()) == verdict


def test_the_command_line_writes_the_hessians_and_results_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["run", str(CASES / "seed_linear_regression.toml"), "--order", "2",
                 "--engines", "torch,matcalc", "--out", str(out), "--no-timing",
                 "--quiet"]) == 0
    hessians = pd.read_csv(out / "hessians.csv")
    assert list(hessians.columns) == ["case", "point", "engine", "row", "col", "value",
                                      "reference"]
    # loss (y - w x)^2 at x = 1: d2/dw2 = 2 x^2 = 2, in every engine
    entry = hessians[(hessians["col"] == "w")]
    assert entry["value"].tolist() == [2.0, 2.0, 2.0]
    text = (out / "results.json").read_text()
    back = Tables.from_json(text)
    assert back.hessians.equals(hessians) or back.hessians["value"].tolist() == \
        hessians["value"].tolist()
    assert set(back.agreement["derivative"]) == {"gradient", "hessian", "hvp"}
    # a version 3 file has no derivative column: every row is the gradient's
    payload = json.loads(text)
    payload["format_version"] = 3
    for row in payload["agreement"]:
        del row["derivative"]
    old = Tables.from_json(json.dumps(payload))
    assert set(old.agreement["derivative"]) == {"gradient"}


def test_a_first_order_run_has_no_second_order_rows(tmp_path: Path) -> None:
    result = diffcmp.compare("w**2", {"w": 3.0}, timing=False, engines=["torch"])
    assert set(result.agreement["derivative"]) == {"gradient"}
    assert result.hessians.empty
