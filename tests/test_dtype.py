"""``--dtype`` (issue 21): engines in float32 and bfloat16 as columns of their own, graded by the
unit roundoff of their dtype, precision-limited apart from wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import diffcmp
from diffcmp.cases import load_cases
from diffcmp.errors import DiffcmpError
from diffcmp.grading.declared import declaration, own_declaration
from diffcmp.grading.floors import DTYPE_CAP, FloorFinder
from diffcmp.grading.limited import PRECISION_LIMITED
from diffcmp.precision import (
    ROUNDING_ROOM,
    expand_dtypes,
    parse_dtypes,
    round_to,
    split_variant,
    variant_name,
)
from diffcmp.registry import engine_class, engine_info, get_engine, is_engine_name
from diffcmp.run.evaluate import evaluate
from diffcmp.run.options import Options
from diffcmp.symbolic.problem import lower

#: float32's tolerance: 64 units of its roundoff 2**-24.
FLOAT32_TOLERANCE = 64 * 2.0**-24


def _rows(result: Any, engine: str) -> list[dict[str, Any]]:
    """The gradient rows of ``engine`` (a case's result, or :func:`diffcmp.check`'s)."""
    rows = result.agreement
    rows = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
    return [r for r in rows if r["engine"] == engine and r["derivative"] == "gradient"]


def test_a_dtype_is_an_engine_variant_and_float64_keeps_the_plain_names() -> None:
    assert variant_name("torch", "float32") == "torch[float32]"
    assert variant_name("torch", "float64") == "torch"
    assert split_variant("jax-fwd[bfloat16]") == ("jax-fwd", "bfloat16")
    assert split_variant("model[fwd]") == ("model[fwd]", "float64")  # check()'s forward row
    assert parse_dtypes("float64, float32,float64") == ("float64", "float32")
    with pytest.raises(DiffcmpError, match="unknown dtype 'float16'"):
        parse_dtypes("float16")
    assert expand_dtypes(("reference", "sympy", "torch", "fd-central", "fd-complex"),
                         ("float64", "float32")) == (
        "reference", "sympy", "torch", "torch[float32]", "fd-central", "fd-central[float32]",
        "fd-complex")
    assert Options(dtypes=("float64",)).engines == Options().engines
    assert Options(engines=("torch",), dtypes=("float32",)).engines == ("reference",
                                                                        "torch[float32]")
    assert is_engine_name("torch[float32]") and not is_engine_name("sympy[float32]")
    # central differences in bfloat16 would be graded at a tolerance above 1: no such column
    assert not is_engine_name("fd-central[bfloat16]")
    assert expand_dtypes(("fd-central",), ("float64", "bfloat16")) == ("fd-central",)
    assert engine_class("torch[bfloat16]") is engine_class("torch")
    engine = get_engine("jax[float32]")
    assert (engine.dtype, engine.device, engine.offers) == ("float32", "cpu",
                                                            frozenset({"gradient"}))


def test_tolerances_by_dtype_and_where_they_come_from() -> None:
    info = engine_info("torch[float32]")
    assert info.tolerance == FLOAT32_TOLERANCE == 3.814697265625e-06
    assert "Higham" in info.tolerance_source and "float32" in info.summary
    assert engine_info("jax[bfloat16]").tolerance == ROUNDING_ROOM * 2.0**-8 == 0.25
    # central differences: float64's 1e-6 times (u32 / u64)**(2/3) = 2**(29 * 2/3)
    assert engine_info("fd-central[float32]").tolerance == pytest.approx(1e-6 * 2**(58 / 3))
    # the floors' cap: 1e-10 = 64 u64 * cap
    assert DTYPE_CAP == pytest.approx(1e-10 / (64 * 2.0**-53))


def test_rounding_to_a_dtype() -> None:
    # 1/3 = 1.0101010101...b * 2**-2: bfloat16 keeps 8 bits, 1.0101011b (rounded up)
    assert round_to(1 / 3, "bfloat16") == (1 + 1 / 4 + 1 / 16 + 1 / 64 + 1 / 128) / 4
    assert round_to(0.1, "float32") == float(np.float32(0.1)) != 0.1
    assert round_to(0.1, "float64") == 0.1


def test_the_floors_count_the_conversion_of_the_inputs() -> None:
    # w * x at w = 1, x = 0.1: the gradient is x. In float64 x is exact (bound 0); in float32 it
    # is rounded once as it is converted (bound |x|), and the loss's bound adds it (|w| 0.1) to
    # the product's own rounding (0.1)
    problem = lower(diffcmp.Case(name="t", loss="w * x", params={"w": 1.0}, data={"x": 0.1}))
    finder = FloorFinder(problem)
    float64, float32 = finder.at(problem.point), finder.at(problem.point, "float32")
    assert float64.grad.tolist() == [0.0] and float64.loss == pytest.approx(0.1)
    assert float32.grad.tolist() == [0.1] and float32.loss == pytest.approx(0.2)
    assert float32.cap == DTYPE_CAP and float64.cap == 1.0
    # x = 3 is exact in float32: only the point w = 0.1 is rounded, and the gradient x is not
    problem = lower(diffcmp.Case(name="t", loss="w * x", params={"w": 0.1}, data={"x": 3.0}))
    assert FloorFinder(problem).at(problem.point, "float32").grad.tolist() == [0.0]


@pytest.mark.parametrize("name", ["ml_logistic_regression", "ml_mlp_tanh", "mixed_elementary"])
def test_float32_gradients_are_precision_limited_not_wrong(name: str) -> None:
    case = load_cases(f"cases/{name}.toml")[0]
    result = evaluate(case, Options(engines=("torch", "jax", "jax-fwd"),
                                    dtypes=("float64", "float32"), timing=False))
    for engine in ("torch", "jax", "jax-fwd"):
        for low, high in zip(_rows(result, f"{engine}[float32]"), _rows(result, engine),
                             strict=True):
            assert high["status"] == "ok" and high["error"] <= 1e-10
            assert low["status"] == "ok" and low["tolerance"] == FLOAT32_TOLERANCE
            # the float64 tolerance would fail it: only the dtype's tolerance passes it
            assert 1e-10 < low["error"] <= FLOAT32_TOLERANCE
            assert low["message"].startswith(PRECISION_LIMITED)


def test_float32_central_differences_step_by_dtype() -> None:
    # (w x - y)**2 is a quadratic: its difference quotient is exact at any power-of-two step,
    # so fd-central[float32] gets the tutorial's -2 exactly, as fd-central does
    engine = get_engine("fd-central[float32]")
    assert engine.step_scale == pytest.approx(np.cbrt(2.0**-23))
    case = load_cases("cases/seed_linear_regression.toml")[0]
    result = evaluate(case, Options(engines=("fd-central",), dtypes=("float64", "float32"),
                                    timing=False))
    values = {r["engine"]: r["value"] for r in result.gradients}
    assert values["fd-central[float32]"] == values["fd-central"] == -2.0


W = np.array([0.3, -1.2, 2.5])
X = np.array([1.1, 0.7, -0.4])


def _softplus_pair(scale: float) -> Callable[..., Any]:
    """A hand-written float32 loss and gradient of sum(softplus(w x)), the gradient times
    ``scale``."""
    def softplus_model(w: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        assert w.dtype == torch.float32 and x.dtype == torch.float32
        loss = torch.sum(torch.nn.functional.softplus(w * x))
        return loss, {"w": x * torch.sigmoid(w * x) * scale}
    return softplus_model


def test_a_float32_gradient_off_by_more_than_float32_rounding_is_a_mismatch() -> None:
    loss = "sum(softplus(w * x))"
    right = diffcmp.check(_softplus_pair(1.0), {"w": W}, {"x": X}, loss=loss,
                          framework="torch", dtype="float32")
    row = _rows(right, "softplus_model")[0]
    assert row["status"] == "ok" and 1e-10 < row["error"] <= FLOAT32_TOLERANCE
    wrong = diffcmp.check(_softplus_pair(1 + 1e-3), {"w": W}, {"x": X}, loss=loss,
                          framework="torch", dtype="float32")
    row = _rows(wrong, "softplus_model")[0]
    # 1e-3 relative is |a - b| / (|a| + |b|) = 5e-4 above the floor; w[0]'s floor here is 2.18
    # (its rounding bound, the conversion of x counted), above |a| + |b| = 1.28: 6.4e-4 / 2.18
    # = 2.9e-4, 77 times the tolerance
    assert row["status"] == "mismatch" and row["error"] > 50 * FLOAT32_TOLERANCE
    assert "off by more than float32 rounding" in row["message"]


def test_check_keeps_a_float32_function_in_float32() -> None:
    seen: list[torch.dtype] = []

    def model(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        seen.append(w.dtype)
        return torch.sum(torch.nn.functional.softplus(w * x))

    result = diffcmp.check(model, {"w": torch.tensor(W, dtype=torch.float32)},
                           {"x": torch.tensor(X, dtype=torch.float32)},
                           loss="sum(softplus(w * x))", dtype="float32")
    assert set(seen) == {torch.float32} and result.meta["check"]["dtype"] == "float32"
    row = _rows(result, "model")[0]
    assert row["status"] == "ok" and row["tolerance"] == FLOAT32_TOLERANCE
    grad = result.gradients[result.gradients["engine"] == "model"]["value"].to_numpy()
    w32, x32 = torch.tensor(W, dtype=torch.float32), torch.tensor(X, dtype=torch.float32)
    float32 = (x32 * torch.sigmoid(w32 * x32)).double().numpy()
    float64 = X / (1 + np.exp(-W * X))
    np.testing.assert_allclose(grad, float32, rtol=4 * 2.0**-24)  # float32's own gradient ...
    assert np.max(np.abs(grad - float64) / np.abs(float64)) > 1e-10  # ... not float64's
    # without dtype= the same tensors are upcast, as before: float64 throughout
    seen.clear()
    diffcmp.check(model, {"w": torch.tensor(W, dtype=torch.float32)},
                  {"x": torch.tensor(X, dtype=torch.float32)}, loss="sum(softplus(w * x))")
    assert set(seen) == {torch.float64}
    with pytest.raises(DiffcmpError, match="dtype must be one of"):
        diffcmp.check(model, {"w": W}, {"x": X}, dtype="float16")


def test_a_case_declares_a_dtype_apart_or_inherits_its_engines_declaration() -> None:
    declared = {"torch": "nan", "fd-central": "mismatch", "fd-central[float32]": "ok"}
    assert own_declaration(declared, "torch[float32]") == "nan"  # a where trap in any dtype
    assert own_declaration(declared, "fd-central[float32]") == "ok"  # its own entry wins
    assert own_declaration(declared, "jax[float32]") is None
    assert declaration(declared, "torch[bfloat16]", "nan") == "nan"
    # edge_cancellation_tiny: w**2 = 1e-52 underflows float32, declared nan with its reason
    case = load_cases("cases/edge_cancellation_tiny.toml")[0]
    result = evaluate(case, Options(engines=("torch", "jax"), dtypes=("float64", "float32"),
                                    timing=False))
    statuses = {r["engine"]: r["status"] for r in result.agreement}
    assert statuses == {"reference": "ok", "torch": "mismatch", "torch[float32]": "nan",
                        "jax": "mismatch", "jax[float32]": "nan"}
    assert all(e["holds"] for e in result.expectations)
