"""The reference's certified values beyond float64, and its bounds, kept as they are (issue 16):
exact decimal text with a flag in ``results.json``, the CSVs and the report, never a bare ``inf``
beside a message saying otherwise; a bound ``|v| <= b`` graded as 0 within ``b``."""

from __future__ import annotations

import json
import random
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pandas as pd
import pytest

import diffcmp
from diffcmp import Result, cli
from diffcmp.engines import reference_arb
from diffcmp.engines.certify import Certified
from diffcmp.grading.exact import (
    BEYOND,
    BOUND,
    Exact,
    bound_text,
    decimal_text,
    flag_of,
    float_below,
)
from diffcmp.grading.grade import Floors, Outcome, grade
from diffcmp.report.markdown import render_markdown
from diffcmp.results.tables import EXACT_COLUMNS, FORMAT_VERSION

#: exp(747), the loss's and the gradient's b at b = 747: float64 ends at 1.798e308.
with mpmath.workdps(40):
    EXP_747 = mpmath.nstr(mpmath.exp(747), 17)


@pytest.fixture(scope="module")
def beyond(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``diffcmp run`` of the issue's case at b = 747 (worker process, files as written)."""
    folder = tmp_path_factory.mktemp("beyond")
    case = folder / "beyond.toml"
    case.write_text('loss = "sin(sin(a**-2)) + exp(b)"\n[params]\na = 0.5\nb = 747.0\n')
    out = folder / "report"
    # torch overflows (nan, the run fails): the value exists beyond float64
    assert cli.main(["run", str(case), "--no-timing", "--engines", "torch", "--out", str(out),
                     "--quiet"]) == 1
    return out


def test_the_exact_value_is_exp_747_to_17_digits() -> None:
    assert EXP_747 == "2.6180502724744969e+324"


def test_gradients_csv_holds_the_exact_value_and_its_flag(beyond: Path) -> None:
    gradients = pd.read_csv(beyond / "gradients.csv", dtype=str, keep_default_na=False)
    b = gradients[gradients["component"] == "b"].set_index("engine")
    for engine in ("reference", "torch"):  # the reference's value, beside every engine's
        assert b.loc[engine, "reference"] == "inf"  # float64 holds no more
        assert b.loc[engine, "reference_exact"] == EXP_747
        assert b.loc[engine, "reference_flag"] == BEYOND
        assert b.loc[engine, "reference_bound"] == ""
    a = gradients[gradients["component"] == "a"].set_index("engine")
    assert a.loc["reference", "reference_flag"] == ""
    # dL/da = -2 cos(sin(4)) cos(4) / 0.125, certified to 17 digits
    with mpmath.workdps(40):
        exact_a = -2 * mpmath.cos(mpmath.sin(4)) * mpmath.cos(4) / mpmath.mpf(0.125)
        assert a.loc["reference", "reference_exact"] == mpmath.nstr(exact_a, 17)
    agreement = pd.read_csv(beyond / "agreement.csv", dtype=str, keep_default_na=False)
    rows = agreement.set_index("engine")
    assert rows.loc["reference", "loss"] == "inf"
    assert rows.loc["reference", "loss_exact"] == EXP_747  # exp(747) + 0.48...
    assert rows.loc["reference", "loss_flag"] == BEYOND
    assert rows.loc["torch", "loss_exact"] == ""  # torch's own loss is the float64 inf
    assert rows.loc["torch", "status"] == "nan"


def test_results_json_keeps_the_exact_text_and_round_trips(beyond: Path) -> None:
    text = (beyond / "results.json").read_text()
    payload = json.loads(text)
    assert payload["format_version"] == FORMAT_VERSION == 4
    b = [r for r in payload["gradients"] if r["component"] == "b" and r["engine"] == "reference"]
    assert b[0]["reference_exact"] == EXP_747 and b[0]["reference_flag"] == BEYOND
    result = Result.from_json(text)
    again = Result.from_json(result.to_json())
    for name in EXACT_COLUMNS:
        mine, theirs = getattr(result, name), getattr(again, name)
        assert list(mine.columns) == list(theirs.columns)
        for column in EXACT_COLUMNS[name]:
            assert mine[column].tolist() == theirs[column].tolist()
    assert EXP_747 in again.gradients["reference_exact"].tolist()


def _case_row(report: str, engine: str) -> str:
    """``engine``'s row in the (one) case's agreement table of ``report``."""
    section = report[report.index("### `"):]
    return next(line for line in section.splitlines() if line.startswith(f"| {engine} "))


def test_the_report_shows_the_value_never_a_bare_inf(beyond: Path) -> None:
    report = (beyond / "report.md").read_text()
    reference_row = _case_row(report, "reference")
    assert f"{EXP_747} (beyond float64)" in reference_row
    assert "| inf" not in reference_row
    listed = [line for line in report.splitlines() if line.startswith("| `b`")]
    assert listed and EXP_747 in listed[0] and "inf" in listed[0]  # and what float64 holds
    assert "Results format diffcmp-results v4" in report


def _as_version(text: str, version: int) -> str:
    """A results file as an older diffcmp wrote it: no certified text (and for version 1 no
    ``rho_adbench`` and ``floor``)."""
    payload = json.loads(text)
    payload["format_version"] = version
    dropped = {c for columns in EXACT_COLUMNS.values() for c in columns}
    if version == 1:
        dropped |= {"rho_adbench", "floor"}
    for name in EXACT_COLUMNS:
        payload[name] = [{k: v for k, v in row.items() if k not in dropped}
                         for row in payload[name]]
    return json.dumps(payload)


@pytest.mark.parametrize("version", [1, 2])
def test_report_and_diff_read_older_results(beyond: Path, tmp_path: Path, version: int,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.json"
    old.write_text(_as_version((beyond / "results.json").read_text(), version))
    result = Result.from_json(old.read_text())
    for name, columns in EXACT_COLUMNS.items():
        for column in columns:
            assert set(getattr(result, name)[column]) == {""}
    out = tmp_path / "again"
    assert cli.main(["report", str(old), "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    reference_row = _case_row(report, "reference")
    # no certified text in an older file: the reference's message says what the inf is
    assert "2.6180503e+324" in reference_row
    assert cli.main(["diff", str(old), str(beyond / "results.json")]) == 0
    assert "no engine got worse" in capsys.readouterr().out


# -- bounds: graded as 0 within them ---------------------------------------------------------

def _reference(bounds: list[str]) -> Outcome:
    """A reference with loss 1 and gradient (0, 2), the 0 known only as ``|v| <= bounds[1]``
    (``""``: proven)."""
    exact = Exact(("1.0", "0.0", "2.0"), tuple(bounds))
    return Outcome(loss=1.0, grad=np.array([0.0, 2.0]), digits=50, exact=exact)


#: No floor at all: every difference from 0 counts in full, so only the bound can excuse one.
NO_FLOOR = Floors(loss=0.0, grad=np.array([0.0, 0.0]), source="none")


def _engine(w0: float, loss: float = 1.0) -> Outcome:
    return Outcome(loss=loss, grad=np.array([w0, 2.0]))


def test_a_value_within_its_bound_is_exact() -> None:
    reference = _reference(["", "2.5e-300", ""])
    for w0 in (0.0, 1e-300, -2.5e-300):
        verdict = grade("torch", _engine(w0), reference, ["w[0]", "w[1]"], 1e-10, NO_FLOOR)
        assert verdict.status == "ok" and verdict.error == 0.0 and verdict.rho_adbench == 0.0
    # without the bound the same value is 100% off a proven 0
    proven = _reference(["", "", ""])
    verdict = grade("torch", _engine(1e-300), proven, ["w[0]", "w[1]"], 1e-10, NO_FLOOR)
    assert verdict.status == "mismatch" and verdict.error == 1.0


def test_a_value_beyond_its_bound_is_graded_against_0() -> None:
    reference = _reference(["", "2.5e-300", ""])
    verdict = grade("torch", _engine(3e-300), reference, ["w[0]", "w[1]"], 1e-10, NO_FLOOR)
    assert verdict.status == "mismatch" and verdict.error == 1.0  # rho(3e-300, 0, 0)
    assert "w[0]: torch 3e-300 vs reference 0 (|v| <= 2.5e-300, graded as 0)" in \
        verdict.message
    # with ADBench's floor 1 the same difference is 3e-300: ok, as for any value near 0
    verdict = grade("torch", _engine(3e-300), reference, ["w[0]", "w[1]"], 1e-10)
    assert verdict.status == "ok" and verdict.error == pytest.approx(3e-300)


def test_a_bound_below_float64_admits_only_0() -> None:
    # 2.5e-324 is half the smallest subnormal (4.94e-324): only 0 is within it
    reference = _reference(["", "2.5e-324", ""])
    ok = grade("torch", _engine(0.0), reference, ["w[0]", "w[1]"], 1e-10, NO_FLOOR)
    assert ok.status == "ok"
    off = grade("torch", _engine(5e-324), reference, ["w[0]", "w[1]"], 1e-10, NO_FLOOR)
    assert off.status == "mismatch" and "|v| <= 2.5e-324, graded as 0" in off.message


def test_a_bounded_loss_is_graded_as_0_within_it() -> None:
    exact = Exact(("0.0", "2.0"), ("1e-20", ""))
    reference = Outcome(loss=0.0, grad=np.array([2.0]), digits=50, exact=exact)
    floors = Floors(loss=0.0, grad=np.array([0.0]), source="none")
    within = grade("jax", Outcome(loss=-1e-21, grad=np.array([2.0])), reference, ["w"], 1e-10,
                   floors)
    assert within.status == "ok"
    beyond = grade("jax", Outcome(loss=1e-19, grad=np.array([2.0])), reference, ["w"], 1e-10,
                   floors)
    assert beyond.status == "mismatch" and "(|v| <= 1e-20, graded as 0)" in beyond.message


@pytest.fixture(scope="module")
def bounded() -> Result:
    """A run whose certificate bounds the gradient's b (as the certification will, for a value
    whose ball holds 0): ``sech(800)**2`` is 1.5e-695, reported as 0 within 2.5e-324."""
    real = reference_arb.certify

    def with_bound(*args: object, **kwargs: object) -> Certified:
        certified = real(*args, **kwargs)  # type: ignore[arg-type]
        if len(certified.values) != 3:  # the loss alone
            return certified
        values = [*certified.values[:2], mpmath.mpf(0)]
        return Certified(values, certified.digits, [None, None, mpmath.mpf("2.5e-324")])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reference_arb, "certify", with_bound)
        return diffcmp.compare("a**2 + tanh(b)", params={"a": 1.5, "b": 800.0}, timing=False,
                               engines=["reference", "torch"])


def test_a_bound_travels_to_the_tables_json_csv_and_report(bounded: Result,
                                                           tmp_path: Path) -> None:
    assert set(bounded.agreement["status"]) == {"ok"}  # torch's 0 is within the bound
    b = bounded.gradients[bounded.gradients["component"] == "b"]
    assert b["reference_flag"].tolist() == [BOUND, BOUND]
    assert b["reference_bound"].tolist() == ["2.5e-324", "2.5e-324"]
    assert b["reference"].tolist() == [0.0, 0.0]
    again = Result.from_json(bounded.to_json())
    assert again.gradients["reference_bound"].tolist() == \
        bounded.gradients["reference_bound"].tolist()
    bounded.gradients.to_csv(tmp_path / "gradients.csv", index=False)
    assert ",bound,2.5e-324" in (tmp_path / "gradients.csv").read_text()
    report = render_markdown(again)
    listed = [line for line in report.splitlines() if line.startswith("| `b`")]
    assert listed and r"\|v\| &lt;= 2.5e-324, graded as 0" in listed[0]


# -- the text itself -------------------------------------------------------------------------

def test_decimal_text_keeps_the_certified_precision() -> None:
    with mpmath.workdps(50):
        value = mpmath.exp(747)
    # at mpmath's default 15 digits a conversion would round it first: ...4967e+324
    assert decimal_text(value) == "2.6180502724744969e+324"
    assert decimal_text(0.1) == "0.10000000000000001"  # a float64 as it is
    assert decimal_text(10**400) == "1.0e+400"


def test_flags() -> None:
    assert flag_of("2.6180502724744969e+324") == BEYOND
    assert flag_of("-1.0306143491844598e-868") == BEYOND  # 0 in float64
    assert flag_of("1.0e-320") == ""  # a subnormal: float64 holds it
    assert flag_of("0.0") == "" and flag_of("3.25") == ""
    assert flag_of("0.0", "1e-300") == BOUND


def test_bounds_are_rounded_up_and_compared_rounded_down() -> None:
    rng = random.Random(16)
    for _ in range(300):
        with mpmath.workdps(60):
            b = mpmath.mpf(rng.random()) * mpmath.mpf(10) ** rng.randint(-400, 400)
        mantissa, exponent = b.man_exp
        exact = Fraction(mantissa) * Fraction(2) ** exponent
        text = bound_text(b)
        assert Fraction(text) >= exact  # still a bound
        digits = text.split("e")[0].replace(".", "").lstrip("0")
        assert len(digits) <= 3
        below = float_below(text)
        assert below == float("inf") or Fraction(below) <= Fraction(text)
        if below != float("inf"):
            above = float(np.nextafter(below, np.inf))
            assert Fraction(above) > Fraction(text)  # the largest float64 within it
    assert bound_text(mpmath.mpf(0)) == "0"
    assert float_below("2.5e-324") == 0.0 and float_below("1e400") == float("inf")
