"""The command line on the built-in seed case, a wrong [expect], and a broken file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from diffcmp.cli import main
from diffcmp.engines import ENGINE_NAMES

CASES = Path(__file__).resolve().parent.parent / "cases"
SEED = CASES / "seed_linear_regression.toml"


def test_seed_case_reproduces_the_tutorial(tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["run", str(SEED), "--out", str(out), "--no-timing", "--quiet"]) == 0
    agreement = pd.read_csv(out / "agreement.csv")
    assert list(agreement.columns) == ["case", "point", "engine", "status", "loss", "error",
                                       "rel_error", "tolerance", "message", "digits", "cause",
                                       "rho_adbench", "floor"]
    assert agreement["engine"].tolist() == list(ENGINE_NAMES)
    assert set(agreement["status"]) == {"ok"}
    assert agreement["loss"].tolist() == [1.0] * 6
    gradients = pd.read_csv(out / "gradients.csv")
    assert list(gradients.columns) == ["case", "point", "engine", "component", "value",
                                       "reference"]
    assert gradients["component"].tolist() == ["w"] * 6
    assert gradients["value"].tolist() == [-2.0] * 6
    assert (out / "report.md").read_text().startswith("# diffcmp report")
    assert (out / "results.json").exists()


def test_wrong_expect_exits_1_and_says_which_value(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / "wrong.toml"
    case.write_text(SEED.read_text().replace("grad = { w = -2.0 }", "grad = { w = -2.5 }"))
    assert main(["run", str(case), "--out", str(tmp_path / "r"), "--no-timing"]) == 1
    printed = capsys.readouterr().out
    assert "expect grad w: expected -2.5, got -2.0" in printed


def test_a_broken_file_exits_2_and_the_others_still_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "good.toml").write_text(SEED.read_text())
    (tmp_path / "cases" / "bad.toml").write_text('loss = "(w*x - y)**2"\n[params\nw = 1\n')
    out = tmp_path / "r"
    assert main(["run", str(tmp_path / "cases"), "--out", str(out), "--no-timing"]) == 2
    assert "bad.toml: invalid TOML" in capsys.readouterr().err
    agreement = pd.read_csv(out / "agreement.csv")
    assert set(agreement["case"]) == {"seed_linear_regression"}
    assert set(agreement["status"]) == {"ok"}


def test_engines_option_selects_engines_and_keeps_the_reference(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert main(["run", str(SEED), "--out", str(out), "--no-timing", "--quiet",
                 "--engines", "torch,fd-central"]) == 0
    assert pd.read_csv(out / "agreement.csv")["engine"].tolist() == ["reference", "torch",
                                                                    "fd-central"]


def test_unknown_engine_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", str(SEED), "--engines", "tensorflow"])
    assert exc.value.code == 2
    assert "unknown engine 'tensorflow'" in capsys.readouterr().err


def test_timing_phases(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert main(["run", str(SEED), "--out", str(out), "--quiet", "--min-time", "0.01",
                 "--engines", "jax"]) == 0
    timing = pd.read_csv(out / "timing.csv")
    assert list(timing.columns) == ["case", "engine", "phase", "median_s", "iqr_s", "runs"]
    jax = timing[timing["engine"] == "jax"].set_index("phase")
    assert {"loss", "grad", "prepare: trace", "prepare: compile"} <= set(jax.index)
    assert (jax["median_s"] > 0).all()
    assert jax.loc["grad", "runs"] > 1
