"""The report's "Second order" section (:func:`second_order_section`): each engine's Hessian and
Hessian-vector product graded against the reference per case, the tolerances at second order
and their sources, the products derived at array level, and their cost in gradients. A run
that graded the gradient only has no such section."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..registry import ENGINE_NAMES, engine_info
from ..results.derived import (
    SECOND_ORDER,
    cost_table,
    has_second_order,
    of_derivative,
    worst_status,
)
from ..results.format import seconds
from ..results.tables import Tables
from ..status import Status
from .blocks import anchor, fmt, table, text
from .verdict import DECLARED_MARK, cases_of

#: The section's heading, and what links to it.
HEADING = "Second order"
#: Short column names of the second-order derivatives.
SHORT = {"hessian": "Hessian", "hvp": "HVP"}


def second_link() -> str:
    """A markdown link to the section."""
    return f"[{HEADING}](#{anchor(HEADING)})"


def second_order_section(result: Tables) -> list[str]:
    """The section's lines; none for a run without second-order rows."""
    if not has_second_order(result):
        return []
    options = result.meta["options"]
    limit = options.get("max_hessian_n")
    parts = [f"## {HEADING}", "",
             "Each engine's Hessian and its Hessian-vector product (HVP, along one fixed "
             "seeded direction v) graded against the reference's like the gradient: "
             "the same error rule, floors from the second derivatives' own rounding bound, "
             "statuses and kinks (second derivatives are one-sided at a switch: `kink`, not "
             "graded). Worst status over the case's points (**bold**: fails the run; "
             f"{DECLARED_MARK}: declared by the case), the worst error, and the tolerance "
             "graded"
             + (f"; above {limit:,} parameters (`--max-hessian-n`) the full Hessian is "
                "`skipped` and the HVP still graded." if limit else "."), "",
             table(_verdict_rows(result), right=("Hessian error", "HVP error", "tolerance")), ""]
    parts += _tolerance_rows(result)
    parts += _formulas(result)
    parts += _cost_rows(result)
    return parts


def _message(agreement: pd.DataFrame, engine: str, status: str) -> str:
    rows = agreement[(agreement["engine"] == engine) & (agreement["status"] == status)]
    return next((m for m in rows["message"] if isinstance(m, str) and m), "")


def _verdict_rows(result: Tables) -> list[dict[str, object]]:
    """One row per case and engine: the Hessian's and the HVP's worst status and error."""
    worst = {d: {(r["case"], r["engine"]): r for r in worst_status(result, d).to_dict("records")}
             for d in SECOND_ORDER}
    agreement = of_derivative(result.agreement, *SECOND_ORDER)
    engines = result.meta["options"]["engines"]
    rows = []
    for case in cases_of(result):
        here = agreement[agreement["case"] == case]
        if here.empty:
            continue
        first = True
        for engine in engines:
            entry: dict[str, object] = {"case": f"`{case}`" if first else "", "engine": engine}
            messages = []
            tolerance = math.nan
            for derivative in SECOND_ORDER:
                row = worst[derivative].get((case, engine))
                if row is None:
                    entry[SHORT[derivative]], entry[f"{SHORT[derivative]} error"] = "-", "-"
                    continue
                status = row["status"] + (DECLARED_MARK if row["declared"] else "")
                entry[SHORT[derivative]] = f"**{status}**" if row["fails"] else status
                entry[f"{SHORT[derivative]} error"] = fmt(float(row["error"]))
                tolerance = float(row["tolerance"]) if math.isnan(tolerance) else tolerance
                if row["status"] != Status.OK and engine != "reference":
                    message = _message(here[here["derivative"] == derivative], engine,
                                       row["status"])
                    if message and message not in messages:
                        messages.append(message)
            if all(entry[SHORT[d]] == "-" for d in SECOND_ORDER):
                continue
            first = False
            entry["tolerance"] = fmt(tolerance)
            entry["message"] = text("; ".join(messages))
            rows.append(entry)
    return rows


def _tolerance_rows(result: Tables) -> list[str]:
    """The tolerance of each engine at second order, and where it comes from."""
    second = of_derivative(result.agreement, *SECOND_ORDER)
    computed = set(second[second["status"] != Status.UNSUPPORTED]["engine"])
    rows = []
    for name, info in result.meta["engines"].items():
        if name not in computed:  # no second derivative from it: no tolerance to state
            continue
        if "second_tolerance" in info:
            tolerance, source = info["second_tolerance"], info["second_source"]
        elif name in ENGINE_NAMES:  # a results file written before it was recorded
            registered = engine_info(name)
            tolerance, source = registered.second_tolerance, registered.second_source
        else:
            continue
        rows.append({"engine": name, "tolerance": fmt(float(tolerance)),
                     "source of the tolerance": source})
    if not rows:
        return []
    return ["Tolerances at second order, by engine (a case's `[tolerance]` scales an engine's "
            "second-order tolerance as it scales its gradient's, which the table above "
            "shows):", "", table(rows, right=("tolerance",)), ""]


def _formulas(result: Tables) -> list[str]:
    """The Hessian-vector products matcalc derived at array level, one per case."""
    expressions = result.expressions
    if "hvp_formula" not in expressions.columns:
        return []
    lines = []
    for row in expressions.to_dict("records"):
        formula = row.get("hvp_formula")
        if isinstance(formula, str) and formula:
            took = row.get("hvp_derive_s")
            when = f" (derived in {seconds(took)})" if _finite(took) else ""
            matrix = row.get("hessian_formula")
            written = f"; as a matrix, `H = {matrix}`" if isinstance(matrix, str) and matrix \
                else ""
            lines.append(f"- `{row['case']}`{when}: `{formula}`{written}")
    if not lines:
        return []
    return ["The Hessian-vector product derived at array level (reverse mode again, over "
            "`sum(grad * v)`; `v_w` is the direction's part for parameter `w`), which `matcalc` "
            "evaluates and the reference certifies in ball arithmetic, and the Hessian itself "
            "where the product has a matrix form:", "", *lines, ""]


def _cost_rows(result: Tables) -> list[str]:
    """``hessian / grad`` and ``hvp / grad`` per engine, medians over the cases timed."""
    costs = cost_table(result)
    rows = []
    for engine in result.meta["options"]["engines"]:
        group = costs[costs["engine"] == engine]
        entry: dict[str, object] = {"engine": engine}
        timed = 0
        for phase in SECOND_ORDER:
            ratios = group[f"{phase}_ratio"].dropna()
            timed = max(timed, len(ratios))
            entry[f"{phase} / grad: median"] = _ratio(ratios.median()) if len(ratios) else "-"
            entry[f"{phase} / grad: range"] = (f"{_ratio(ratios.min())} to "
                                               f"{_ratio(ratios.max())}") if len(ratios) > 1 \
                else "-"
        if timed:
            entry["cases timed"] = str(timed)
            rows.append(entry)
    if not rows:
        return []
    return ["**Cost in gradients.** The median time per call of each second-order phase over "
            "the engine's median gradient time on the same case (from the timing table; "
            "`hessian` and `hvp` timed like `grad`). In theory a Hessian-vector product costs "
            "a small constant times a gradient, whatever the number of parameters n (forward over "
            "reverse: Pearlmutter 1994; Griewank & Walther 2008), and a full Hessian about n "
            "of them.", "",
            table(rows, right=[k for k in rows[0] if k != "engine"]), ""]


def _ratio(value: float) -> str:
    return f"{value:.2f}"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


__all__ = ["HEADING", "second_link", "second_order_section"]
