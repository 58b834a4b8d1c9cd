"""``diffcmp gradbench``: GradBench's eval side, run against any GradBench tool.

For each eval a fresh tool process is started (as GradBench does, one session per eval) and
asked, in GradBench's own messages: ``start``, ``define``, then for each of the eval's inputs
(GradBench's generators, :mod:`diffcmp.gradbench.evals`) each function, each successful answer
graded against diffcmp's certified reference (:mod:`diffcmp.gradbench.answers`) and the verdict
sent back as GradBench's ``analysis`` message. A tool that crashes, hangs, answers with a wrong
``id`` or malformed JSON ends its eval's session: that message's row gets the status and the
message, the functions not asked are ``skipped``, and the run goes on with the next eval.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..results.environment import environment
from ..run.limits import DEFAULT_TIMEOUT_S
from ..status import Status
from .answers import DEFAULT_TOLERANCE, TOLERANCE_SOURCE, grade_answer
from .evals import MIN_RUNS, MIN_SECONDS, Eval, Input, find_evals, gradbench_inputs
from .protocol import ProtocolError, ToolSession, success_of, timings_of
from .reference import Reference

#: The agreement table's columns, in order.
AGREEMENT = ["eval", "input", "function", "tool", "status", "protocol", "error", "rel_error",
             "tolerance", "tolerance_source", "worst", "floor", "floor_source", "digits",
             "gradbench", "gradbench_error", "message"]
#: The timing table's columns: the tool's own timings (one per run) beside diffcmp's.
TIMING = ["eval", "input", "function", "runs", "tool_median_s", "tool_min_s", "tool_total_s",
          "wall_s", "reference_s"]


@dataclass
class GradbenchResult:
    """What a run found: agreement and timing rows, and what was run."""

    agreement: pd.DataFrame
    timing: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def graded(self) -> pd.DataFrame:
        """The rows that say right or wrong (not ``unsupported``, ``skipped``, ``kink``...)."""
        return self.agreement[[Status(s).gives_verdict for s in self.agreement["status"]]]

    @property
    def exit_code(self) -> int:
        """0 when every graded function is ``ok`` (and one at least is), 1 otherwise."""
        failing = [Status(s).fails for s in self.agreement["status"]]
        graded = self.graded
        return 0 if not any(failing) and not graded.empty and \
            bool((graded["status"] == Status.OK.value).all()) else 1

    def to_json(self) -> str:
        """The tables and the metadata as JSON (``results.json``)."""
        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return json.loads(frame.to_json(orient="records"))

        return json.dumps({"meta": self.meta, "agreement": records(self.agreement),
                           "timing": records(self.timing)}, indent=1)


class _Eval:
    """One eval's session: its rows, as the messages go."""

    def __init__(self, evaluation: Eval, tool: str, tolerance: float,
                 independent: bool) -> None:
        self.evaluation = evaluation
        self.independent = independent
        self.tool = tool
        self.tolerance = tolerance
        self.rows: list[dict[str, Any]] = []
        self.timing: list[dict[str, Any]] = []
        self.tool_name = ""

    def add(self, item: Input | None, function: str, status: Status, message: str,
            protocol: str = "", **values: Any) -> None:
        nan = float("nan")
        row = dict.fromkeys(AGREEMENT, "") | {
            "eval": self.evaluation.name, "input": item.description if item else "",
            "function": function, "tool": self.tool_name or self.tool, "status": status.value,
            "protocol": protocol, "error": nan, "rel_error": nan, "floor": nan,
            "gradbench_error": nan, "digits": None, "tolerance": self.tolerance,
            "tolerance_source": TOLERANCE_SOURCE, "message": message}
        self.rows.append(row | values)

    def skip_rest(self, pending: list[tuple[Input, str]], why: str) -> None:
        for item, function in pending:
            self.add(item, function, Status.SKIPPED, f"not asked: {why}")


