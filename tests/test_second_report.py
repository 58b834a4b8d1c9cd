"""Second order in the tables and reports: the report's "Second order" section, the verdict that
counts the Hessian's rows, run diffs keyed by derivative, and sweeps with ``--order 2``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import diffcmp
from diffcmp import Options, run_cases
from diffcmp.cases import load_cases
from diffcmp.report.html import render_html
from diffcmp.report.markdown import render_markdown
from diffcmp.report.short import failure_message
from diffcmp.report.sweep import render_sweep_markdown, write_sweep_report
from diffcmp.report.verdict import verdict
from diffcmp.results.rundiff import compare_results
from diffcmp.results.tables import Tables

CASES = Path(__file__).resolve().parent.parent / "cases"
#: fd-central's second differences of exp are off by ~4e-6: beyond a zero tolerance, as its
#: gradient; torch's Hessian is exact.
EXP = ("exp(w[0]) * w[1]", {"w": [0.3, 1.2]})


@pytest.fixture(scope="module")
def second() -> Tables:
    """Rosenbrock and the kink at second order, timed briefly."""
    cases = [*load_cases(CASES / "testfn_rosenbrock.toml"),
             *load_cases(CASES / "kink_relu_at_zero.toml")]
    return run_cases(cases, Options(engines=("matcalc", "torch", "torch-fwd", "fd-central"),
                                    order=2, min_time=0.01))


@pytest.fixture(scope="module")
def exp_run() -> Tables:
    """One point, agreeing everywhere, at second order, untimed."""
    return diffcmp.compare(EXP[0], EXP[1], engines=["fd-central", "torch"], timing=False,
                           order=2)


def _section(text: str, heading: str) -> str:
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_a_second_order_run_reports_hessian_verdicts_formulas_and_cost_ratios(
        second: Tables) -> None:
    text = render_markdown(second)
    head = text.splitlines()[2]
    assert head.startswith("**PASS.**")
    assert "their Hessians and Hessian-vector products agree at all 5 graded points" in head
    assert "Second derivatives that could not be asked for: torch-fwd unsupported on 2 " \
           "cases." in head
    assert "Engines that could not be asked" not in head  # every engine computes a gradient
    section = _section(text, "Second order")
    rows = {}
    case = ""
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 8 and not cells[0].startswith(":"):
            case = cells[0] or case
            rows[(case, cells[1])] = cells
    assert rows[("`testfn_rosenbrock`", "torch")][2:5:2] == ["ok", "ok"]
    assert rows[("`testfn_rosenbrock`", "fd-central")][2] == "ok"
    assert rows[("`testfn_rosenbrock`", "torch-fwd")][2] == "unsupported"
    assert rows[("`kink_relu_at_zero`", "torch")][2] == "kink"
    # the tolerance by engine at second order, with its source (not for an engine without any)
    assert re.search(r"^\| fd-central +\| +0.0001 \| second differences of the loss", section,
                     re.M)
    assert not re.search(r"^\| torch-fwd +\| +1e-09 \|", section, re.M)
    assert "- `testfn_rosenbrock` (derived in " in section and "(Hv)_x = " in section
    assert "a Hessian-vector product costs a small constant times a gradient" in section
    ratio = re.search(r"^\| torch +\| +(\d+\.\d\d) \|", section[section.index("Cost in"):],
                      re.M)
    assert ratio is not None and float(ratio.group(1)) > 0
    # the gradient's tables keep the gradient's rows only
    summary = _section(text, "Summary")
    assert re.search(r"^\| \[`testfn_rosenbrock`\].*\| ok +\| ok +\| ok +\| ok +\|", summary,
                     re.M)
    case_section = text[text.index("### `testfn_rosenbrock`"):text.index("### `kink_relu")]
    assert "offers no Hessian" not in case_section
    assert "hessian (IQR)" in case_section
    assert "in timed calls of `loss`, `grad`, `hessian` and `hvp`" in text


def test_a_first_order_run_has_no_second_order_section() -> None:
    result = run_cases(load_cases(CASES / "testfn_booth.toml"),
                       Options(engines=("torch",), timing=False))
    text = render_markdown(result)
    assert "Second order" not in text and "Hessian-vector" not in text


def test_the_verdict_counts_a_hessian_mismatch(exp_run: Tables) -> None:
    assert exp_run.exit_code == 0
    failed = diffcmp.compare(EXP[0], EXP[1], engines=["fd-central", "torch"], timing=False,
                             order=2, tolerance={"fd-central": 0})
    line = verdict(failed, links=False)
    assert line.startswith("**FAIL.**")
    assert "their Hessians and Hessian-vector products do not agree at the one graded " \
           "point" in line
    assert "fd-central is off (mismatch) on the gradient, Hessian and Hessian-vector " \
           "product of loss" in line
    # a Hessian off while every gradient agrees: FAIL, and which derivative is off
    tables = Tables.from_json(exp_run.to_json())
    rows = tables.agreement
    rows.loc[(rows["engine"] == "torch") & (rows["derivative"] == "hessian"),
             "status"] = "mismatch"
    line = verdict(tables, links=False)
    assert line.startswith("**FAIL.** Both fd-central and torch agree with the reference at "
                           "the one graded point of the one case; their Hessians and "
                           "Hessian-vector products do not agree at the one graded point; "
                           "torch is off (mismatch) on the Hessian of loss.")
    assert "torch (Hessian): mismatch" in failure_message(tables)
    assert "torch (Hessian)</td><td class='diffcmp-fail'" in render_html(tables)


def test_diff_compares_rows_keyed_by_derivative(exp_run: Tables) -> None:
    old = Tables.from_json(exp_run.to_json())
    new = Tables.from_json(exp_run.to_json())
    rows = new.agreement
    rows.loc[(rows["engine"] == "torch") & (rows["derivative"] == "hessian"),
             "status"] = "mismatch"
    comparison = compare_results(old, new)
    assert [(c.engine, c.derivative, c.old, c.new) for c in comparison.status_changes] == [
        ("torch", "hessian", "ok", "mismatch")]
    assert comparison.exit_code == 1
    assert re.search(r"^loss +torch +hessian +ok +mismatch +WORSE$", comparison.to_text(), re.M)
    # a version 3 file has no derivative column: its rows are the gradient's
    payload = json.loads(exp_run.to_json())
    payload["format_version"] = 3
    payload["agreement"] = [{k: v for k, v in row.items() if k != "derivative"}
                            for row in payload["agreement"] if row["derivative"] == "gradient"]
    payload.pop("hessians")
    v3 = Tables.from_json(json.dumps(payload))
    assert set(v3.agreement["derivative"]) == {"gradient"}
    assert compare_results(v3, old).status_changes == []
    assert "## Second order" not in render_markdown(v3)


def test_a_sweep_at_second_order_times_and_fits_the_hessian(tmp_path: Path) -> None:
    case = load_cases(CASES / "sweeps" / "least_squares.toml")[0]
    result = diffcmp.sweep(case, [10, 30], Options(engines=("torch", "torch-fwd",
                                                            "fd-central"),
                                                   order=2, min_time=0.01))
    table = result.table
    assert set(table["phase"]) == {"prepare", "loss", "grad", "hessian", "hvp"}
    hessian = table[(table["engine"] == "fd-central") & (table["phase"] == "hessian")]
    assert (hessian["median_s"] > 0).all() and set(hessian["status"]) == {"ok"}
    exponents = result.exponents
    fitted = exponents[(exponents["engine"] == "fd-central") & (exponents["phase"] == "hessian")]
    assert fitted["exponent"].notna().all()
    text = render_sweep_markdown(result)
    assert "## Second order per size" in text and "## Forward against reverse" in text
    assert re.search(r"^\| torch +\| .+\| torch-fwd +\|", text, re.M)
    assert "| unsupported " in _section(text, "Second order per size")
    out = write_sweep_report(result, tmp_path / "sweep")
    for name in ("sweep_hessian.png", "sweep_hvp.png", "sweep_forward_reverse.png"):
        assert (out / name).is_file()


def test_a_first_order_sweep_has_no_second_order_phases(tmp_path: Path) -> None:
    case = load_cases(CASES / "sweeps" / "least_squares.toml")[0]
    result = diffcmp.sweep(case, [10, 20], Options(engines=("torch",), timing=False))
    assert set(result.table["phase"]) == {"prepare", "loss", "grad"}
    assert "Second order" not in render_sweep_markdown(result)
