"""A ``diffcmp gradbench`` report folder, written whole like a run's
(:func:`~diffcmp.report.folder.write_folder`):

- ``agreement.csv``: one row per eval, input and function (and per message that broke the
  session): status, the protocol failure where there was one (``crash``, ``hang``, ``wrong
  id``, ``malformed JSON``, ``malformed reply``, ``wrong shape``, ``evaluate failed``), the
  error, the worst component and its floor, the tolerance and its source, GradBench's own
  verdict (``gradbench``: its ``1e-4`` rule against the reference) and the message;
- ``timing.csv``: per function answered, the tool's own timings (``runs``, median, minimum and
  total of its ``evaluate`` timings) beside diffcmp's: the wall time from sending the message to
  the reply (``wall_s``: the runs, JSON and pipes) and the reference's (``reference_s``);
- ``report.md``: the verdict and both tables; ``results.json``: the tables and what was run.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..report.blocks import fmt, table
from ..report.folder import write_folder, write_new_folder
from ..results.format import seconds
from ..status import Status
from .answers import GRADBENCH_TOLERANCE
from .session import GradbenchResult


def verdict(result: GradbenchResult) -> str:
    """One line: PASS, FAIL or NOTHING GRADED, with the counts."""
    rows = result.agreement
    graded = result.graded
    ok = int((graded["status"] == Status.OK.value).sum())
    tool = result.meta.get("tool", "the tool")
    others = {s: int(n) for s, n in rows["status"].value_counts().items()
              if not Status(s).gives_verdict}
    rest = "".join(f"; {n} {s}" for s, n in sorted(others.items()))
    if graded.empty:
        return f"NOTHING GRADED. {tool}: no function was graded{rest}."
    if result.exit_code == 0:
        return f"PASS. {tool} agrees with diffcmp's reference on all {ok} graded functions" \
               f"{rest}."
    return f"FAIL. {tool} agrees with diffcmp's reference on {ok} of {len(graded)} graded " \
           f"functions{rest}."


def summary(result: GradbenchResult, folder: Path | None = None) -> str:
    """What the command line prints: the verdict, every row that is not ok, the report."""
    lines = [verdict(result)]
    for row in result.agreement.itertuples():
        if row.status == Status.OK.value:
            continue
        protocol = f" ({row.protocol})" if row.protocol else ""
        gradbench = f" [GradBench's rule: {row.gradbench}]" if row.gradbench else ""
        lines.append(f"  {row.eval} {row.input} {row.function}: {row.status}{protocol}: "
                     f"{row.message}{gradbench}")
    if folder is not None:
        lines.append(f"report: {folder / 'report.md'}")
    return "\n".join(lines)


def render_markdown(result: GradbenchResult) -> str:
    """``report.md``."""
    meta = result.meta
    agreement = [{"eval": r.eval, "input": r.input, "function": r.function,
                  "status": r.status + (f" ({r.protocol})" if r.protocol else ""),
                  "error": fmt(r.error), "worst": r.worst, "floor": fmt(r.floor),
                  "GradBench's rule": r.gradbench or "-", "message": r.message}
                 for r in result.agreement.itertuples()]
    timing = [{"eval": r.eval, "input": r.input, "function": r.function, "runs": r.runs,
               "tool median": seconds(r.tool_median_s), "tool min": seconds(r.tool_min_s),
               "diffcmp wall": seconds(r.wall_s), "reference": seconds(r.reference_s)}
              for r in result.timing.itertuples()]
    names = ", ".join(sorted({n for n in meta.get("tool_names", {}).values() if n})) or "-"
    return "\n".join([
        "# diffcmp gradbench", "", f"**{verdict(result)}**", "",
        f"Tool: `{meta.get('tool')}` (it calls itself: {names}). Evals: "
        f"{', '.join(meta.get('evals', []))}, the first {meta.get('inputs')} of GradBench's "
        f"inputs each (its generators, np.random.seed(31337)); min_runs "
        f"{meta.get('min_runs')}, min_seconds {meta.get('min_seconds')}; --timeout "
        f"{meta.get('timeout_s')} s per message.", "",
        f"Each answer is graded against diffcmp's certified reference as an engine's gradient "
        f"is: `|a - b| / max(floor, |a| + |b|)` against the tolerance {meta.get('tolerance')} "
        f"({meta.get('tolerance_source')}), each value above its own floor (float64 rounding "
        f"of the loss as written, at most 1). GradBench's rule is the same with the floor 1 "
        f"and the tolerance {GRADBENCH_TOLERANCE:g}: it cannot see an error smaller than "
        "1e-4 in a value far below 1. kmeans' dir is graded against the certified gradient "
        "divided by the certified Hessian diagonal.", "",
        "## Agreement", "", table(agreement, right=("error", "floor")), "",
        "## Timing", "",
        "The tool's own timings (one per run, GradBench's `evaluate` timings) beside the wall "
        "time diffcmp measured from sending the message to the reply, and the time diffcmp's "
        "reference took at that input.", "",
        table(timing, right=("runs", "tool median", "tool min", "diffcmp wall", "reference")),
        ""])


def write_gradbench_report(result: GradbenchResult, out: str | Path | None = None,
                           force: bool = False, parent: str | Path = "reports") -> Path:
    """Write the folder whole (module docstring) to ``out``, or to a new
    ``parent/gradbench-YYYYmmdd-HHMMSS``; ``out`` follows ``diffcmp run``'s rules."""
    def write(folder: Path) -> list[str]:
        result.agreement.to_csv(folder / "agreement.csv", index=False)
        result.timing.to_csv(folder / "timing.csv", index=False)
        (folder / "results.json").write_text(result.to_json(), encoding="utf-8")
        (folder / "report.md").write_text(render_markdown(result), encoding="utf-8")
        return ["report.md", "agreement.csv", "timing.csv", "results.json"]

    if out is not None:
        return write_folder(out, write, force)
    return write_new_folder(parent, "gradbench", lambda target: write_folder(target, write))


def load_agreement(folder: str | Path) -> pd.DataFrame:
    """A written report's agreement rows (for tests and scripts)."""
    return pd.read_csv(Path(folder) / "agreement.csv", keep_default_na=False,
                       na_values=["nan", "NaN", ""])
