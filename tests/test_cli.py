"""The command line on the built-in seed case, a wrong [expect], a broken file, and points where
the loss is undefined."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from diffcmp.cli import main
from diffcmp.engines import DEFAULT_ENGINES
from diffcmp.run.progress import Finished
from diffcmp.terminal import CaseProgress

CASES = Path(__file__).resolve().parent.parent / "cases"
SEED = CASES / "seed_linear_regression.toml"


def test_seed_case_reproduces_the_tutorial(tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["run", str(SEED), "--out", str(out), "--no-timing", "--quiet"]) == 0
    agreement = pd.read_csv(out / "agreement.csv")
    assert list(agreement.columns) == ["case", "point", "engine", "derivative", "status", "loss",
                                       "error",
                                       "rel_error", "tolerance", "message", "digits", "cause",
                                       "rho_adbench", "floor", "loss_exact", "loss_flag",
                                       "loss_bound"]
    assert agreement["engine"].tolist() == list(DEFAULT_ENGINES)
    assert set(agreement["status"]) == {"ok"}
    assert agreement["loss"].tolist() == [1.0] * len(DEFAULT_ENGINES)
    gradients = pd.read_csv(out / "gradients.csv")
    assert list(gradients.columns) == ["case", "point", "engine", "component", "value",
                                       "reference", "reference_exact", "reference_flag",
                                       "reference_bound"]
    assert gradients["reference_exact"].tolist() == [-2.0] * len(DEFAULT_ENGINES)  # as text: "-2.0"
    assert gradients["component"].tolist() == ["w"] * len(DEFAULT_ENGINES)
    assert gradients["value"].tolist() == [-2.0] * len(DEFAULT_ENGINES)
    assert (out / "report.md").read_text().startswith("# diffcmp report")
    assert (out / "results.json").exists()


def test_wrong_expect_exits_1_and_says_which_value(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / "wrong.toml"
    case.write_text(SEED.read_text().replace("grad = { w = -2.0 }", "grad = { w = -2.5 }"))
    assert main(["run", str(case), "--out", str(tmp_path / "r"), "--no-timing",
                 "--engines", "sympy"]) == 1
    printed = capsys.readouterr().out
    assert "expect grad w: expected -2.5, got -2.0" in printed


def test_declared_statuses_of_engines_not_asked_for_fail_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the case declares every engine's mismatch; only torch runs
    assert main(["run", str(CASES / "num_cos_cancellation.toml"), "--engines", "torch",
                 "--no-timing", "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(
        "PASS. torch does not agree with the reference at the one graded point of the one case; "
        "there, engines are off as their cases declare (†). Declared statuses ignored (engine "
        "not run): sympy on 1 case, matcalc on 1 case, torch-fwd on 1 case, jax on 1 case, "
        "jax-fwd on 1 case, fd-central on 1 case, fd-complex on 1 case, autograd on 1 case, "
        "tensorflow on 1 case, pytensor on 1 case, casadi on 1 case.")
    assert "expectation(s) failed" not in printed


@dataclass
class Run:
    """One ``diffcmp run`` through :func:`main`: its exit code, what it printed, its report."""

    code: int
    out: str
    err: str
    report: Path


@pytest.fixture(scope="module")
def light_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One run shared by the tests below: a good case and a broken file, two engines chosen,
    timed briefly."""
    folder = tmp_path_factory.mktemp("cli") / "cases"
    folder.mkdir()
    (folder / "good.toml").write_text(SEED.read_text())
    (folder / "bad.toml").write_text('loss = "(w*x - y)**2"\n[params\nw = 1\n')
    report = folder.parent / "r"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", str(folder), "--out", str(report), "--min-time", "0.01",
                     "--engines", "sympy,fd-central"])
    return Run(code, out.getvalue(), err.getvalue(), report)


def test_a_broken_file_exits_2_and_the_others_still_run(light_run: Run) -> None:
    assert light_run.code == 2
    assert "bad.toml: invalid TOML" in light_run.err
    agreement = pd.read_csv(light_run.report / "agreement.csv")
    assert set(agreement["case"]) == {"seed_linear_regression"}
    assert set(agreement["status"]) == {"ok"}


def test_engines_option_selects_engines_and_keeps_the_reference(light_run: Run) -> None:
    agreement = pd.read_csv(light_run.report / "agreement.csv")
    assert agreement["engine"].tolist() == ["reference", "sympy", "fd-central"]


