"""The command line on the built-in seed case, a wrong [expect], and a broken file."""

from __future__ import annotations

import re
import subprocess
import sys
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


def _progress_suite(folder: Path) -> Path:
    """Four files, run with ``--engines fd-central`` (a worker without PyTorch and JAX): one
    agrees but fails its [expect], one mismatches, one declares that mismatch, one is broken."""
    folder.mkdir()
    (folder / "a_ok.toml").write_text(SEED.read_text().replace("loss = 1.0", "loss = 2.0"))
    off = 'loss = "w**3"\n[params]\nw = 1.3\n[tolerance]\nfd-central = 1e-30\n'
    (folder / "b_off.toml").write_text(off)
    (folder / "c_declared.toml").write_text(off + '[expect.status]\nfd-central = "mismatch"\n')
    (folder / "d_broken.toml").write_text('loss = "w +"\n[params]\nw = 1.0\n')
    return folder


def test_without_a_terminal_each_finished_case_is_a_line_on_stderr(tmp_path: Path) -> None:
    """As in a CI log: a real process whose stderr is a pipe."""
    folder = _progress_suite(tmp_path / "cases")
    process = subprocess.run(
        [sys.executable, "-m", "diffcmp.cli", "run", str(folder), "--out", str(tmp_path / "r"),
         "--no-timing", "--engines", "fd-central"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600, check=False)
    assert process.returncode == 2, process.stderr
    lines = [line for line in process.stderr.splitlines() if line.startswith("[")]
    expected = [r"\[1/4\] seed_linear_regression: ok, 1 expectation\(s\) failed",
                r"\[2/4\] b_off: mismatch", r"\[3/4\] c_declared: mismatch \(declared\)",
                r"\[4/4\] d_broken: not loaded"]
    assert len(lines) == len(expected), process.stderr
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern + r" \(\d+\.\d s\)", line), line
    assert "error: " in process.stderr  # the broken file is still named after the run


def test_progress_is_a_bar_on_a_terminal_and_nothing_with_quiet(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "one.toml").write_text(SEED.read_text())
    light = ["--no-timing", "--engines", "sympy"]
    monkeypatch.setattr("diffcmp.cli._is_tty", lambda: True)
    assert main(["run", str(folder), "--out", str(tmp_path / "a"), *light]) == 0
    err = capsys.readouterr().err
    assert "seed_linear_regression" in err and "1/1" in err
    assert "[1/1]" not in err  # a bar, not lines
    for tty in (True, False):
        monkeypatch.setattr("diffcmp.cli._is_tty", lambda tty=tty: tty)
        assert main(["run", str(folder), "--out", str(tmp_path / f"q{tty}"), *light,
                     "--quiet"]) == 0
        assert capsys.readouterr().err == ""
