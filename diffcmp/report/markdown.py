"""The markdown report a person reads (:func:`render_markdown`).

The report opens with a verdict, a one-row-per-case summary, engines by status, the plots, how the
timings were taken, the tolerances and the environment; then one section per case with its
agreement table, its timing table (with the ``grad / loss`` cost ratio) and its expression sizes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from ..grading.declared import fails
from ..grading.exact import describe
from ..grading.limited import PRECISION_LIMITED
from ..results.derived import (
    cost_table,
    has_second_order,
    of_derivative,
    param_counts,
    status_counts,
    worst_status,
)
from ..results.format import seconds
from ..results.tables import Tables, time_spent
from ..run.rows import NOT_RUN
from ..status import Status
from .blocks import anchor, fmt, table, text
from .plots import PLOTS
from .second import second_link, second_order_section
from .sections import (
    environment_section,
    reference_section,
    settings_section,
    timing_section,
    tolerance_section,
)
from .verdict import DECLARED_MARK, cases_of, engines_of, verdict

#: Reference values beyond float64 or known only as bounds listed per case, before "and N more".
MAX_FLAGGED = 20


def _status_cell(row: dict[str, Any]) -> str:
    text = row["status"] + (DECLARED_MARK if row["declared"] else "")
    return f"**{text}**" if row["fails"] else text


def summary_table(result: Tables, worst: pd.DataFrame | None = None) -> list[dict[str, object]]:
    """One row per case: parameter count, each engine's worst status, expression sizes
    (``worst``: :func:`~diffcmp.results.derived.worst_status`, computed unless given)."""
    worst = worst_status(result, "gradient") if worst is None else worst
    sizes = {size["case"]: size for size in _records(result.expressions)}
    cells: dict[str, dict[str, str]] = {}
    for status in _records(worst):
        cells.setdefault(status["case"], {})[status["engine"]] = _status_cell(status)
    counts = param_counts(result)
    rows = []
    for case in cases_of(result):
        row: dict[str, object] = {"case": f"[`{case}`](#{anchor(case)})",
                                  "n": counts.get(case, "?")}
        for engine in engines_of(result):
            row[engine] = cells.get(case, {}).get(engine, "-")
        size = sizes.get(case)
        row["grad ops → cse"] = "-" if size is None or pd.isna(size.get("grad_ops")) else \
            f"{int(size['grad_ops'])} → {int(size['grad_cse_ops'])}"
        rows.append(row)
    return rows


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame``'s rows as dicts (far quicker to walk than ``itertuples`` or ``loc``)."""
    return frame.to_dict("records")


def render_markdown(result: Tables, plots: Sequence[str] = ()) -> str:
    """The whole report as markdown; ``plots`` are image files beside it to link."""
    options = result.meta["options"]
    parts = ["# diffcmp report", "", verdict(result), ""]
    worst = worst_status(result, "gradient")
    second = has_second_order(result)
    gradient_only = (" Hessians and Hessian-vector products: see "
                     f"{second_link()}.") if second else ""
    if not result.agreement.empty:
        parts += ["## Summary", "",
                  "Worst status of each engine's gradient over the case's points (**bold**: "
                  "fails the run; "
                  f"{DECLARED_MARK}: a known failure the case declares). `n`: parameters. "
                  "`grad ops → cse`: operations in the SymPy gradient's expression trees (counted "
                  "as `count_ops` does, shared subtrees every time they occur) before and after "
                  "common subexpression elimination." + gradient_only, "",
                  table(summary_table(result, worst), right=("n", "grad ops → cse")), "",
                  "## Status by engine", "", "One count per engine and point"
                  + (", on the gradient." if second else ".") + gradient_only,
                  "",
                  table(status_counts(result).astype(str),
                         right=[s for s in Status.names()]), ""]
    parts += second_order_section(result)
    parts += reference_section(result)
    titles = dict(PLOTS)
    if plots:
        parts += ["## Plots", ""]
        for name in plots:
            parts += [f"![{titles.get(name, name)}]({name})", ""]
    if options.get("timing", True) and not result.timing.empty:
        parts += timing_section(result)
    parts += tolerance_section(result)
    parts += settings_section(result)
    parts += environment_section(result)
    if not result.errors.empty:
        parts += ["## Cases that could not be loaded", "",
                  table([{"source": f"`{r.source}`", "message": text(r.message)}
                          for r in result.errors.itertuples()]), ""]
    cases = cases_of(result)
    if cases:
        parts += ["## Cases", ""]
        counts = param_counts(result)
        # each table split by case once, not filtered once per case
        split = {name: _by_case(frame) for name, frame in (
            ("agreement", of_derivative(result.agreement, "gradient")), ("worst", worst),
            ("costs", cost_table(result)),
            ("expressions", result.expressions), ("expectations", result.expectations),
            ("flagged", flagged_values(result)))}
        for case in cases:
            parts += _case_section(result, case, {name: of(case) for name, of in split.items()},
                                   counts.get(case))
    parts += ["---", "", f"{footer(result)} Results format {result.meta['format']} v"
              f"{result.meta['format_version']}.", ""]
    return "\n".join(parts)


