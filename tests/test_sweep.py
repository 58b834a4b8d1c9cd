"""diffcmp sweep: the exponent fit on synthetic timings, the sweep's tables from hand-made rows,
the report folder written whole, and the command line on a tiny size list (exit codes, a size
that runs past the timeout)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import diffcmp
from diffcmp.cases import Case
from diffcmp.cli import main
from diffcmp.errors import OutputError
from diffcmp.grading.grade import Verdict
from diffcmp.report.folder import MARKER
from diffcmp.report.sweep import render_sweep_markdown, write_sweep_report
from diffcmp.results.sweep import SWEEP_COLUMNS, SweepResult, fit_exponent
from diffcmp.run.rows import CaseResult
from diffcmp.run.sweep import SizeRun, sweep_file
from diffcmp.run.timing import Measurement
from diffcmp.status import Status

LOGISTIC = '''name = "tiny_logistic"
loss = "sum(softplus(-y * (X @ w)))"
[params]
w = [0.5, -0.25]
[data]
X = { random = "normal", shape = ["n", 2], seed = 0 }
y = { random = "choice", values = [-1, 1], shape = ["n"], seed = 1 }
[sweep]
size = "n"
sizes = [4, 8]
run = 4
'''


# --- the exponent: a pure function -------------------------------------------------------------


def test_fit_exponent_recovers_the_power_of_synthetic_timings() -> None:
    sizes = [10, 100, 1000, 10_000]
    assert fit_exponent(sizes, [3e-6 * n**1.5 for n in sizes]) == pytest.approx(1.5)
    assert fit_exponent(sizes, [2e-4 * n for n in sizes]) == pytest.approx(1.0)
    assert fit_exponent(sizes, [0.01] * 4) == pytest.approx(0.0, abs=1e-12)
    # times 2, 4 over sizes 1, 2 and then 8 at 4: log2 t = 1 + log2 n exactly
    assert fit_exponent([1, 2, 4], [2, 4, 8]) == pytest.approx(1.0)
    # a least-squares slope through (0, 0), (1, 1), (2, 3) in log10: (0 + 1 + 6 - 3 * 1 * 4/3) / 2
    assert fit_exponent([1, 10, 100], [1, 10, 1000]) == pytest.approx(1.5)


def test_fit_exponent_uses_only_the_sizes_where_the_engine_ran() -> None:
    sizes = [10, 100, 1000, 10_000]
    times = [1e-3, 1e-1, math.nan, 0.0]  # not run at 1,000 (skipped), 0 at 10,000
    assert fit_exponent(sizes, times) == pytest.approx(2.0)
    assert math.isnan(fit_exponent(sizes, [1e-3, math.nan, math.nan, math.nan]))
    assert math.isnan(fit_exponent([], []))


# --- the tables, from hand-made rows -----------------------------------------------------------


def _size(size: int, statuses: dict[str, str], grad_s: dict[str, float],
          load_error: str | None = None) -> SizeRun:
    result = CaseResult("toy", source="toy.toml", load_error=load_error)
    for engine, status in statuses.items():
        message = "would take about 99 s" if status == "skipped" else ""
        result.add_agreement(0, engine, Verdict(Status(status), 1e-16, 1e-16, message), 1.0,
                             1e-10, None)
    for engine, seconds in grad_s.items():
        result.add_timing(engine, "prepare: trace", Measurement(0.5, 0.0, 1, 0.5))
        result.add_timing(engine, "prepare: compile", Measurement(0.25, 0.0, 1, 0.25))
        result.add_timing(engine, "loss", Measurement(seconds / 2, seconds / 20, 10, 1.0))
        result.add_timing(engine, "grad", Measurement(seconds, seconds / 10, 10, 1.0))
    return SizeRun(size, result, 1.5, "n")


def _toy(runs: list[SizeRun], engines: tuple[str, ...] = ("reference", "torch")) -> SweepResult:
    case = Case(name="toy", loss="sum(x)", params={"x": {"random": "normal", "shape": ["n"],
                                                         "seed": 0}}, sweep={"sizes": [10]})
    return SweepResult.from_runs(case, runs, diffcmp.Options(engines=engines), 4.5, 300.0)


def test_the_sweep_table_has_one_row_per_size_engine_and_phase() -> None:
    ok = {"reference": "ok", "torch": "ok"}
    result = _toy([_size(10, ok, {"torch": 1e-5}), _size(100, ok, {"torch": 1e-4}),
                   _size(1000, ok, {"torch": 1e-3})])
    table = result.table
    assert list(table.columns) == SWEEP_COLUMNS
    assert len(table) == 3 * 2 * 3
    torch = table[table["engine"] == "torch"]
    assert torch["phase"].tolist() == ["prepare", "loss", "grad"] * 3
    assert torch[torch["phase"] == "prepare"]["median_s"].tolist() == [0.75] * 3  # steps summed
    assert torch[torch["phase"] == "grad"]["median_s"].tolist() == [1e-5, 1e-4, 1e-3]
    assert torch[torch["phase"] == "grad"]["iqr_s"].tolist() == pytest.approx([1e-6, 1e-5, 1e-4])
    reference = table[table["engine"] == "reference"]  # not timed: NaN times, its status
    assert reference["median_s"].isna().all() and set(reference["status"]) == {"ok"}
    exponents = result.exponents.set_index(["engine", "phase"])
    assert exponents.loc[("torch", "grad"), "exponent"] == pytest.approx(1.0)
    assert exponents.loc[("torch", "loss"), "exponent"] == pytest.approx(1.0)
    assert exponents.loc[("torch", "prepare"), "exponent"] == pytest.approx(0.0, abs=1e-12)
    assert exponents.loc[("torch", "grad"), "sizes"] == [10, 100, 1000]
    assert math.isnan(exponents.loc[("reference", "grad"), "exponent"])
    assert result.ok and result.exit_code == 0
    assert result.sizes == [10, 100, 1000]


def test_the_top_exponent_is_the_slope_between_the_two_largest_sizes() -> None:
    ok = {"reference": "ok", "torch": "ok"}
    # a fixed cost of 1e-4 s up to 100, then linear: 0.5 over all three sizes, 1 at the top
    result = _toy([_size(10, ok, {"torch": 1e-4}), _size(100, ok, {"torch": 1e-4}),
                   _size(1000, ok, {"torch": 1e-3})])
    exponents = result.exponents.set_index(["engine", "phase"])
    assert exponents.loc[("torch", "grad"), "exponent"] == pytest.approx(0.5)
    assert exponents.loc[("torch", "grad"), "top"] == pytest.approx(1.0)
    assert "| torch     |      0.00 | 0.50 (1.00) | 0.50 (1.00) | 10, 100, 1,000" in \
        render_sweep_markdown(result)


def test_a_disagreement_at_one_size_exits_1_and_a_size_not_made_exits_2() -> None:
    runs = [_size(10, {"reference": "ok", "torch": "ok"}, {}),
            _size(100, {"reference": "ok", "torch": "mismatch"}, {})]
    result = _toy(runs)
    assert result.exit_code == 1
    failing = result.failing()
    assert failing[["size", "engine", "status"]].values.tolist() == [[100, "torch", "mismatch"]]
    markdown = render_sweep_markdown(result)
    assert "**FAIL** (n = 10 to 100): torch mismatch at n = 100." in markdown
    assert "**mismatch**" in markdown
    broken = _toy([*runs[:1], _size(1000, {}, {}, load_error="toy.toml: too big")])
    assert broken.exit_code == 2
    assert broken.errors[["size", "message"]].values.tolist() == [[1000, "toy.toml: too big"]]


def test_skipped_and_unsupported_do_not_fail_and_are_noted_with_their_message() -> None:
    runs = [_size(10, {"reference": "ok", "sympy": "ok"}, {"sympy": 1e-3}),
            _size(100, {"reference": "ok", "sympy": "skipped"}, {}),
            _size(1000, {"reference": "ok", "sympy": "skipped"}, {})]
    result = _toy(runs, ("reference", "sympy"))
    assert result.exit_code == 0
    statuses = result.statuses
    assert statuses[statuses["engine"] == "sympy"]["status"].tolist() == ["ok", "skipped",
                                                                          "skipped"]
    markdown = render_sweep_markdown(result)
    assert "- sympy is skipped at n = 100, 1,000: would take about 99 s" in markdown
    assert markdown.startswith("# Sweep: toy, n = 10 to 1,000\n\n**PASS**")


def test_the_report_folder_is_written_whole_and_never_over_a_users_files(
        tmp_path: Path) -> None:
    ok = {"reference": "ok", "torch": "ok"}
    result = _toy([_size(10, ok, {"torch": 1e-5}), _size(100, ok, {"torch": 2e-4})])
    out = tmp_path / "sweep"
    write_sweep_report(result, out)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([MARKER, "sweep.md", "sweep.csv", "agreement.csv",
                            "sweep_prepare.png", "sweep_loss.png", "sweep_grad.png"])
    assert set((out / MARKER).read_text().split()) == set(names) - {MARKER}
    csv = pd.read_csv(out / "sweep.csv")
    assert list(csv.columns) == SWEEP_COLUMNS and len(csv) == 12
    assert pd.read_csv(out / "agreement.csv")["size"].tolist() == [10, 10, 100, 100]
    markdown = (out / "sweep.md").read_text()
    assert "| torch     |      0.00 |   1.30 |   1.30 | 10, 100" in markdown  # two sizes: no top
    assert "![sweep_grad.png](sweep_grad.png)" in markdown
    with pytest.raises(OutputError, match="pass --force"):
        write_sweep_report(result, out)
    write_sweep_report(result, out, force=True)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="files diffcmp did not write"):
        write_sweep_report(result, mine, force=True)
    assert (mine / "notes.txt").read_text() == "mine"


# --- running -----------------------------------------------------------------------------------


def test_sweep_in_process_agrees_at_each_size_with_fresh_data() -> None:
    case = Case(name="tiny", loss="sum((X @ w - y)**2)", params={"w": [0.5, -0.25]},
                data={"X": {"random": "normal", "shape": ["n", 2], "seed": 0},
                      "y": {"random": "normal", "shape": ["n"], "seed": 1}},
                sweep={"sizes": [3, 6]})
    result = diffcmp.sweep(case, options=diffcmp.Options(engines=("matcalc",), timing=False))
    assert result.sizes == [3, 6] and result.exit_code == 0
    agreement = result.agreement
    assert agreement[["size", "engine", "status"]].values.tolist() == [
        [3, "reference", "ok"], [3, "matcalc", "ok"], [6, "reference", "ok"],
        [6, "matcalc", "ok"]]
    # the losses are those of the data drawn at each size, by hand
    for size in (3, 6):
        x = np.random.default_rng(0).normal(size=(size, 2))
        y = np.random.default_rng(1).normal(size=size)
        loss = float(np.sum((x @ [0.5, -0.25] - y) ** 2))
        assert agreement[agreement["size"] == size]["loss"].tolist() == pytest.approx([loss] * 2)


def _write(folder: Path, text: str | None) -> Path:
    path = folder / "tiny_logistic.toml"
    path.write_text(text or LOGISTIC)
    return path


def test_cli_sweep_writes_the_csv_and_plots_and_exits_0(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = _write(tmp_path, None)
    out = tmp_path / "r"
    assert main(["sweep", str(case), "--engines", "torch", "--min-time", "0.01",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "PASS: the engine torch agrees with the reference at every size (n = 4 to 8" in \
        printed.out
    assert "n = 4: all agree" in printed.err and "n = 8: all agree" in printed.err
    assert f"report: {out / 'sweep.md'}" in printed.out
    csv = pd.read_csv(out / "sweep.csv")
    assert csv[["size", "engine", "phase"]].values.tolist() == [
        [size, engine, phase] for size in (4, 8) for engine in ("reference", "torch")
        for phase in ("prepare", "loss", "grad")]
    assert (csv[csv["engine"] == "torch"]["median_s"] > 0).all()
    assert set(csv["status"]) == {"ok"}
    for phase in ("prepare", "loss", "grad"):
        assert (out / f"sweep_{phase}.png").stat().st_size > 1000


def test_cli_sweep_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain.toml"
    plain.write_text('loss = "w**2"\n[params]\nw = 1.0\n')
    assert main(["sweep", str(plain), "--out", str(tmp_path / "a")]) == 2
    assert f"error: {plain}: has no [sweep] table" in capsys.readouterr().err
    case = _write(tmp_path, None)
    assert main(["sweep", str(case), "--sizes", "4,-8", "--out", str(tmp_path / "b")]) == 2
    assert "error: sizes[1] is -8: sizes must be positive integers" in capsys.readouterr().err
    assert main(["sweep", str(case), "--sizes", "4,8000000", "--out", str(tmp_path / "c")]) == 2
    assert "elements at n = 8,000,000; the limit is 5,000,000" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", str(case), "--sizes", "four"])
    assert exit_.value.code == 2
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    # a failed [expect] at the run size is a disagreement: exit 1
    wrong = _write(tmp_path, LOGISTIC + "[expect]\nloss = 999.0\n")
    assert main(["sweep", str(wrong), "--engines", "torch", "--no-timing", "--quiet",
                 "--out", str(tmp_path / "d")]) == 1
    assert "expect loss loss at n = 4" in (tmp_path / "d" / "sweep.md").read_text()


@pytest.mark.slow
def test_a_size_past_the_timeout_gets_timeout_rows_and_the_sweep_goes_on(
        tmp_path: Path) -> None:
    path = _write(tmp_path, None)
    options = diffcmp.Options(engines=("torch",), timing=False)
    # sizes in this order: the worker stopped at 1,000,000 is replaced for 8
    runs = sweep_file(path, [4, 1_000_000, 8], options, timeout=10, name="n")
    assert [run.size for run in runs] == [4, 1_000_000, 8]
    result = SweepResult.from_runs(diffcmp.load_case(path), runs, options, 0.0, 10)
    statuses = result.statuses
    assert statuses[["size", "engine", "status"]].values.tolist() == [
        [4, "reference", "ok"], [4, "torch", "ok"], [8, "reference", "ok"], [8, "torch", "ok"],
        [1_000_000, "reference", "timeout"], [1_000_000, "torch", "timeout"]]
    assert "did not finish within 10 s" in statuses["message"].iloc[-1]
    assert result.exit_code == 1
