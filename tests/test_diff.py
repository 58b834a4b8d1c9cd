"""``diffcmp diff``: status changes between two real runs, and timings beyond noise."""

from __future__ import annotations

from pathlib import Path

import pytest

import diffcmp
from diffcmp import Result, cli
from diffcmp.api import Options, run_cases
from diffcmp.results.rundiff import TimingChange, compare_results, level

OPTIONS = Options(engines=("sympy", "torch", "fd-central"), min_time=0.01)


def cases(fd_tolerance: float | None) -> list[diffcmp.Case]:
    """Two cases; the second's fd-central tolerance is set when given (1e-30: it mismatches)."""
    tolerance = {"fd-central": fd_tolerance} if fd_tolerance is not None else {}
    return [diffcmp.Case(name="line", loss="(w*x - y)**2", params={"w": 1.0},
                         data={"x": 1.0, "y": 2.0}),
            diffcmp.Case(name="cubic", loss="w**3 + exp(w)", params={"w": 1.3},
                         tolerance=tolerance)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two real runs that differ: fd-central agrees on `cubic` in the first, not the second."""
    folder = tmp_path_factory.mktemp("runs")
    old, new = folder / "old.json", folder / "new.json"
    old.write_text(run_cases(cases(None), OPTIONS).to_json())
    new.write_text(run_cases(cases(1e-30), OPTIONS).to_json())
    return old, new


def test_an_engine_that_got_worse_exits_1_and_is_named(
        runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    old, new = runs
    assert cli.main(["diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "Agreement: 1 status change(s), 1 worse" in out
    row = next(line for line in out.splitlines() if line.startswith("cubic"))
    assert row.split() == ["cubic", "fd-central", "ok", "mismatch", "WORSE"]
    assert "Exit 1: 1 engine result(s) got worse." in out
    assert "line " not in out.split("Timing:")[0]  # an unchanged case is not listed


def test_the_other_way_round_is_better_and_exits_0(
        runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    old, new = runs
    assert cli.main(["diff", str(new), str(old)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("cubic"))
    assert row.split() == ["cubic", "fd-central", "mismatch", "ok", "better"]


def test_a_run_against_itself_has_no_change(runs: tuple[Path, Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    old, _ = runs
    assert cli.main(["diff", str(old), str(old)]) == 0
    out = capsys.readouterr().out
    assert "Agreement: no status changed." in out
    # 2 cases x 4 timed engines (reference included) x loss and grad
    assert "Timing: 0 of 16 loss/grad times moved beyond noise" in out
    assert "Geometric mean of grad new/old over 8 case-engine pairs: 1.000" in out


def _with_grad_times(result: Result, engine: str, median: float, iqr: float) -> Result:
    changed = Result.from_json(result.to_json())
    rows = (changed.timing["engine"] == engine) & (changed.timing["phase"] == "grad") \
        & (changed.timing["case"] == "line")
    changed.timing.loc[rows, ["median_s", "iqr_s"]] = [median, iqr]
    return changed


def test_timings_beyond_noise_are_listed_and_others_are_not(runs: tuple[Path, Path]) -> None:
    old = Result.from_json(runs[0].read_text())
    base = _with_grad_times(old, "torch", 100e-6, 2e-6)
    slower = compare_results(base, _with_grad_times(old, "torch", 150e-6, 3e-6))
    (moved,) = slower.moved
    assert (moved.case, moved.engine, moved.phase) == ("line", "torch", "grad")
    assert moved.ratio == pytest.approx(1.5)
    assert moved.description == "1.50x slower"
    assert "1.50x slower" in slower.to_text()
    assert slower.exit_code == 0  # timings alone never fail a diff
    faster = compare_results(base, _with_grad_times(old, "torch", 50e-6, 1e-6))
    assert faster.moved[0].description == "2.00x faster"
    # within the IQRs of the two: noise
    noisy = compare_results(base, _with_grad_times(old, "torch", 150e-6, 60e-6))
    assert noisy.moved == []
    # beyond the IQRs but under the 5% floor; with the floor at 0 it counts
    tiny = _with_grad_times(old, "torch", 103e-6, 0.1e-6)
    assert compare_results(base, tiny).moved == []
    assert len(compare_results(base, tiny, min_change=0.0).moved) == 1


def test_timing_change_rule() -> None:
    change = TimingChange("c", "e", "grad", 10.0, 1.0, 12.5, 1.0)
    assert change.significant and change.description == "1.25x slower"
    assert not TimingChange("c", "e", "grad", 10.0, 1.5, 12.5, 1.0).significant


@pytest.mark.parametrize(("status", "declared", "expected"), [
    ("ok", None, 0), ("unsupported", None, 1), ("kink", None, 1), ("unresolved", None, 1),
    ("undefined", None, 2), ("undefined", "undefined", 0),
    ("mismatch", None, 2), ("nan", None, 2), ("error", None, 2), ("timeout", None, 2),
    ("nan", "nan", 0), ("ok", "nan", 2)])
def test_status_levels(status: str, declared: str | None, expected: int) -> None:
    assert level(status, declared) == expected


def test_cases_only_in_one_run_and_environment_changes_are_reported(
        runs: tuple[Path, Path]) -> None:
    old = Result.from_json(runs[0].read_text())
    fewer = Result.from_json(runs[0].read_text())
    fewer.agreement = fewer.agreement[fewer.agreement["case"] != "cubic"]
    fewer.meta["environment"]["torch"] = "0.0-other"
    comparison = compare_results(old, fewer)
    assert comparison.only_old == ["cubic"] and comparison.only_new == []
    assert ("torch", old.meta["environment"]["torch"], "0.0-other") in comparison.environment
    text = comparison.to_text()
    assert "Cases only in the old run (1): cubic" in text
    assert "Environment differs (timings may not be comparable): torch " in text


def test_a_busy_machine_is_named(runs: tuple[Path, Path]) -> None:
    old = Result.from_json(runs[0].read_text())
    busy = Result.from_json(runs[0].read_text())
    old.meta["environment"].update(load_avg=[2.9, 0.5, 0.4], cpu_count=2, other_cpu=0.2)
    busy.meta["environment"].update(load_avg=[3.1, 2.5, 2.0], cpu_count=2, other_cpu=1.3)
    comparison = compare_results(old, busy)
    assert comparison.busy == {"new": "other processes kept 1.3 of the 2 logical cores busy "
                                      "during the run (diffcmp's own work not counted)"}
    assert "Busy machine: new run: other processes kept 1.3 of the 2" in comparison.to_text()
    assert compare_results(old, old).busy == {}
    # results written before other_cpu was recorded: the load when the run ended
    for result in (old, busy):
        for key in ("other_cpu", "load_avg_before"):
            result.meta["environment"].pop(key, None)
    assert compare_results(old, busy).busy == {
        "old": "the load average was 2.9 / 0.5 / 0.4 (1 / 5 / 15 minutes) on 2 logical cores "
               "when the run ended",
        "new": "the load average was 3.1 / 2.5 / 2 (1 / 5 / 15 minutes) on 2 logical cores "
               "when the run ended"}


def test_diff_of_a_missing_or_foreign_file_is_an_error(
        runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["diff", str(runs[0]), str(tmp_path / "nothing.json")]) == 2
    assert "error: " in capsys.readouterr().err
    (tmp_path / "x.json").write_text("[1, 2]")
    assert cli.main(["diff", str(tmp_path / "x.json"), str(runs[0])]) == 2
    assert "not a diffcmp results file" in capsys.readouterr().err