def run_gradbench(tool: str, evals: str | list[str] | None = None, inputs: int = 1,
                  min_runs: int = MIN_RUNS, min_seconds: float = MIN_SECONDS,
                  timeout: float = DEFAULT_TIMEOUT_S, tolerance: float = DEFAULT_TOLERANCE,
                  independent: bool = True,
                  progress: Callable[[str], None] | None = None) -> GradbenchResult:
    """Grade the GradBench tool started by the shell command ``tool`` on ``evals`` (names;
    default: every one diffcmp knows), the first ``inputs`` of each eval's GradBench inputs,
    each function run at least ``min_runs`` times and ``min_seconds`` seconds by the tool,
    every message answered within ``timeout`` seconds. ``independent=False`` skips the
    reference's independent derivation (:mod:`diffcmp.grading.crosscheck`: the values stay
    certified by their balls, diffcmp's own derivation goes unchecked; it is most of the
    reference's time, 40 s at kmeans' first input). ``progress`` gets a line per graded
    function. Raises :class:`~diffcmp.errors.DiffcmpError` for bad arguments only: whatever
    the tool does is a row."""
    chosen = find_evals(evals)
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    timing: list[dict[str, Any]] = []
    tools: dict[str, str] = {}
    for evaluation in chosen:
        items = list(gradbench_inputs(evaluation, inputs))
        state = _Eval(evaluation, tool, tolerance, independent)
        _session(state, items, min_runs, min_seconds, timeout, progress)
        rows += state.rows
        timing += state.timing
        tools[evaluation.name] = state.tool_name
    meta = {"tool": tool, "tool_names": tools, "evals": [e.name for e in chosen],
            "inputs": inputs, "min_runs": min_runs, "min_seconds": min_seconds,
            "timeout_s": timeout, "independent_check": independent, "tolerance": tolerance,
            "tolerance_source": TOLERANCE_SOURCE,
            "wall_s": time.perf_counter() - start, "environment": environment()}
    return GradbenchResult(pd.DataFrame(rows, columns=AGREEMENT),
                           pd.DataFrame(timing, columns=TIMING), meta)


def _session(state: _Eval, items: list[Input], min_runs: int, min_seconds: float,
             timeout: float, progress: Callable[[str], None] | None) -> None:
    """One eval against a fresh tool process; every outcome becomes a row."""
    evaluation = state.evaluation
    pending = [(item, f) for item in items for f in evaluation.functions]
    where: tuple[Input | None, str] = (None, "start")
    session = ToolSession(state.tool, timeout)
    try:
        _, reply, _ = session.ask({"kind": "start", "eval": evaluation.name})
        if isinstance(reply.get("tool"), str):
            state.tool_name = reply["tool"]
        where = (None, "define")
        _, reply, _ = session.ask({"kind": "define", "module": evaluation.name})
        if not success_of(reply, "define"):
            error = reply.get("error")
            detail = f": {str(error).strip().splitlines()[-1][:300]}" if error else ""
            for item, function in pending:
                state.add(item, function, Status.UNSUPPORTED, f"the tool has no "
                          f"{evaluation.name} eval (define: success false){detail}")
            return
        references: dict[str, Reference] = {}
        while pending:
            item, function = pending.pop(0)
            where = (item, function)
            if item.case is None:
                state.add(item, function, Status.UNRESOLVED, f"no reference: {item.error}")
                continue
            if item.description not in references:
                references[item.description] = Reference.at(item.case, evaluation.newton,
                                                           state.independent)
            reference = references[item.description]
            message_id, reply, wall = session.ask({
                "kind": "evaluate", "module": evaluation.name, "function": function,
                "input": item.payload | {"min_runs": min_runs, "min_seconds": min_seconds},
                "description": item.description})
            success = success_of(reply, "evaluate")
            runs = timings_of(reply)
            if not success:
                error = str(reply.get("error") or "no error message").strip()
                state.add(item, function, Status.ERROR, f"the tool failed: {error[-400:]}",
                          "evaluate failed")
                continue
            if "output" not in reply:
                state.add(item, function, Status.ERROR, f"{function}: success, but no "
                          "output", "wrong shape")
            else:
                row = grade_answer(evaluation, item, function, reply["output"], reference,
                                   state.tool_name or state.tool, state.tolerance)
                state.add(item, function, Status(row.pop("status")), row.pop("message"),
                          row.pop("protocol"), **row)
            state.timing.append(_timing(evaluation, item, function, runs, wall, reference))
            last = state.rows[-1]
            if progress is not None:
                progress(f"{evaluation.name} {item.description} {function}: {last['status']}")
            where = (item, "analysis")
            analysis = {"kind": "analysis", "of": message_id,
                        "valid": last["status"] == Status.OK.value}
            if last["message"]:
                analysis["error"] = last["message"]
            session.ask(analysis)
    except ProtocolError as failure:
        item, function = where
        state.add(item, function, failure.status, str(failure), failure.kind)
        if progress is not None:
            progress(f"{evaluation.name} {function}: {failure.status} ({failure.kind})")
        state.skip_rest(pending, f"the session ended at {function} ({failure.kind})")
    finally:
        session.close()


def _timing(evaluation: Eval, item: Input, function: str, runs: list[float], wall: float,
            reference: Reference) -> dict[str, Any]:
    nan = float("nan")
    return {"eval": evaluation.name, "input": item.description, "function": function,
            "runs": len(runs), "tool_median_s": float(np.median(runs)) if runs else nan,
            "tool_min_s": min(runs) if runs else nan, "tool_total_s": sum(runs),
            "wall_s": wall, "reference_s": reference.seconds}
