"""Messages a person acts on: a mismatch counts the wrong components and shows the worst few
with both values, a NaN names the first non-finite output, formulas print as the language writes
them, ``str(result)`` is the verdict line, and the progress line says ok/failed with counts."""

from __future__ import annotations

import numpy as np

import diffcmp
from diffcmp.grading.grade import Outcome, Verdict, grade
from diffcmp.matcalc.printer import formula
from diffcmp.report.short import failure_message
from diffcmp.run.options import Options
from diffcmp.run.progress import Finished
from diffcmp.run.rows import CaseResult
from diffcmp.status import Status
from diffcmp.symbolic.problem import lower

COMPONENTS = ["w[0]", "w[1]", "w[2]", "w[3]", "w[4]"]
REFERENCE = Outcome(loss=55.0, grad=np.array([2.0, 4.0, 6.0, 8.0, 10.0]))


def _graded(grad: list[float], loss: float = 55.0) -> str:
    return grade("mine", Outcome(loss=loss, grad=np.array(grad)), REFERENCE, COMPONENTS,
                 1e-10).message


def test_one_wrong_component_is_named_with_both_values() -> None:
    assert _graded([2.0, 4.0, 6.0, 8.0, 11.0]) == "w[4]: mine 11 vs reference 10"


def test_several_wrong_components_are_counted_and_the_worst_three_shown() -> None:
    assert _graded([2.5, 5.0, 6.06, 8.0, 13.0]) == (
        "4 of 5 gradient components are off (error > tolerance 1e-10), the worst: w[4]: mine "
        "13 vs reference 10 (error 0.13); w[0]: mine 2.5 vs reference 2 (error 0.111); w[1]: "
        "mine 5 vs reference 4 (error 0.111); and 1 more")
    assert _graded([2.5, 5.0, 6.0, 8.0, 10.0]) == (
        "2 of 5 gradient components are off (error > tolerance 1e-10), the worst: w[0]: mine "
        "2.5 vs reference 2 (error 0.111); w[1]: mine 5 vs reference 4 (error 0.111)")


def test_a_nan_names_the_first_non_finite_output() -> None:
    assert _graded([2.0, np.nan, 6.0, 8.0, 10.0]) == "w[1]: mine nan vs reference 4"
    assert _graded([2.0, np.nan, np.inf, 8.0, 10.0]) == (
        "2 of 5 gradient components are not finite; the first: w[1]: mine nan vs reference 4")
    assert _graded([np.nan] * 5, loss=np.nan) == (
        "loss: mine nan vs reference 55; the gradient too (5 of 5 gradient components are not "
        "finite)")
    assert _graded([2.0, 4.0, 6.0, 8.0, 10.0], loss=np.inf) == "loss: mine inf vs reference 55"


def test_the_failure_message_gives_the_count_once_with_the_tolerance() -> None:
    def wrong(w: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        return float(w @ w), {"w": 2 * w + np.array([0.5, 1.0, 0.0, 0.0, 3.0])}

    result = diffcmp.check(wrong, {"w": np.array([1.0, 2.0, 3.0, 4.0, 5.0])},
                           loss="sum(w**2)", engines=("torch",))
    assert failure_message(result).splitlines() == [
        "diffcmp: 1 engine(s) disagree with the reference on 'wrong'",
        "  wrong: mismatch: 3 of 5 gradient components are off (error > tolerance 1e-10), the "
        "worst: w[4]: wrong 13 vs reference 10 (error 0.13); w[0]: wrong 2.5 vs reference 2 "
        "(error 0.111); w[1]: wrong 5 vs reference 4 (error 0.111)"]


def test_str_of_a_result_is_its_verdict_line() -> None:
    result = diffcmp.compare("(w*x - y)**2", params={"w": 1.0}, data={"x": 1.0, "y": 2.0},
                             engines=("torch",))
    line = ("PASS. torch agrees with the reference at the one graded point of the one case.")
    assert str(result) == line
    assert repr(result) == f"<Result: {line}>"


def test_a_reshape_prints_as_the_language_writes_it() -> None:
    case = diffcmp.Case(name="outer", loss="sum(abs(reshape(w, (-1, 1)) @ reshape(v, (1, -1))))",
                        params={"w": [0.0, 1.0, 2.0, 3.0], "v": [1.0, 2.0]})
    result = diffcmp.run_cases([case], Options(engines=("torch",), timing=False))
    message = result.agreement.set_index("engine").loc["torch", "message"]
    assert "abs(reshape(w, (-1, 1)) @ reshape(v, (1, -1)))" in message  # the -1 kept
    assert "axis=" not in message


def test_a_kink_message_prints_the_shape_as_written() -> None:
    # before: `reshape(..., axis=(4, 1))`, then `reshape(..., (4, 1))`, for a loss that says
    # (-1, 1); an explicit size and a single one print as written too
    case = diffcmp.Case(name="tie", loss="sum(max(reshape(w, (-1, 1)) @ reshape(v, (1, 2)), 0))",
                        params={"w": [0.0, 1.0], "v": [1.0, 2.0]})
    result = diffcmp.run_cases([case], Options(engines=("torch",), timing=False))
    message = result.agreement.set_index("engine").loc["torch", "message"]
    assert message.startswith("kink: max(reshape(w, (-1, 1)) @ reshape(v, (1, 2)), 0) has tied "
                              "arguments"), message
    problem = lower(diffcmp.Case(name="flat", loss="sum(reshape(A, -1) * reshape(A, 6))",
                                 params={"A": np.ones((2, 3))}))
    assert formula(problem.array_gradient.loss) == "sum(reshape(A, -1) * reshape(A, 6))"


def _finished(rows: list[tuple[str, str]], declared: dict[str, str] | None = None,
              failed_expectations: int = 0) -> Finished:
    result = CaseResult("ml_lasso")
    nan = float("nan")
    for engine, status in rows:
        result.add_agreement(0, engine, Verdict(Status(status), nan, nan, ""), nan, 1e-10,
                             (declared or {}).get(engine))
    for _ in range(failed_expectations):
        result.add_expectation("loss", "loss", 1.0, 2.0, False)
    return Finished.of(result, 0.42)


def test_the_progress_line_says_ok_or_failed_with_counts_by_status() -> None:
    agree = _finished([("reference", "ok"), ("sympy", "ok"), ("torch", "ok"),
                       ("fd-complex", "unsupported")])
    assert agree.status == "unsupported"  # the worst status, for listeners
    assert agree.line(3, 62) == "[3/62] ml_lasso: ok (3 ok, 1 unsupported; 0.4 s)"
    off = _finished([("reference", "ok"), ("torch", "mismatch"), ("jax", "nan")])
    assert off.line(1, None) == "[1] ml_lasso: failed (1 ok, 1 mismatch, 1 nan; 0.4 s)"
    known = _finished([("reference", "ok"), ("torch", "nan")], {"torch": "nan"}, 1)
    assert known.line(2, 2) == ("[2/2] ml_lasso: failed (1 ok, 1 nan (declared); "
                                "1 expectation(s) failed; 0.4 s)")
