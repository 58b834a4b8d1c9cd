"""The result in a notebook (:meth:`diffcmp.Result._repr_html_`): the verdict line and the status
table, one row per case and engine (its worst status over the points, the worst error, the
tolerance, and the message of its worst point), failing cells marked."""

from __future__ import annotations

import html
import math

import pandas as pd

from ..results.derived import DERIVATIVE_NAMES, DERIVATIVES, of_derivative, worst_status
from ..results.tables import Tables
from .verdict import DECLARED_MARK, verdict

#: How a failing cell looks (inline, so that it survives notebook sanitizers and exports).
FAIL_STYLE = "background-color:#f8d7da;color:#721c24;font-weight:bold"
CELL_STYLE = "text-align:left;padding:2px 8px"


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3g}"


def _message(result: Tables, case: str, engine: str, status: str,
             derivative: str = "gradient") -> str:
    agreement = of_derivative(result.agreement, derivative)
    rows = agreement[(agreement["case"] == case) & (agreement["engine"] == engine)
                     & (agreement["status"] == status)]
    messages = [m for m in rows["message"] if isinstance(m, str) and m]
    return messages[0] if messages else ""


def render_html(result: Tables) -> str:
    """The verdict and the status table as an HTML fragment (every text escaped)."""
    line = html.escape(verdict(result, links=False))
    line = line.replace("**", "<strong>", 1).replace("**", "</strong>", 1)
    # the gradient's rows, then (at second order) the Hessian's and the product's
    frames = [worst_status(result, d).assign(derivative=d) for d in DERIVATIVES]
    worst = pd.concat([f for f in frames if not f.empty] or frames[:1], ignore_index=True)
    several = worst["case"].nunique() > 1
    headers = [*(["case"] if several else []), "engine", "status", "error", "tolerance",
               "message"]
    head = "".join(f"<th style='{CELL_STYLE}'>{h}</th>" for h in headers)
    body = []
    for row in worst.itertuples():
        status = row.status + (DECLARED_MARK if row.declared else "")
        style = f"{CELL_STYLE};{FAIL_STYLE}" if row.fails else CELL_STYLE
        engine = row.engine if row.derivative == "gradient" else \
            f"{row.engine} ({DERIVATIVE_NAMES[row.derivative]})"
        cells = [*([html.escape(str(row.case))] if several else []), html.escape(engine)]
        cells = [f"<td style='{CELL_STYLE}'>{c}</td>" for c in cells]
        cells.append(f"<td class='diffcmp-{'fail' if row.fails else 'pass'}' style='{style}'>"
                     f"{html.escape(status)}</td>")
        cells += [f"<td style='{CELL_STYLE}'>{_number(row.error)}</td>",
                  f"<td style='{CELL_STYLE}'>{_number(row.tolerance)}</td>",
                  f"<td style='{CELL_STYLE}'>" + html.escape(_message(
                      result, row.case, row.engine, row.status, row.derivative)) + "</td>"]
        body.append("<tr>" + "".join(cells) + "</tr>")
    table = (f"<table class='diffcmp-status'><thead><tr>{head}</tr></thead><tbody>"
             + "".join(body) + "</tbody></table>") if body else ""
    notes = _notes(result)
    return f"<div class='diffcmp-result'><p>{line}</p>{table}{notes}</div>"


def _notes(result: Tables) -> str:
    parts = []
    fd = result.meta.get("fd_reference")
    if fd:
        parts.append(f"<p><em>Reference:</em> {html.escape(fd['note'])}.</p>")
    failed = result.expectations
    if not failed.empty:
        failed = failed[~failed["holds"].astype(bool) & (failed["kind"] != "status")]
        if not failed.empty:
            items = "".join(f"<li>{html.escape(str(r.item))}: expected {r.expected}, the "
                            f"reference says {r.actual}</li>" for r in failed.itertuples())
            parts.append(f"<p>Failed expectations:</p><ul>{items}</ul>")
    return "".join(parts)



__all__ = ["render_html"]
