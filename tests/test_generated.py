"""Generated data in [params] and [data], and the [sweep] table: shapes, reproducibility,
the limits, and errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import diffcmp
from diffcmp.cases import MAX_CASE_ELEMENTS, Case, load_case

LOGISTIC = {"X": {"random": "normal", "shape": ["n", 2], "seed": 0},
            "y": {"random": "choice", "values": [-1, 1], "shape": ["n"], "seed": 1}}


def _case(params: dict, data: dict | None = None, sweep: dict | None = None, **kw) -> Case:
    return Case(name="c", loss=kw.pop("loss", "sum(x)"), params=params, data=data or {},
                sweep=sweep, source="f.toml", **kw)


def test_normal_data_follow_the_sweep_size_and_numpy_default_rng() -> None:
    case = _case({"w": [0.3, -0.2]}, LOGISTIC, {"size": "n", "sizes": [10, 100], "run": 10},
                 loss="sum(softplus(-y * (X @ w)))")
    assert case.size == 10
    assert case.data["X"].shape == (10, 2) and case.data["y"].shape == (10,)
    np.testing.assert_array_equal(case.data["X"], np.random.default_rng(0).normal(size=(10, 2)))
    assert set(case.data["y"]) <= {-1.0, 1.0}
    big = case.at_size(100)
    assert big.size == 100 and big.data["X"].shape == (100, 2)
    np.testing.assert_array_equal(big.data["X"], np.random.default_rng(0).normal(size=(100, 2)))
    np.testing.assert_array_equal(big.params["w"], [0.3, -0.2])  # listed values unchanged
    # reproducible: the same table gives the same numbers, case after case
    np.testing.assert_array_equal(case.at_size(100).data["X"], big.data["X"])


def test_uniform_defaults_and_bounds_and_normal_mean_std() -> None:
    x = _case({"x": {"random": "uniform", "shape": [1000], "seed": 3}}).params["x"]
    assert x.min() >= 0 and x.max() < 1
    np.testing.assert_array_equal(x, np.random.default_rng(3).uniform(0, 1, 1000))
    y = _case({"x": {"random": "uniform", "shape": [2, 3], "seed": 3, "low": -5,
                     "high": -4}}).params["x"]
    assert y.shape == (2, 3) and y.min() >= -5 and y.max() < -4
    z = _case({"x": {"random": "normal", "shape": [4000], "seed": 0, "mean": 10,
                     "std": 0.5}}).params["x"]
    assert abs(z.mean() - 10) < 0.05 and abs(z.std() - 0.5) < 0.05
    scalar = _case({"x": {"random": "normal", "shape": [], "seed": 0}}).params["x"]
    assert scalar.shape == () and scalar == np.random.default_rng(0).normal()


def test_the_legacy_generator_gives_gradbench_inputs() -> None:
    # GradBench's lse: np.random.seed(31337); np.random.rand(n)
    x = _case({"x": {"random": "uniform", "shape": [2500], "seed": 31337,
                     "rng": "legacy"}}).params["x"]
    np.random.seed(31337)
    np.testing.assert_array_equal(x, np.random.rand(2500))


def test_deterministic_generators() -> None:
    data = _case({"x": 1.0}, {"t": {"linspace": [-1, 1], "shape": [5]},
                              "j": {"arange": 0, "shape": [2, 3]},
                              "h": {"arange": 1, "shape": [3], "step": -0.5}},
                 loss="x * sum(t) + sum(j) + sum(h)").data
    np.testing.assert_array_equal(data["t"], [-1, -0.5, 0, 0.5, 1])
    np.testing.assert_array_equal(data["j"], [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(data["h"], [1, 0.5, 0])


@pytest.mark.parametrize(("table", "message"), [
    ({"random": "gauss", "shape": [3], "seed": 0},
     "params.x.random: unknown distribution 'gauss'"),
    ({"random": "normal", "shape": [3], "sede": 0},
     "params.x: unknown key 'sede'; did you mean 'seed'?"),
    ({"random": "normal", "shape": [3]}, "params.x needs a seed"),
    ({"random": "normal", "shape": [3], "seed": -1}, "params.x.seed must be an integer"),
    ({"random": "normal", "shape": ["m"], "seed": 0},
     "params.x.shape[0]: unknown size name 'm' (the case has no [sweep] table"),
    ({"random": "normal", "shape": [-3], "seed": 0},
     "params.x.shape[0] is -3: sizes must be positive integers"),
    ({"random": "normal", "shape": [0], "seed": 0}, "params.x.shape[0] is 0"),
    ({"random": "normal", "shape": [2.5], "seed": 0}, "params.x.shape[0] must be a positive"),
    ({"random": "normal", "shape": [1] * 33, "seed": 0}, "params.x.shape has 33 dimensions"),
    ({"random": "normal", "seed": 0}, "params.x needs a shape"),
    ({"shape": [3]}, "params.x is a table but names no generator"),
    ({"linspace": [0, 1], "arange": 0, "shape": [3]}, "names two generators"),
    ({"linspace": [0], "shape": [3]}, "params.x.linspace must be [start, stop]"),
    ({"arange": 0, "step": 0, "shape": [3]}, "params.x.step must not be 0"),
    ({"random": "uniform", "shape": [3], "seed": 0, "low": 1, "high": 0},
     "params.x.low must be below params.x.high"),
    ({"random": "normal", "shape": [3], "seed": 0, "std": -1}, "params.x.std must not be"),
    ({"random": "normal", "shape": [3], "seed": 0, "rng": "mt"}, "params.x.rng must be one of"),
    ({"random": "choice", "shape": [3], "seed": 0}, "params.x.values must be a non-empty"),
    ({"random": "normal", "shape": [3000, 3000], "seed": 0},
     "params.x has 9,000,000 elements; the limit is 5,000,000"),
])
def test_bad_generator_tables_name_the_file_and_key(table: dict, message: str) -> None:
    with pytest.raises(diffcmp.CaseError) as error:
        _case({"x": table})
    assert str(error.value).startswith("f.toml: ")
    assert message in str(error.value)


def test_the_limits_hold_at_every_size_of_the_sweep_before_anything_is_drawn() -> None:
    with pytest.raises(diffcmp.CaseError, match=r"params.x has 10,000,000 elements at "
                       r"n = 100,000; the limit is 5,000,000 \(sweep.sizes\)"):
        _case({"x": {"random": "normal", "shape": ["n", 100], "seed": 0}}, sweep={})
    half = MAX_CASE_ELEMENTS // 2 + 1
    with pytest.raises(diffcmp.CaseError, match="the case holds 5,000,002 numbers at n = "):
        _case({"x": {"random": "normal", "shape": ["n"], "seed": 0}},
              {"y": {"random": "normal", "shape": ["n"], "seed": 1}},
              {"sizes": [10, half]}, loss="sum(x * y)")
    case = _case({"x": {"random": "normal", "shape": ["n"], "seed": 0}}, sweep={"sizes": [10]})
    with pytest.raises(diffcmp.CaseError, match="has 6,000,000 elements at n = 6,000,000"):
        case.at_size(6_000_000)


@pytest.mark.parametrize(("sweep", "message"), [
    ({"size": "n", "sizes": []}, "sweep.sizes must be a non-empty list"),
    ({"sizes": [10, -1]}, "sweep.sizes[1] is -1: sizes must be positive integers"),
    ({"sizes": [10, 10]}, "sweep.sizes lists 10 twice"),
    ({"run": 0}, "sweep.run is 0"),
    ({"size": "2n"}, "sweep.size must be a name"),
    ({"steps": [1]}, "unknown key sweep.steps"),
    ({"size": "m"}, "params.x.shape[0]: unknown size name 'n' (the case's sweep size is 'm')"),
])
def test_bad_sweep_tables(sweep: dict, message: str) -> None:
    with pytest.raises(diffcmp.CaseError) as error:
        _case({"x": {"random": "normal", "shape": ["n"], "seed": 0}}, sweep=sweep)
    assert message in str(error.value)


def test_a_sweep_size_no_shape_uses_is_an_error() -> None:
    with pytest.raises(diffcmp.CaseError, match=r"sweep\.size is .n., but no generated shape"):
        _case({"x": {"random": "normal", "shape": [3], "seed": 0}}, sweep={})


def test_sweep_defaults_and_expectations_at_other_sizes() -> None:
    case = _case({"x": {"random": "normal", "shape": ["n"], "seed": 0}}, sweep={},
                 expect={"loss": 1.0, "status": {"torch": "ok"}})
    assert case.sweep.sizes == (10, 100, 1000, 10_000, 100_000)
    assert case.sweep.run == 10 and case.size == 10
    assert case.expect["loss"] == 1.0
    other = case.at_size(100)
    assert "loss" not in other.expect and other.expect["status"] == {"torch": "ok"}
    assert case.at_size(10).expect["loss"] == 1.0
    with pytest.raises(diffcmp.CaseError, match="has no \\[sweep\\] table"):
        _case({"x": [1.0]}).at_size(10)


def test_a_toml_case_generates_and_its_file_limit_does_not_count_generated_values(
        tmp_path: Path) -> None:
    path = tmp_path / "lr.toml"
    path.write_text('loss = "sum(softplus(-y * (X @ w)))"\n'
                    '[params]\nw = [0.3, -0.2]\n'
                    '[data]\nX = { random = "normal", shape = ["n", 2], seed = 0 }\n'
                    'y = { random = "choice", values = [-1, 1], shape = ["n"], seed = 1 }\n'
                    '[sweep]\nsize = "n"\nsizes = [10, 100000]\nrun = 60000\n')
    case = load_case(path)
    assert case.data["X"].shape == (60000, 2)  # 180,000 numbers from a 250-byte file
    bad = tmp_path / "bad.toml"
    bad.write_text('loss = "sum(x)"\n[params]\nx = { random = "normal", shape = [3], '
                   'seeed = 0 }\n')
    with pytest.raises(diffcmp.CaseError, match=f"^{bad}: params.x: unknown key 'seeed'"):
        load_case(bad)
