"""The built-in optional engines pytensor, casadi and fd-richardson (issue 20): their op tables
against the spec, gradients graded ``ok`` against hand-derived values, fd-richardson's floor from
its error estimate, and a framework that is missing being ``unsupported`` naming its extra."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import casadi
import numdifftools
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from diffcmp.api import run_cases
from diffcmp.cases import load_cases
from diffcmp.engines import optional
from diffcmp.engines.optable_check import check_op_table
from diffcmp.errors import UnsupportedError
from diffcmp.grading.grade import Floors
from diffcmp.ops import casadi as casadi_ops
from diffcmp.ops import pytensor as pytensor_ops
from diffcmp.ops.spec import SPEC
from diffcmp.registry import REGISTRY, default_engine_names, engine_names, get_engine
from diffcmp.run.options import Options
from diffcmp.symbolic.problem import lower

CASES = Path(__file__).parent.parent / "cases"
ENGINES = ("pytensor", "casadi", "fd-richardson")
#: Evaluating constants without rewrites or C: the table's values, quickly.
_PLAIN = pytensor.compile.mode.Mode(linker="py", optimizer=None)


def _pytensor_value(value: Any) -> np.ndarray:
    return np.asarray(pytensor.function([], pt.as_tensor_variable(value), mode=_PLAIN)())


def test_the_pytensor_table_is_the_whole_spec_and_computes_its_values() -> None:
    assert check_op_table(pytensor_ops.OPS, pt.constant, _pytensor_value, complete=True) == []


def test_the_casadi_table_computes_the_spec_values_and_says_why_it_lacks_the_others() -> None:
    problems = check_op_table(casadi_ops.OPS, casadi_ops.array, casadi_ops.to_numpy)
    assert len(problems) == 1 and problems[0].startswith("permute_dims: fails")
    assert "two dimensions at most" in problems[0]  # its example is 3-d
    assert set(SPEC) - set(casadi_ops.OPS) == set(casadi_ops.LACKS)


def test_casadi_keeps_numpy_semantics_on_its_matrices() -> None:
    ops, array, read = casadi_ops.OPS, casadi_ops.array, casadi_ops.to_numpy
    v, m = np.array([1.0, -2.0, 0.5]), np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    # a vector broadcasts as a row; a vector on either side of matmul; axis reductions
    assert np.array_equal(read(ops["add"](array(v), array(m))), v + m)
    assert np.array_equal(read(ops["matmul"](array(m), array(v))), m @ v)
    assert np.array_equal(read(ops["matmul"](array(np.array([1.0, -1.0])), array(m))),
                          np.array([-3.0, -3.0, -3.0]))
    assert np.array_equal(read(ops["sum"](array(m), 0)), [5.0, 7.0, 9.0])
    assert np.array_equal(read(ops["amax"](array(m), 1)), [3.0, 6.0])
    assert read(ops["index"](array(m), 1)).tolist() == [4.0, 5.0, 6.0]
    assert read(ops["reshape"](array(m), (3, 2))).tolist() == [[1, 2], [3, 4], [5, 6]]
    with pytest.raises(UnsupportedError, match="two dimensions at most"):
        ops["reshape"](array(m), (1, 2, 3))


@pytest.mark.parametrize("name", ENGINES)
def test_the_worked_example_gives_loss_1_and_gradient_minus_2(name: str) -> None:
    """cases/seed_linear_regression.toml: x=1, y=2, w=1 gives (w x - y)**2 = 1, d/dw = -2."""
    problem = lower(load_cases(CASES / "seed_linear_regression.toml")[0])
    loss, grad = get_engine(name).prepare(problem).value_and_grad(problem.point)
    assert loss == 1.0
    assert grad == pytest.approx([-2.0], rel=1e-12, abs=0)


def _rosenbrock(x: np.ndarray) -> np.ndarray:
    """Hand-derived: d/dx (1 - x)**2 + 100 (y - x**2)**2 and d/dy."""
    a, b = x
    return np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])


def _logistic(case: Any) -> np.ndarray:
    """Hand-derived: the gradient of sum(softplus(-y X w)) is -X.T (y sigmoid(-y X w))."""
    x, y, w = (np.asarray(case.data["X"]), np.asarray(case.data["y"]),
               np.asarray(case.params["w"]))
    return -x.T @ (y / (1 + np.exp(y * (x @ w))))


@pytest.mark.slow  # PyTensor compiles each case (about 1 s each, more on a fresh cache)
def test_built_in_cases_are_graded_ok_with_the_hand_derived_gradients() -> None:
    cases = [load_cases(CASES / f"{n}.toml")[0]
             for n in ("seed_linear_regression", "testfn_rosenbrock", "ml_logistic_regression")]
    result = run_cases(cases, Options(engines=("reference", *ENGINES), timing=False))
    rows = result.agreement[result.agreement["engine"].isin(ENGINES)]
    assert set(rows["status"]) == {"ok"} and set(rows["case"]) == {c.name for c in cases}
    expected = {"seed_linear_regression": np.array([-2.0]),
                "testfn_rosenbrock": _rosenbrock(np.array([cases[1].params["x"],
                                                             cases[1].params["y"]], dtype=float)),
                "ml_logistic_regression": _logistic(cases[2])}
    grads = result.gradients
    at_point = grads[grads["engine"].isin(ENGINES) & (grads["point"] == 0)]
    assert len(at_point) == 3 * (1 + 2 + 3)
    for (case, engine), group in at_point.groupby(["case", "engine"]):
        tolerance = 1e-6 if engine == "fd-richardson" else 1e-12
        assert group["value"].to_numpy() == pytest.approx(expected[case], rel=tolerance), engine


def test_fd_richardsons_floor_is_its_error_estimate_over_the_tolerance() -> None:
    problem = lower(load_cases(CASES / "testfn_beale.toml")[0])
    engine = get_engine("fd-richardson")
    x = np.asarray(problem.point, dtype=np.float64)
    _, grad = engine.prepare(problem).value_and_grad(x)
    f = problem.loss_function(engine.ops)
    own = numdifftools.Gradient(lambda p: f({**problem.data_values, **problem.split(p)}),
                                method="central", full_output=True)(x)
    assert np.array_equal(grad, own.estimate)
    tolerance = REGISTRY["fd-richardson"].tolerance
    floors = engine.floors(Floors(1.0, np.zeros(x.size)), x, tolerance)
    assert np.array_equal(floors.grad, own.error_estimate.ravel() / tolerance)
    assert np.all(floors.grad > 0) and "numdifftools' error estimate" in floors.source
    higher = engine.floors(Floors(1.0, np.full(x.size, 0.5)), x, tolerance)  # never lowered
    assert np.array_equal(higher.grad, np.maximum(0.5, floors.grad))
    assert not engine.subgradient


@pytest.mark.parametrize(("name", "module", "extra"), [("pytensor", "pytensor", "pytensor"),
                                                       ("casadi", "casadi", "casadi"),
                                                       ("fd-richardson", "numdifftools",
                                                        "fd-richardson")])
def test_a_missing_framework_is_unsupported_naming_its_extra(
        monkeypatch: pytest.MonkeyPatch, name: str, module: str, extra: str) -> None:
    real = importlib.import_module

    def missing(target: str, *args: Any) -> Any:
        if target == module:
            raise ImportError(f"No module named '{module}'")
        return real(target, *args)

    monkeypatch.setattr(optional.importlib, "import_module", missing)
    get_engine(name).start()  # a worker starts all the same
    case = load_cases(CASES / "seed_linear_regression.toml")[0]
    result = run_cases([case], Options(engines=("reference", name), timing=False))
    row = result.agreement[result.agreement["engine"] == name].iloc[0]
    assert row["status"] == "unsupported"
    assert f"install diffcmp[engines] or diffcmp[{extra}]" in row["message"]


def test_casadi_says_why_for_an_array_of_three_dimensions_and_a_lacking_op() -> None:
    cases = [load_cases(CASES / f"{n}.toml")[0] for n in ("ndim_tensor", "ranking_sort")]
    result = run_cases(cases, Options(engines=("reference", "casadi"), timing=False))
    rows = result.agreement[(result.agreement["engine"] == "casadi")
                            & (result.agreement["point"] == 0)
                            & (result.agreement["derivative"] == "gradient")].set_index("case")
    assert set(rows["status"]) == {"unsupported"} and len(rows) == 2
    assert "2 dimensions at most" in rows.loc["ndim_tensor", "message"]
    assert "CasADi has no sort" in rows.loc["ranking_sort", "message"]


def test_the_optional_engines_are_registered_but_not_run_by_default() -> None:
    for name in ENGINES:
        assert name in engine_names() and name not in default_engine_names()
        assert REGISTRY[name].default is False
    assert set(default_engine_names()) >= {"reference", "torch", "jax", "fd-central"}
    assert casadi.__version__ and Options().engines == default_engine_names()
