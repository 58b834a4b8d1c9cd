"""The report: verdict, summary, sections, plots, and ``diffcmp report`` re-rendering."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest

import diffcmp
from diffcmp import Result, cli
from diffcmp.api import Options, run_cases
from diffcmp.report.blocks import anchor
from diffcmp.report.folder import MARKER, write_report
from diffcmp.report.markdown import footer, render_markdown
from diffcmp.report.plots import error_figure, grad_time_figure, ratio_figure
from diffcmp.report.sections import noise_note
from diffcmp.report.short import failure_message
from diffcmp.report.verdict import agreement_sentence, verdict
from diffcmp.results.derived import cost_table
from diffcmp.results.environment import Usage, other_cpu
from diffcmp.results.tables import time_spent

PLOTS = ["errors.png", "grad_time.png", "grad_loss_ratio.png"]


def small_suite() -> list[diffcmp.Case]:
    """Three cases: all agree; complex step unsupported; central differences made to mismatch."""
    return [
        diffcmp.Case(name="line", loss="(w*x - y)**2", params={"w": 1.0},
                     data={"x": 1.0, "y": 2.0}, expect={"loss": 1.0, "grad": {"w": -2.0}}),
        diffcmp.Case(name="with_abs", loss="abs(w[0]) + w[1]**2", params={"w": [0.5, -1.5]}),
        diffcmp.Case(name="cubic_tight", loss="w**3", params={"w": 1.3},
                     tolerance={"fd-central": 1e-30}),
    ]


@pytest.fixture(scope="module")
def untimed() -> Result:
    """One case, not timed: a report with one plot, quick to write again and again."""
    return run_cases(small_suite()[:1], Options(timing=False))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    result = run_cases(small_suite(), Options(min_time=0.01))
    out = write_report(result, tmp_path_factory.mktemp("reports") / "run")
    return result, out


def test_the_report_opens_with_the_verdict_and_the_summary(run: tuple[Result, Path]) -> None:
    result, out = run
    text = (out / "report.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "# diffcmp report"
    assert lines[2] == ("**FAIL.** All 8 engines (sympy, matcalc, torch, torch-fwd, jax, "
                        "jax-fwd, fd-central, fd-complex) agree with the reference at 2 of 3 "
                        "graded points of 3 cases; fd-central is off (mismatch) on "
                        "[`cubic_tight`](#cubic_tight). "
                        "Engines that could not be asked: fd-complex unsupported on 1 case.")
    summary = text.index("## Summary")
    assert summary < text.index("## Status by engine") < text.index("## Plots") \
        < text.index("## Timing") < text.index("## Tolerances") < text.index("## Environment") \
        < text.index("## Cases")
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in lines if line.startswith("| [`")}
    sizes = {r.case: f"{r.grad_ops} → {r.grad_cse_ops}" for r in result.expressions.itertuples()}
    # params, then sympy, matcalc, torch, torch-fwd, jax, jax-fwd, fd-central, fd-complex
    assert rows["[`line`](#line)"] == ["1", *["ok"] * 8, sizes["line"]]
    assert rows["[`with_abs`](#with_abs)"] == ["2", *["ok"] * 7, "unsupported",
                                               sizes["with_abs"]]
    assert rows["[`cubic_tight`](#cubic_tight)"] == ["1", *["ok"] * 6, "**mismatch**", "ok",
                                                     sizes["cubic_tight"]]


def test_every_internal_link_has_its_heading(run: tuple[Result, Path]) -> None:
    text = (run[1] / "report.md").read_text(encoding="utf-8")
    headings = {anchor(h.strip("# `")) for h in re.findall(r"^#+ .*$", text, re.M)}
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links == {"line", "with_abs", "cubic_tight"}
    assert links <= headings


def test_every_table_row_has_as_many_cells_as_its_header(run: tuple[Result, Path]) -> None:
    """Pipes inside cells (the rule |a - b| in the tolerance sources) are escaped."""
    text = (run[1] / "report.md").read_text(encoding="utf-8")
    cells = None
    for line in text.splitlines():
        if not line.startswith("|"):
            cells = None
            continue
        count = len(re.findall(r"(?<!\\)\|", line))
        cells = count if cells is None else cells
        assert count == cells, line


def test_tolerances_environment_timing_and_footer(run: tuple[Result, Path]) -> None:
    result, out = run
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "`error = |a - b| / max(floor, |a| + |b|)`" in text
    assert "ADBench and GradBench use the fixed floor 1 (`rho_adbench`" in text
    assert "Case overrides: `cubic_tight` fd-central 1e-30." in text
    env = result.meta["environment"]
    assert f"- Python {env['python']} on " in text
    assert f"PyTorch {env['torch']}, JAX {env['jax']}" in text
    assert "- PyTorch threads: 1; dtype float64" in text
    assert "PyTorch runs on 1 thread (`--threads`)" in text
    assert "**What `grad / loss` should be.** Reverse mode" in text
    assert "2n + 1 loss calls" in text
    assert re.search(r"^Run took .+, of which .+ in timed calls of `loss` and `grad` \(min-time "
                     r"0.01 s per phase; PyTorch on 1 thread\) and .+ preparing engines \(the "
                     r"derivation `reference` and `sympy` share counted once\)\.", text, re.M)


def test_case_sections_hold_agreement_timing_and_expression_sizes(
        run: tuple[Result, Path]) -> None:
    result, out = run
    text = (out / "report.md").read_text(encoding="utf-8")
    section = text[text.index("### `cubic_tight`"):text.index("---\n")]
    sizes = result.expressions.set_index("case").loc["cubic_tight"]
    assert (f"SymPy's scalar gradient (operations): loss {int(sizes['loss_ops'])}, gradient "
            f"{int(sizes['grad_ops'])}, after `cse` {int(sizes['grad_cse_ops'])}") in section
    assert "The vectorised gradient (derived in " in section
    assert f"`{sizes['formula']}`" in section
    assert "1 parameter: central differences take 2n + 1 = 3 loss calls" in section
    assert re.search(r"^\| fd-central +\| \*\*mismatch\*\* +\|", section, re.M)
    header = [c.strip() for c in section.split("| engine")[2].splitlines()[0].split("|")]
    assert header[:7] == ["", "prepare", "prepare steps", "loss (IQR)", "grad (IQR)",
                          "grad / loss", "calls"]
    costs = cost_table(result)
    jax_row = costs[(costs["case"] == "cubic_tight") & (costs["engine"] == "jax")].iloc[0]
    assert jax_row["ratio"] == pytest.approx(jax_row["grad_s"] / jax_row["loss_s"])
    assert {"trace", "compile", "first call"} <= set(jax_row["steps"])
    assert re.search(rf"^\| jax .*\| +{jax_row['ratio']:.2f} \|", section, re.M)
    line_section = text[text.index("### `line`"):text.index("### `with_abs`")]
    assert "<summary>Expectations: 2 of 2 hold</summary>" in line_section


def test_plots_exist_are_linked_and_listed_in_the_marker(run: tuple[Result, Path]) -> None:
    out = run[1]
    text = (out / "report.md").read_text(encoding="utf-8")
    linked = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", text)
    assert linked == PLOTS
    for name in linked:
        image = matplotlib.image.imread(out / name)
        assert image.shape[0] > 300 and image.shape[1] > 600
    assert set(PLOTS) <= set((out / MARKER).read_text().split())


def test_report_rerenders_the_same_report_without_recomputing(
        run: tuple[Result, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, out = run

    def no_running(*args: object, **kwargs: object) -> None:
        raise AssertionError("diffcmp report must not run anything")

    monkeypatch.setattr(cli, "run_suite", no_running)
    monkeypatch.setattr("diffcmp.api.evaluate", no_running)
    again = tmp_path / "again"
    assert cli.main(["report", str(out / "results.json"), "--out", str(again)]) == 0
    assert sorted(p.name for p in again.iterdir()) == sorted(p.name for p in out.iterdir())
    assert (again / "report.md").read_text() == (out / "report.md").read_text()
    for name in ("agreement.csv", "timing.csv", "expressions.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(again / name), pd.read_csv(out / name))
    # a report folder is accepted too, and an existing --out needs --force
    assert cli.main(["report", str(out), "--out", str(again)]) == 2
    assert cli.main(["report", str(out), "--out", str(again), "--force"]) == 0


def test_report_in_place_replaces_the_folder_whole(untimed: Result, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    write_report(untimed, folder)
    original = (folder / "report.md").read_text()
    (folder / "report.md").write_text("stale")
    (folder / "errors.png").unlink()
    assert cli.main(["report", str(folder / "results.json")]) == 0
    assert (folder / "report.md").read_text() == original
    assert (folder / "errors.png").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["copy"]  # no staging folder left behind


def test_a_failed_rerender_keeps_the_old_report(untimed: Result, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "copy"
    write_report(untimed, folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def broken(*args: object) -> list[str]:
        raise OSError("disk full")

    monkeypatch.setattr("diffcmp.report.folder.write_plots", broken)
    with pytest.raises(OSError, match="disk full"):
        cli.main(["report", str(folder / "results.json")])
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["copy"]


def test_report_in_place_never_touches_a_folder_with_other_files(
        run: tuple[Result, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "results.json").write_text(run[0].to_json())
    (folder / "notes.txt").write_text("precious")
    assert cli.main(["report", str(folder / "results.json")]) == 2
    assert "error: " in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "results.json"]


def test_report_of_a_file_that_is_not_results_is_an_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "results.json"
    bad.write_text('{"format": "something else"}')
    assert cli.main(["report", str(bad)]) == 2
    assert "not a diffcmp results file" in capsys.readouterr().err
    assert cli.main(["report", str(tmp_path / "missing.json")]) == 2


def test_noisy_timings_are_flagged_with_other_work_not_diffcmps_own(
        run: tuple[Result, Path]) -> None:
    result = run[0]
    quiet = Result.from_json(result.to_json())
    timed = quiet.timing["phase"].isin(["loss", "grad"])
    quiet.timing.loc[timed, "iqr_s"] = quiet.timing.loc[timed, "median_s"] * 0.05
    env = quiet.meta["environment"]
    # the run itself kept the load at 2.07 on 2 cores (the user trial): not other work
    env.update(cpu_count=2, load_avg=[2.07, 1.2, 0.8], load_avg_before=[0.1, 0.2, 0.3],
               other_cpu=0.1)
    assert noise_note(quiet) == ""
    assert "Noisy timings" not in quiet.to_markdown()
    env["other_cpu"] = 1.3  # busy, even with tight IQRs
    assert noise_note(quiet).startswith("**Noisy timings.** Other processes kept 1.3 of the 2 "
                                        "logical cores busy during the run (diffcmp's own work "
                                        "not counted): other work shared the CPU.")
    env["other_cpu"] = None  # unknown (not Linux): the load before the run decides
    assert noise_note(quiet) == ""
    env["load_avg_before"] = [1.5, 1.0, 0.5]
    assert "The load average was 1.5 / 1 / 0.5 (1 / 5 / 15 minutes) on 2 logical cores when " \
           "the run started" in noise_note(quiet)
    noisy = Result.from_json(result.to_json())
    timed = noisy.timing["phase"].isin(["loss", "grad"])
    noisy.timing.loc[timed, "iqr_s"] = noisy.timing.loc[timed, "median_s"] * 0.8
    noisy.meta["environment"].update(cpu_count=2, other_cpu=1.0)
    note = noise_note(noisy)
    assert note.startswith("**Noisy timings.** The typical measurement's IQR is 80% of its "
                           "median")
    assert "other processes kept 1.0 of the 2 logical cores busy" in note
    assert note in noisy.to_markdown()


def test_the_environment_records_the_load_before_and_other_work(
        run: tuple[Result, Path]) -> None:
    result, out = run
    env = result.meta["environment"]
    assert len(env["load_avg_before"]) == len(env["load_avg"]) == 3
    assert env["other_cpu"] is None or env["other_cpu"] >= 0
    text = (out / "report.md").read_text()
    assert re.search(r"^- Load average \(1 / 5 / 15 minutes\): [\d.]+ / [\d.]+ / [\d.]+ before "
                     r"the run, [\d.]+ / [\d.]+ / [\d.]+ when it ended, the run's own work "
                     r"included$", text, re.M)
    start = Usage(wall=0.0, own_cpu=5.0, busy_cpu=100.0, load_avg=None)
    assert other_cpu(start, Usage(10.0, 14.0, 112.0, None)) == 0.3  # 12 s busy, 9 s ours
    assert other_cpu(start, Usage(10.0, 14.0, 108.0, None)) == 0.0  # never below zero
    assert other_cpu(start, Usage(0.5, 5.4, 101.0, None)) is None  # too short to tell
    assert other_cpu(Usage(0.0, 5.0, None, None), Usage(10.0, 14.0, None, None)) is None


def test_a_run_without_timing_has_no_timing_plots_or_tables(untimed: Result,
                                                           tmp_path: Path) -> None:
    out = write_report(untimed, tmp_path / "r")
    text = (out / "report.md").read_text()
    assert re.findall(r"!\[[^\]]+\]\(([^)]+)\)", text) == ["errors.png"]
    assert "## Timing" not in text and "grad / loss" not in text
    assert not (out / "grad_time.png").exists()


def test_the_verdict_reads_well_for_one_case_and_for_all_or_none(
        run: tuple[Result, Path]) -> None:
    one = Result.from_json(run[0].to_json())
    one.agreement = one.agreement[one.agreement["case"] == "cubic_tight"]
    assert verdict(one, links=False).startswith(
        "**FAIL.** Not all 8 engines (sympy, matcalc, torch, torch-fwd, jax, jax-fwd, "
        "fd-central, fd-complex) agree with the reference at the one graded point of the one "
        "case; fd-central is off "
        "(mismatch) on cubic_tight.")
    engines = ["sympy", "torch", "jax"]
    assert agreement_sentence(engines, 1, 1, 1) == (
        "All 3 engines (sympy, torch, jax) agree with the reference at the one graded point of "
        "the one case")
    assert agreement_sentence(engines, 4, 4, 4).endswith(
        "agree with the reference at all 4 graded points of 4 cases")
    assert agreement_sentence(engines, 4, 0, 2) == (
        "Not all 3 engines (sympy, torch, jax) agree with the reference at any of the 4 graded "
        "points of 2 cases")
    assert agreement_sentence(engines, 4, 3, 4).endswith("at 3 of 4 graded points of 4 cases")
    assert agreement_sentence(["torch"], 1, 0, 1) == ("torch does not agree with the reference "
                                                      "at the one graded point of the one case")
    assert agreement_sentence(["torch", "jax"], 2, 2, 2) == (
        "Both torch and jax agree with the reference at all 2 graded points of 2 cases")
    # nothing graded: never "agree"
    assert agreement_sentence(engines, 0, 0, 2, 3) == ("No engine was graded at any of the 3 "
                                                       "points of 2 cases")
    assert agreement_sentence(engines, 0, 0, 1, 1) == ("No engine was graded at the one point "
                                                       "of the one case")
    assert agreement_sentence([], 0, 0, 2, 2) == "Only the reference ran, on 2 cases"


def test_the_footer_counts_each_second_once(run: tuple[Result, Path]) -> None:
    """Prepare steps are not timed measurements, and the derivation that reference and sympy
    share is one derivation."""
    result = run[0]
    measured, prepared = time_spent(result.timing)
    assert 0 < measured and 0 < prepared
    assert measured + prepared <= result.meta["wall_s"]
    assert (result.meta["measured_s"], result.meta["prepare_s"]) == (measured, prepared)
    rows = [("c", "reference", "prepare: derive", 2.0, 1),
            ("c", "reference", "prepare: cse", 1.0, 1),
            ("c", "reference", "prepare: lambdify", 0.5, 1),
            ("c", "sympy", "prepare: derive", 2.0, 1), ("c", "sympy", "prepare: cse", 1.0, 1),
            ("c", "sympy", "prepare: lambdify", 0.25, 1), ("c", "torch", "loss", 1e-3, 100),
            ("c", "torch", "grad", 2e-3, 50), ("d", "sympy", "prepare: derive", 4.0, 1)]
    timing = pd.DataFrame([dict(zip(["case", "engine", "phase", "median_s", "runs"], r,
                                    strict=True)) for r in rows])
    assert time_spent(timing) == pytest.approx((0.2, 2 + 1 + 0.5 + 0.25 + 4))
    no_timing = Result.from_json(result.to_json())
    no_timing.timing = no_timing.timing.iloc[0:0]
    no_timing.meta["options"]["timing"] = False
    assert footer(no_timing).endswith("; nothing was timed (`--no-timing`).")


def test_ok_rows_carry_no_message_and_the_report_shows_none(run: tuple[Result, Path]) -> None:
    result, out = run
    rows = result.agreement
    assert (rows[rows["status"] == "ok"]["message"] == "").all()
    text = (out / "report.md").read_text()
    section = text[text.index("### `line`"):text.index("### `with_abs`")]
    agreement = section[section.index("| engine"):]
    agreement = agreement[:agreement.index("\n\n")]  # the first table: agreement
    table_rows = agreement.splitlines()[2:]
    assert len(table_rows) == 9  # the reference and eight engines
    for line in table_rows:
        assert line.split("|")[2].strip() == "ok"
        assert line.split("|")[-2].strip() == ""  # the message column
    assert " vs reference " not in section


def test_axis_labels_fit_inside_their_figures(run: tuple[Result, Path]) -> None:
    """Long case names push the axes right; a one-line x label under them was cut off."""
    result = Result.from_json(run[0].to_json())
    for frame in (result.agreement, result.timing, result.gradients):
        frame["case"] = frame["case"] + "_" + "x" * 30
    for make in (error_figure, grad_time_figure, ratio_figure):
        figure = make(result)
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        for axes in figure.axes:
            for label in (axes.xaxis.label, axes.yaxis.label, axes.title):
                box = label.get_window_extent(renderer)
                assert 0 <= box.x0 and box.x1 <= figure.bbox.width, (make.__name__,
                                                                     label.get_text())
                assert 0 <= box.y0 and box.y1 <= figure.bbox.height, make.__name__


def _points_suite(declare: bool) -> list[diffcmp.Case]:
    """One case of each kind of point: graded (its own point and 2 sampled), a kink, undefined
    (declared or not), and unresolved (1 - cos(w) at 1e-26 needs 200 digits; the ceiling is
    100)."""
    declared = {"status": {"reference": "undefined"}} if declare else {}
    return [
        diffcmp.Case(name="graded", loss="w**2 + 1", params={"w": 1.5},
                     sample={"count": 2, "seed": 0}),
        diffcmp.Case(name="kink", loss="abs(w)", params={"w": 0.0}),
        diffcmp.Case(name="log0", loss="log(w)", params={"w": 0.0}, expect=declared),
        diffcmp.Case(name="unsettled", loss="(1 - cos(w))/w**2", params={"w": 1e-26},
                     reference={"max_digits": 100}),
    ]


def test_the_verdict_counts_graded_kink_undefined_and_unresolved_points_apart() -> None:
    options = Options(engines=("torch",), timing=False)
    passed = run_cases(_points_suite(declare=True), options)
    assert passed.exit_code == 0
    assert verdict(passed, links=False) == (
        "**PASS.** torch agrees with the reference at all 3 graded points of 4 cases; 1 point is "
        "a kink, 1 undefined (declared), 1 unresolved. 1 known failure(s) are declared by their "
        "cases and count as expected (marked †).")
    failed = run_cases(_points_suite(declare=False), options)
    assert failed.exit_code == 1
    assert verdict(failed, links=False) == (
        "**FAIL.** torch agrees with the reference at all 3 graded points of 4 cases; 1 point is "
        "a kink, 1 undefined (not declared), 1 unresolved; the loss is undefined on log0, which "
        'nothing declares (`[expect.status] reference = "undefined"` would).')
    assert failure_message(failed).splitlines() == [
        "diffcmp: the loss is undefined at 1 point of 4 cases, and nothing declares it "
        '([expect.status] reference = "undefined" in a case file, allow_undefined=True in '
        "Python)",
        "  log0: reference: undefined: " + failed.agreement.loc[
            (failed.agreement["case"] == "log0") & (failed.agreement["engine"] == "reference"),
            "message"].iloc[0]]
    # the report's summary marks the failing cell bold, the declared one with the mark
    for result, cell in ((failed, "**undefined**"), (passed, "undefined†")):
        rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
                for line in render_markdown(result).splitlines() if line.startswith("| [`")}
        assert rows["[`log0`](#log0)"] == ["1", cell, "-"]


def test_a_run_with_nothing_graded_is_never_a_pass_of_agreement() -> None:
    kinks = run_cases([diffcmp.Case(name="kink", loss="abs(w)", params={"w": 0.0})],
                      Options(engines=("torch",), timing=False))
    assert kinks.exit_code == 0  # a kink fails nothing, but grades nothing either
    line = verdict(kinks, links=False)
    assert line == ("**NOTHING GRADED.** No engine was graded at the one point of the one case; "
                    "1 point is a kink.")
    assert "agree" not in line and "PASS" not in line


@pytest.mark.parametrize(("declared", "engine", "status", "allow", "fails_run"), [
    ({}, "reference", "undefined", False, True),            # nothing graded, nothing declared
    ({}, "torch", "undefined", False, True),
    ({}, "torch", "undefined", True, False),                # allow_undefined=True
    ({"reference": "undefined"}, "reference", "undefined", False, False),
    ({"reference": "undefined"}, "torch", "undefined", False, False),  # covered by it
    ({"reference": "undefined"}, "reference", "ok", False, True),      # declared, not seen
    ({"reference": "undefined"}, "fd-complex", "unsupported", False, False),
    ({"reference": "undefined", "torch": "nan"}, "torch", "undefined", False, True),  # its own
    ({}, "reference", "kink", False, False), ({}, "torch", "unresolved", False, False),
    ({}, "sympy", "skipped", False, False), ({}, "torch", "nan", True, True),
])
def test_which_rows_fail_the_run(declared: dict[str, str], engine: str, status: str,
                                 allow: bool, fails_run: bool) -> None:
    from diffcmp.grading.declared import declaration, fails
    assert fails(status, declaration(declared, engine, status, allow)) is fails_run


def test_a_declared_undefined_point_that_is_defined_fails() -> None:
    case = diffcmp.Case(name="defined", loss="w**2", params={"w": 1.0},
                        expect={"status": {"reference": "undefined"}})
    result = run_cases([case], Options(engines=("torch",), timing=False))
    assert result.exit_code == 1
    assert list(result.failing()["engine"]) == ["reference"]
    assert not result.expectations["holds"].any()
    assert verdict(result, links=False).startswith(
        "**FAIL.** torch agrees with the reference at the one graded point of the one case; the "
        "reference is ok, not as declared, on defined. 1 expectation(s) failed: `defined` "
        "reference expected undefined, got ok.")
    assert failure_message(result).splitlines() == [
        "diffcmp: the reference's row fails (ok) on 'defined'",
        "  reference: ok (declared undefined): no message"]


def test_a_declared_status_of_an_engine_that_did_not_run_is_ignored_and_said_so(
        tmp_path: Path) -> None:
    case = diffcmp.Case(name="cancels", loss="(1 - cos(w))/w**2", params={"w": 1e-5},
                        expect={"status": {"sympy": "mismatch", "torch": "mismatch"}})
    result = run_cases([case], Options(engines=("torch",), timing=False))
    assert result.exit_code == 0 and result.ok
    held = result.expectations[["item", "expected", "actual", "holds"]].values.tolist()
    assert held == [["sympy", "mismatch", "not run", True],
                    ["torch", "mismatch", "mismatch", True]]
    assert verdict(result, links=False) == (
        "**PASS.** torch does not agree with the reference at the one graded point of the one "
        "case; there, engines are off as their cases declare (†). Declared statuses "
        "ignored (engine not run): sympy on 1 case. 1 known failure(s) are declared by their "
        "cases and count as expected (marked †).")
    assert failure_message(result) == ""
    assert re.search(r"\| status +\| sympy +\| +mismatch \| +not run \| "
                     r"ignored \(engine not run\) \|", render_markdown(result))
