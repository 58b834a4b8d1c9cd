"""Around the engines: listing, tags, JAX configuration left alone, JSON round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import diffcmp
from diffcmp import Result
from diffcmp.cli import main

CASES = Path(__file__).resolve().parent.parent / "cases"


def test_list_prints_cases_with_tags_counts_and_descriptions(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", str(CASES)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert len(lines) >= 30
    seed = lines["seed_linear_regression"]
    assert "seed" in seed and " 1 params" in seed and "Squared error" in seed
    assert "13 params" in lines["ml_mlp_tanh"]


def test_run_selects_cases_by_tag(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert main(["run", str(CASES), "--tag", "seed", "--no-timing", "--quiet",
                 "--engines", "sympy", "--out", str(out)]) == 0
    result = Result.from_json((out / "results.json").read_text())
    assert set(result.agreement["case"]) == {"seed_linear_regression"}


def test_jax_configuration_is_left_as_the_user_had_it() -> None:
    import jax
    import jax.numpy as jnp

    before = jax.config.read("jax_enable_x64")
    result = diffcmp.compare("sum(exp(w) / 3)", {"w": [0.1, 0.2]}, timing=False,
                             engines=["jax"])
    assert set(result.agreement["status"]) == {"ok"}
    assert jax.config.read("jax_enable_x64") == before
    if not before:
        assert jnp.asarray(1.0).dtype == jnp.float32


def test_jax_really_computes_in_float64() -> None:
    # 1 + 1e-12 is invisible in float32: a float32 gradient of sum(w * (1 + 1e-12)) would be 1
    result = diffcmp.compare("sum(w * (1 + 1e-12)) * 1e12", {"w": [1.0]}, timing=False,
                             engines=["jax"])
    jax_rows = result.gradients[result.gradients["engine"] == "jax"]
    assert jax_rows["value"].iloc[0] == pytest.approx(1e12 + 1, rel=1e-15)


def test_results_json_round_trips_floats_and_non_finite_values() -> None:
    result = diffcmp.compare("log(sum(exp(v)))", {"v": [1000.0, 999.5]}, timing=False,
                             engines=["torch"])
    again = Result.from_json(result.to_json())
    for name in ("agreement", "gradients"):
        mine, theirs = getattr(result, name), getattr(again, name)
        assert list(mine.columns) == list(theirs.columns)
        for column in mine.columns:
            if mine[column].dtype.kind == "f":
                np.testing.assert_array_equal(mine[column].to_numpy(), theirs[column].to_numpy())
            else:
                assert mine[column].tolist() == theirs[column].tolist()
    assert np.isinf(again.agreement.set_index("engine").loc["torch", "loss"])


def test_results_json_refuses_another_format() -> None:
    with pytest.raises(diffcmp.DiffcmpError, match="not a diffcmp results file"):
        Result.from_json('{"format": "pyperf"}', "x.json")


def test_torch_threads_are_set_while_running_and_restored_after() -> None:
    import torch

    torch.set_num_threads(2)
    result = diffcmp.compare("sum(w**2)", {"w": [1.0, 2.0]}, timing=False, engines=["torch"])
    assert set(result.agreement["status"]) == {"ok"}
    assert torch.get_num_threads() == 2