def test_unknown_engine_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", str(SEED), "--engines", "mxnet"])
    assert exc.value.code == 2
    assert "unknown engine 'mxnet'" in capsys.readouterr().err


def test_timing_phases(light_run: Run) -> None:
    """Through the command line, to timing.csv (JAX's trace and compile steps: test_timing)."""
    timing = pd.read_csv(light_run.report / "timing.csv")
    assert list(timing.columns) == ["case", "engine", "phase", "median_s", "iqr_s", "runs",
                                     "device"]
    assert set(timing["device"]) == {"cpu"}  # issue 21: where each engine computed
    sympy = timing[timing["engine"] == "sympy"].set_index("phase")
    assert {"loss", "grad", "prepare: derive", "prepare: cse", "prepare: lambdify"} \
        <= set(sympy.index)
    assert (sympy["median_s"] > 0).all()
    assert sympy.loc["grad", "runs"] > 1


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
    # in the order the cases finished (one worker per core without timing): counted 1 to 4
    assert [line[:5] for line in lines] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"], process.stderr
    expected = [r"b_off: failed \(1 ok, 1 mismatch; ", r"c_declared: ok \(1 ok, 1 mismatch "
                r"\(declared\); ", r"d_broken: not loaded \(",
                r"seed_linear_regression: failed \(2 ok; 1 expectation\(s\) failed; "]
    for line, pattern in zip(sorted(line[6:] for line in lines), expected, strict=True):
        assert re.fullmatch(pattern + r"\d+\.\d s\)", line), line
    assert "error: " in process.stderr  # the broken file is still named after the run


def test_progress_is_a_bar_on_a_terminal_lines_elsewhere_and_nothing_with_quiet(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What the progress object prints for each kind of stderr (the run itself is the same for
    all of them: see the test above)."""
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "one.toml").write_text(SEED.read_text())
    done = Finished("seed_linear_regression", "ok", False, 0.3, counts=(("ok", 7),))

    def shown(quiet: bool, bar: bool) -> str:
        progress = CaseProgress([str(folder)], [], quiet=quiet, bar=bar)
        progress.started(done.name)
        progress.finished(done)
        progress.close()
        return capsys.readouterr().err

    on_terminal = shown(quiet=False, bar=True)
    assert "seed_linear_regression" in on_terminal and "1/1" in on_terminal
    assert "[1/1]" not in on_terminal  # a bar, not lines
    assert shown(quiet=False, bar=False) == "[1/1] seed_linear_regression: ok (7 ok; 0.3 s)\n"
    assert shown(quiet=True, bar=True) == shown(quiet=True, bar=False) == ""


def test_a_run_of_only_undefined_points_exits_1_unless_declared(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """log(w) at 0 and sqrt(w) at -1: nothing can be graded, so nothing may pass silently."""
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "log0.toml").write_text('loss = "log(w)"\n[params]\nw = 0.0\n')
    (folder / "sqrtneg.toml").write_text('loss = "sqrt(w)"\n[params]\nw = -1.0\n')
    assert main(["run", str(folder), "--out", str(tmp_path / "r1"), "--no-timing",
                 "--engines", "fd-central"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("FAIL. No engine was graded at any of the 2 points of 2 cases; 2 points "
                        "are undefined (not declared); the loss is undefined on 2: log0, sqrtneg, "
                        'which nothing declares (`[expect.status] reference = "undefined"` '
                        "would).")
    # each point once, by the reference's row (the engines' rows only repeat it)
    assert [line.split(": ")[0] for line in lines[1:-1]] == [
        "  log0 [point 0] reference", "  sqrtneg [point 0] reference"]
    for case in folder.iterdir():
        case.write_text(case.read_text() + '[expect.status]\nreference = "undefined"\n')
    assert main(["run", str(folder), "--out", str(tmp_path / "r2"), "--no-timing",
                 "--engines", "fd-central"]) == 0
    printed = capsys.readouterr()
    assert printed.out.splitlines()[0] == (
        "NOTHING GRADED. No engine was graded at any of the 2 points of 2 cases; 2 points are "
        "undefined (declared). 2 known failure(s) are declared by their cases and count as "
        "expected (marked †).")
    assert "log0: ok (2 undefined (declared); " in printed.err
