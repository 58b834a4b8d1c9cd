"""``diffcmp gradbench``: GradBench's eval side against small GradBench tools written for the
purpose (tests/gradbench_tools/): a right one is ``ok`` on lse, llsq, det and kmeans; one 1% off
on one component of each derivative is a ``mismatch`` naming it (on lse where GradBench's own
rule passes it); a tool that crashes, hangs, answers with a wrong id, malformed JSON or a wrong
shape gets its status and message, and the run goes on with the next eval."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import mpmath
import numpy as np
import pytest

import diffcmp
from diffcmp.cli import main
from diffcmp.errors import DiffcmpError
from diffcmp.gradbench import evals, run_gradbench
from diffcmp.gradbench.reference import Reference
from diffcmp.gradbench.report import load_agreement
from diffcmp.registry import get_engine
from diffcmp.symbolic.problem import lower

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(__file__).resolve().parent / "gradbench_tools"
RIGHT = f"{sys.executable} {TOOLS / 'right_tool.py'}"
WRONG = f"{sys.executable} {TOOLS / 'wrong_tool.py'}"
#: Quick runs: one run each, the reference's values certified by their balls (its independent
#: derivation is most of its time; the slow test runs it).
QUICK = {"min_seconds": 0.0, "independent": False, "timeout": 60.0}


def _rows(result: object) -> dict[tuple[str, str], dict]:
    frame = result.agreement  # type: ignore[attr-defined]
    return {(r["eval"], r["function"]): r for r in frame.to_dict("records")}


# -- GradBench's inputs and the losses ----------------------------------------------------------

def test_inputs_are_drawn_as_gradbench_draws_them() -> None:
    rng = np.random.RandomState(31337)
    first, second = list(evals.gradbench_inputs(evals.EVALS["kmeans"], 2))
    points = rng.rand(1000, 8)
    assert first.description == "k=10,n=1000,d=8"
    assert first.payload == {"points": points.tolist(), "centroids": points[-10:].tolist()}
    points = rng.rand(1000, 16)  # the next size by k * n * d, from the same generator
    assert second.description == "k=10,n=1000,d=16"
    np.testing.assert_array_equal(second.case.data["P"], points)
    np.testing.assert_array_equal(second.case.params["C"], points[-10:])
    (lse,) = evals.gradbench_inputs(evals.EVALS["lse"])
    assert lse.payload == {"x": np.random.RandomState(31337).rand(2500).tolist()}
    (det,) = evals.gradbench_inputs(evals.EVALS["det"])
    assert det.payload["ell"] == 5 and det.case.params["A"].shape == (5, 5)
    (llsq,) = evals.gradbench_inputs(evals.EVALS["llsq"])
    assert llsq.payload["n"] == 16 and len(llsq.payload["x"]) == 128
    assert evals.llsq_t(3).tolist() == [-1.0, 0.0, 1.0]
    assert evals.EVALS["llsq"].sizes[:2] == ((16, 128), (32, 128))


def test_an_unknown_eval_or_count_is_an_error() -> None:
    with pytest.raises(DiffcmpError, match="unknown eval 'gmm'"):
        evals.find_evals("lse,gmm")
    with pytest.raises(DiffcmpError, match="positive whole number"):
        list(evals.gradbench_inputs(evals.EVALS["lse"], 0))


def test_the_losses_are_the_built_in_cases() -> None:
    assert evals.LSE == diffcmp.load_case(ROOT / "cases/gradbench/lse.toml").loss
    assert evals.LLSQ == diffcmp.load_case(ROOT / "cases/sweeps/llsq.toml").loss
    # kmeans: the general loss on the built-in case's points gives its [expect] values
    builtin = diffcmp.load_case(ROOT / "cases/gradbench/kmeans.toml")
    general = diffcmp.Case(name="k", loss=evals.KMEANS, params=builtin.params, data=builtin.data)
    reference = Reference.at(general, independent=False)
    assert reference.outcome.loss == pytest.approx(builtin.expect["loss"], rel=1e-15)
    np.testing.assert_allclose(reference.outcome.grad, builtin.expect["grad"]["C"].ravel(),
                               rtol=1e-15)
    # det: GradBench's first input is the built-in case's, its values derived there by LU
    (item,) = evals.gradbench_inputs(evals.EVALS["det"])
    det = diffcmp.load_case(ROOT / "cases/gradbench/det.toml")
    np.testing.assert_array_equal(item.case.params["A"], det.params["A"])
    reference = Reference.at(item.case, independent=False)
    assert reference.outcome.loss == pytest.approx(det.expect["loss"], rel=1e-15)
    np.testing.assert_allclose(reference.outcome.grad, det.expect["grad"]["A"].ravel(),
                               rtol=1e-14)


def test_kmeans_dir_is_each_centroid_minus_its_points_mean_by_hand() -> None:
    rng = np.random.RandomState(5)
    points = rng.rand(30, 2)
    case = diffcmp.Case(name="k", loss=evals.KMEANS, params={"C": points[-3:].copy()},
                        data={"P": points})
    expected = Reference.at(case, newton=True, independent=False).newton_direction()
    with mpmath.workdps(50):
        by_hand = []
        for j, c in enumerate(points[-3:]):
            mine = [p for p in points if int(np.argmin(((points[-3:] - p) ** 2).sum(1))) == j]
            by_hand += [float(mpmath.mpf(c[a]) - mpmath.fsum(mpmath.mpf(p[a]) for p in mine)
                              / len(mine)) for a in range(2)]
    np.testing.assert_allclose(expected.outcome.grad, by_hand, rtol=1e-14)
    # the diagonal taken is the full certified Hessian's, which is diagonal
    problem = lower(case)
    prepared = get_engine("reference").prepare(problem)
    hessian = prepared.phases["hessian"]
    full = hessian.read(hessian.call(prepared.inputs(problem.point))).reshape(6, 6)
    np.testing.assert_array_equal(full, np.diag(np.diag(full)))
    gradient = Reference.at(case, independent=False).outcome.grad
    np.testing.assert_allclose(expected.outcome.grad, gradient / np.diag(full), rtol=1e-15)


@pytest.mark.skipif(importlib.util.find_spec("gradbench") is None,
                    reason="GradBench's Python package is not importable")
def test_the_inputs_are_gradbench_evals_own() -> None:
    for name in ("lse", "llsq", "det", "kmeans"):
        process = subprocess.Popen([sys.executable, "-m", f"gradbench.evals.{name}.run"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            for _ in range(2):  # start, define
                message = json.loads(process.stdout.readline())
                process.stdin.write(json.dumps({"id": message["id"], "success": True}) + "\n")
                process.stdin.flush()
            message = json.loads(process.stdout.readline())
        finally:
            process.kill()
            process.wait()
        (item,) = evals.gradbench_inputs(evals.EVALS[name])
        assert message["description"] == item.description
        assert {k: v for k, v in message["input"].items()
                if k not in ("min_runs", "min_seconds")} == item.payload


# -- grading tools ------------------------------------------------------------------------------

def test_the_right_tool_is_ok_on_every_eval() -> None:
    result = run_gradbench(RIGHT, "lse,llsq,det,kmeans", **QUICK)
    rows = _rows(result)
    assert sorted(rows) == sorted([("lse", "primal"), ("lse", "gradient"), ("llsq", "primal"),
                                   ("llsq", "gradient"), ("det", "primal"),
                                   ("det", "gradient"), ("kmeans", "cost"), ("kmeans", "dir")])
    assert {r["status"] for r in rows.values()} == {"ok"}
    assert {r["gradbench"] for r in rows.values()} == {"pass"}
    assert result.exit_code == 0
    assert result.meta["tool_names"] == {e: "numpy-test" for e in ("lse", "llsq", "det",
                                                                    "kmeans")}
    assert len(result.timing) == 8 and (result.timing["runs"] == 1).all()
    assert (result.timing["tool_median_s"] > 0).all()


def test_the_wrong_tool_is_a_mismatch_naming_the_component() -> None:
    result = run_gradbench(WRONG, "lse,llsq,det,kmeans", **QUICK)
    rows = _rows(result)
    for value in (("lse", "primal"), ("llsq", "primal"), ("det", "primal"), ("kmeans", "cost")):
        assert rows[value]["status"] == "ok"
    named = {"lse": "x[0]", "llsq": "x[3]", "det": "A[1,2]", "kmeans": "C[2,5]"}
    for name, component in named.items():
        row = rows[(name, "dir" if name == "kmeans" else "gradient")]
        assert row["status"] == "mismatch" and row["worst"] == component
        assert row["message"].startswith(f"{component}: numpy-test ")
    lse = rows[("lse", "gradient")]
    # softmax(x)[0] = 4.78e-4, 1% off: GradBench's rule passes it, diffcmp's floor does not
    assert lse["gradbench"] == "pass" and lse["gradbench_error"] < 1e-4
    assert lse["error"] == pytest.approx(0.01 * 4.7795e-4 / lse["floor"], rel=0.01)
    assert rows[("llsq", "gradient")]["gradbench"] == "fail"
    assert result.exit_code == 1


@pytest.mark.parametrize(("mode", "function", "status", "protocol", "words"), [
    ("crash", "primal", "error", "crash", "exited with code 1 instead of answering evaluate; its "
     "stderr ends: unknown function primal"),
    ("wrong-id", "primal", "error", "wrong id", "has id 3, expected 2"),
    ("malformed", "primal", "error", "malformed JSON", "is not JSON: '{not json'"),
])
def test_a_broken_session_gets_its_status_and_the_run_goes_on(
        mode: str, function: str, status: str, protocol: str, words: str) -> None:
    result = run_gradbench(f"{RIGHT} {mode}:det", "det,llsq", **QUICK)
    rows = _rows(result)
    row = rows[("det", function)]
    assert (row["status"], row["protocol"]) == (status, protocol)
    assert words in row["message"]
    assert rows[("det", "gradient")]["status"] == "skipped"
    assert "the session ended at primal" in rows[("det", "gradient")]["message"]
    assert rows[("llsq", "primal")]["status"] == rows[("llsq", "gradient")]["status"] == "ok"
    assert result.exit_code == 1


def test_a_hanging_tool_is_stopped_at_the_timeout() -> None:
    result = run_gradbench(f"{RIGHT} hang:det", "det,llsq", **(QUICK | {"timeout": 2.0}))
    rows = _rows(result)
    row = rows[("det", "primal")]
    assert (row["status"], row["protocol"]) == ("timeout", "hang")
    assert "no reply to evaluate within 2 s" in row["message"]
    assert rows[("llsq", "gradient")]["status"] == "ok"


def test_a_wrong_shape_a_failure_and_a_refusal() -> None:
    rows = _rows(run_gradbench(f"{RIGHT} wrong-shape:det", "det", **QUICK))
    assert rows[("det", "primal")]["status"] == "ok"
    row = rows[("det", "gradient")]
    assert (row["status"], row["protocol"]) == ("error", "wrong shape")
    assert row["message"] == "gradient: expected a list of 25, got a list of 24"
    rows = _rows(run_gradbench(f"{RIGHT} fail:det", "det", **QUICK))
    assert rows[("det", "gradient")]["protocol"] == "evaluate failed"
    assert rows[("det", "gradient")]["message"] == "the tool failed: not implemented here"
    result = run_gradbench(f"{RIGHT} refuse:det", "det,llsq", **QUICK)
    rows = _rows(result)
    assert rows[("det", "primal")]["status"] == "unsupported"
    assert "no det eval (define: success false)" in rows[("det", "primal")]["message"]
    assert rows[("llsq", "gradient")]["status"] == "ok"
    assert result.exit_code == 0  # unsupported grades nothing; llsq is ok


def test_a_tool_that_cannot_start_crashes_at_start() -> None:
    result = run_gradbench("exec /nonexistent/tool", "det", **QUICK)
    rows = _rows(result)
    assert rows[("det", "start")]["protocol"] == "crash"
    assert "instead of answering start" in rows[("det", "start")]["message"]
    assert [r["status"] for k, r in rows.items() if k[1] != "start"] == ["skipped", "skipped"]
    assert result.exit_code == 1


def test_the_command_writes_the_report_and_exits_like_run(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "report"
    args = ["gradbench", "--tool", WRONG, "--eval", "lse", "--min-seconds", "0",
            "--no-independent-check", "--out", str(out), "--quiet"]
    assert main(args) == 1
    rows = load_agreement(out)
    assert rows["status"].tolist() == ["ok", "mismatch"]
    assert rows["worst"].tolist() == ["primal", "x[0]"]
    assert {"report.md", "timing.csv", "results.json"} <= {p.name for p in out.iterdir()}
    assert "mismatch" in (out / "report.md").read_text()
    assert main(args) == 2  # nothing a user wrote, or an earlier report, is overwritten
    assert "pass --force" in capsys.readouterr().err
    assert main(["gradbench", "--tool", RIGHT, "--eval", "nope"]) == 2


@pytest.mark.slow
def test_the_command_grades_the_right_tool_at_gradbench_settings(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-m", "diffcmp", "gradbench", "--tool", RIGHT,
                          "--out", str(tmp_path / "out")], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("PASS. ")
    timing = (tmp_path / "out" / "timing.csv").read_text()
    assert timing.count("\n") == 9  # eight functions, each run for GradBench's second