def footer(result: Tables) -> str:
    """How long the run took, and how much of it went to timed calls and to preparing engines
    (from the timing table, so that re-rendered reports of older runs say it right too)."""
    options = result.meta["options"]
    took = f"Run took {seconds(result.meta['wall_s'])}"
    if result.timing.empty:
        return took + ("; nothing was timed (`--no-timing`)." if not options.get("timing", True)
                       else "; nothing was timed.")
    measured, prepared = time_spent(result.timing)
    threads = options["threads"]
    phases = "`loss`, `grad`, `hessian` and `hvp`" if result.timing["phase"].isin(
        ["hessian", "hvp"]).any() else "`loss` and `grad`"
    return (f"{took}, of which {seconds(measured)} in timed calls of {phases} "
            f"(min-time {options['min_time']} s per phase; PyTorch on {threads} "
            f"thread{'s' if threads != 1 else ''}) and {seconds(prepared)} preparing engines "
            "(the derivation `reference` and `sympy` share counted once).")


def _by_case(frame: pd.DataFrame) -> Callable[[str], list[dict[str, Any]]]:
    """``frame``'s rows of one case as dicts, looked up (none for a case it lacks)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in _records(frame):
        groups.setdefault(row["case"], []).append(row)
    return lambda case: groups.get(case, [])


def _agreement_rows(records: list[dict[str, Any]], worst: list[dict[str, Any]],
                    declared: dict[str, str]) -> list[dict[str, object]]:
    """The agreement table of one case: ``records`` its agreement rows, ``worst`` its rows of
    :func:`~diffcmp.results.derived.worst_status`."""
    points = len({r["point"] for r in records})
    by_engine: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_engine.setdefault(r["engine"], []).append(r)
    worst_error = {w["engine"]: w["error"] for w in worst}
    table = []
    for row in (r for r in records if r["point"] == 0):
        engine, status = row["engine"], row["status"]
        mark = DECLARED_MARK if declared.get(engine) == status else ""
        shown = f"**{status}{mark}**" if fails(status, declared.get(engine)) else status + mark
        entry: dict[str, object] = {
            "engine": engine, "status": shown, "loss": _loss_cell(row),
            "error": fmt(row["error"]), "floor": fmt(row.get("floor", float("nan"))),
            "tolerance": fmt(row["tolerance"])}
        if points > 1 and engine in worst_error:
            counts = Counter(r["status"] for r in by_engine[engine]).most_common()
            entry[f"all {points} points"] = ", ".join(f"{n} {st}" for st, n in counts)
            entry["worst error"] = fmt(worst_error[engine])
        message = row["message"] if (status != Status.OK or str(row["message"]).startswith(
            PRECISION_LIMITED)) and engine != "reference" else ""
        if engine == "reference" and status == Status.OK and not row.get("loss_flag") \
                and not math.isfinite(float(row["loss"])):
            message = row["message"]  # an older results file: the message says what it is
        if points > 1 and status == Status.OK:
            bad = [r for r in by_engine[engine] if r["status"] != Status.OK]
            if bad:
                message = f"point {bad[0]['point']}: {bad[0]['message']}"
        cause = row.get("cause", "")
        if isinstance(cause, str) and cause and status != Status.OK:
            message = f"{message}. Likely cause: {cause}"
        entry["message"] = text(message)
        table.append(entry)
    return table


def _loss_cell(row: dict[str, Any]) -> str:
    """An agreement row's loss: the reference's certified one where float64 cannot hold it or it
    is a bound, else the float64 value."""
    flag = row.get("loss_flag")
    if isinstance(flag, str) and flag:
        return text(describe(str(row["loss_exact"]), flag, str(row.get("loss_bound", ""))))
    return fmt(row["loss"], 12)


def flagged_values(result: Tables) -> pd.DataFrame:
    """The reference's values that float64 cannot hold or that are only bounds, one row per
    case, point and value (the loss first): ``case``, ``point``, ``value`` (``loss`` or a
    component), ``exact``, ``flag``, ``bound`` and ``float64`` (what the float64 columns hold)."""
    columns = ["case", "point", "value", "exact", "flag", "bound", "float64"]
    agreement, gradients = result.agreement, result.gradients
    loss = agreement[(agreement["engine"] == "reference")
                     & (agreement["loss_flag"].fillna("") != "")]
    grads = gradients[gradients["reference_flag"].fillna("") != ""].drop_duplicates(
        ["case", "point", "component"])
    frames = [pd.DataFrame({"case": loss["case"], "point": loss["point"], "value": "loss",
                            "exact": loss["loss_exact"], "flag": loss["loss_flag"],
                            "bound": loss["loss_bound"], "float64": loss["loss"]},
                           columns=columns),
              pd.DataFrame({"case": grads["case"], "point": grads["point"],
                            "value": grads["component"], "exact": grads["reference_exact"],
                            "flag": grads["reference_flag"], "bound": grads["reference_bound"],
                            "float64": grads["reference"]}, columns=columns)]
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).sort_values(["case", "point"], kind="stable")


def _flagged_rows(flagged: list[dict[str, Any]]) -> list[str]:
    """The part of a case's section that lists the reference's values beyond float64 or known
    only as bounds (``flagged``: its rows of :func:`flagged_values`); none without any."""
    if not flagged:
        return []
    several = len({row["point"] for row in flagged}) > 1 or flagged[0]["point"] != 0
    rows = [{**({"point": str(row["point"])} if several else {}), "value": f"`{row['value']}`",
             "reference (certified)": text(describe(row["exact"], row["flag"], row["bound"])),
             "in float64": fmt(row["float64"], 12)} for row in flagged[:MAX_FLAGGED]]
    more = len(flagged) - MAX_FLAGGED
    return ["Reference values float64 cannot hold, or known only as a bound (graded as 0 within "
            "it). The tables' float64 columns hold `inf` or 0 for them; `results.json` and the "
            "CSVs keep the certified decimal text (`loss_exact`, `reference_exact`, 17 "
            "significant digits) with its flag and bound.", "",
            table(rows, right=("point", "in float64")), ""] + (
        [f"... and {more} more.", ""] if more > 0 else [])


def _timing_rows(costs: list[dict[str, Any]]) -> list[dict[str, object]]:
    def timed(median: float, iqr: float) -> str:
        if math.isnan(median):
            return "-"
        return f"{seconds(median)} ({iqr / median:.0%})" if median > 0 else seconds(median)

    second = [p for p in ("hessian", "hvp") if any(not math.isnan(row[f"{p}_s"])
                                                    for row in costs)]
    return [{"engine": row["engine"], "prepare": seconds(row["prepare_s"]),
             "prepare steps": ", ".join(f"{k} {seconds(v)}" for k, v in row["steps"].items()),
             "loss (IQR)": timed(row["loss_s"], row["loss_iqr_s"]),
             "grad (IQR)": timed(row["grad_s"], row["grad_iqr_s"]),
             "grad / loss": "-" if math.isnan(row["ratio"]) else f"{row['ratio']:.2f}",
             "calls": f"{row['loss_runs']} / {row['grad_runs']}",
             **{f"{p} (IQR)": timed(row[f"{p}_s"], row[f"{p}_iqr_s"]) for p in second}}
            for row in costs]


def _case_section(result: Tables, case: str, tables: dict[str, list[dict[str, Any]]],
                  n: int | None) -> list[str]:
    """One case's section; ``tables`` holds its rows of the agreement, worst-status, cost,
    expression-size and expectation tables."""
    parts = [f"### `{case}`", ""]
    facts = []
    source = result.meta.get("sources", {}).get(case)
    if source:
        facts.append(f"From `{source}`.")
    if n:
        facts.append(f"{n} parameter{'s' if n != 1 else ''}: central differences take "
                     f"2n + 1 = {2 * n + 1} loss calls per gradient, complex step n + 1 = "
                     f"{n + 1}.")
    if tables["expressions"]:
        s = tables["expressions"][0]
        how = {"reverse": "by symbolic reverse mode", "diff": "with sympy.diff per parameter"}
        method = how.get(str(s.get("method", "")), "")
        if pd.notna(s.get("grad_ops")):
            facts.append(f"SymPy's scalar gradient (operations): loss {int(s['loss_ops'])}, "
                         f"gradient {int(s['grad_ops'])}, after `cse` "
                         f"{int(s['grad_cse_ops'])}; derived {method} in "
                         f"{seconds(float(s['derive_s']))}.".replace("  ", " "))
        if isinstance(s.get("formula"), str) and s["formula"]:
            facts.append(f"The vectorised gradient (derived in "
                         f"{seconds(float(s['array_derive_s']))}): `{s['formula']}`.")
    points = len({row["point"] for row in tables["agreement"]})
    if points > 1:
        facts.append(f"{points} points: the case's own (shown) and {points - 1} sampled.")
    if facts:
        parts += [" ".join(facts), ""]
    agreement = _agreement_rows(tables["agreement"], tables["worst"],
                                result.declared.get(case, {}))
    parts += [table(agreement, right=("loss", "error", "floor", "tolerance", "worst error")), ""]
    parts += _flagged_rows(tables["flagged"])
    if tables["costs"]:
        parts += [table(_timing_rows(tables["costs"]),
                         right=("prepare", "loss (IQR)", "grad (IQR)", "grad / loss", "calls",
                                "hessian (IQR)", "hvp (IQR)")),
                  ""]
    expectations = tables["expectations"]
    if expectations:
        failed = sum(1 for r in expectations if not r["holds"])
        label = (f"Expectations: {len(expectations) - failed} of {len(expectations)} hold"
                 + (f", **{failed} failed**" if failed else ""))
        listing = table([{"kind": r["kind"], "item": r["item"],
                          "expected": fmt(r["expected"], 12), "actual": fmt(r["actual"], 12),
                          "holds": _holds(r)} for r in expectations],
                        right=("expected", "actual"))
        parts += ["<details>", f"<summary>{label}</summary>", "", listing, "", "</details>", ""]
    return parts


def _holds(row: dict[str, Any]) -> str:
    """An expectation's ``holds`` cell: ``yes``, ``**no**``, or ``ignored`` for a declared
    status whose engine did not run."""
    if row["kind"] == "status" and row["actual"] == NOT_RUN:
        return "ignored (engine not run)"
    return "yes" if row["holds"] else "**no**"


__all__ = ["MAX_FLAGGED", "flagged_values", "footer", "render_markdown", "summary_table"]
