"""What a sweep's report adds for second order and for forward mode:

- the Hessian's and the Hessian-vector product's status per size (``--order 2``), and their cost
  in gradients as the size grows, beside the fitted exponents;
- forward against reverse gradient cost (``torch`` vs ``torch-fwd``, ``jax`` vs ``jax-fwd``):
  ``sweep_forward_reverse.png``, log-log with each engine's fitted exponent, and a table.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..results.derived import SECOND_ORDER
from ..results.sweep import SweepResult
from ..status import Status
from .blocks import fmt, table, text
from .plots import COLORS, DPI, MARKERS

#: Reverse-mode engines and their forward-mode twins.
PAIRS = (("torch", "torch-fwd"), ("jax", "jax-fwd"))
#: The file name of the forward-against-reverse plot.
FORWARD_REVERSE_PLOT = "sweep_forward_reverse.png"
SHORT = {"hessian": "Hessian", "hvp": "HVP"}


def exponent_text(exponent: float, top: float = math.nan) -> str:
    """An exponent as the legend and tables show it: ``1.02``, with the slope between the two
    largest sizes in brackets when there are more than two (``0.23 (0.81)``); ``-`` when not
    fitted."""
    if math.isnan(exponent):
        return "-"
    text = f"{round(exponent, 2) + 0.0:.2f}"
    if not math.isnan(top) and f"{round(top, 2) + 0.0:.2f}" != text:
        text += f" ({round(top, 2) + 0.0:.2f})"
    return text


def _exponent(result: SweepResult, engine: str, phase: str) -> tuple[float, float]:
    exponents = result.exponents
    part = exponents[(exponents["engine"] == engine) & (exponents["phase"] == phase)]
    if part.empty:
        return math.nan, math.nan
    return float(part["exponent"].iloc[0]), float(part["top"].iloc[0])


def _timed(result: SweepResult, engine: str, phase: str) -> tuple[np.ndarray, np.ndarray]:
    """Sizes and median times of ``engine``'s ``phase`` where it was timed."""
    data = result.table
    rows = data[(data["engine"] == engine) & (data["phase"] == phase) & (data["median_s"] > 0)]
    return rows["size"].to_numpy(dtype=float), rows["median_s"].to_numpy(dtype=float)


def timed_pairs(result: SweepResult) -> list[tuple[str, str]]:
    """The reverse/forward pairs whose two gradients were both timed at some size."""
    return [(rev, fwd) for rev, fwd in PAIRS if rev in result.engines and fwd in result.engines
            and len(_timed(result, rev, "grad")[0]) and len(_timed(result, fwd, "grad")[0])]


def forward_reverse_figure(result: SweepResult) -> Figure | None:
    """Gradient time against size, log-log, of each reverse-mode engine and its forward-mode
    twin (solid and dashed, one colour per framework), the fitted exponent in the legend;
    ``None`` when no pair was timed."""
    pairs = timed_pairs(result)
    if not pairs:
        return None
    figure = Figure(figsize=(10, 5.5), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for rev, fwd in pairs:
        for engine, style in ((rev, "-"), (fwd, "--")):
            sizes, times = _timed(result, engine, "grad")
            axes.plot(sizes, times, linestyle=style, color=COLORS.get(rev, "#17becf"),
                      marker=MARKERS.get(engine, "o"), markersize=5, linewidth=1.4,
                      label=f"{engine}  {exponent_text(*_exponent(result, engine, 'grad'))}")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.grid(which="major", alpha=0.3)
    axes.set_xlabel(f"{result.size_name} (log)")
    axes.set_ylabel("seconds per gradient (log; median)")
    axes.set_title(f"{result.case}: forward (dashed) against reverse (solid) mode gradient")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                title="engine  exponent\n(between the two\nlargest sizes)")
    return figure


def write_forward_reverse_plot(result: SweepResult, folder: str | Path) -> list[str]:
    """Write :func:`forward_reverse_figure` into ``folder``; its name, or none."""
    figure = forward_reverse_figure(result)
    if figure is None:
        return []
    figure.savefig(Path(folder) / FORWARD_REVERSE_PLOT, dpi=DPI, metadata={"Software": None})
    return [FORWARD_REVERSE_PLOT]


def forward_reverse_section(result: SweepResult) -> list[str]:
    """Forward against reverse gradient cost: exponents and the ratio at the largest size."""
    pairs = timed_pairs(result)
    if not pairs:
        return []
    n = result.size_name
    rows = []
    for rev, fwd in pairs:
        (rs, rt), (fs, ft) = _timed(result, rev, "grad"), _timed(result, fwd, "grad")
        common = sorted(set(rs) & set(fs))
        ratio = "-"
        if common:
            top = common[-1]
            ratio = f"{ft[list(fs).index(top)] / rt[list(rs).index(top)]:.2f} at {int(top):,}"
        rows.append({"reverse": rev, "exponent": exponent_text(*_exponent(result, rev, "grad")),
                     "forward": fwd,
                     "exponent ": exponent_text(*_exponent(result, fwd, "grad")),
                     f"forward / reverse (largest {n})": ratio})
    return ["## Forward against reverse", "",
            "The gradient's cost by forward mode (n Jacobian-vector products, one per "
            "parameter, batched by `jacfwd`) against reverse mode (one vector-Jacobian "
            f"product). Where {n} is the number of parameters, forward mode's exponent should "
            "exceed reverse mode's by about 1 once the fixed overhead no longer dominates; "
            f"see `{FORWARD_REVERSE_PLOT}`.", "",
            table(rows, right=("exponent", "exponent ", f"forward / reverse (largest {n})")),
            ""]


def second_order_sections(result: SweepResult) -> list[str]:
    """The Hessian's and its product's status per size, and their cost in gradients."""
    if not result.second_order:
        return []
    parts = ["## Second order per size", "",
             "Each engine's worst status on its Hessian and its Hessian-vector product (HVP) "
             "over the points at each size (**bold**: fails the sweep), graded as in "
             "`diffcmp run --order 2`.", "", table(_second_status_rows(result)), ""]
    notes = _notes(result)
    if notes:
        parts += ["Notes:", "", *notes, ""]
    costs = _cost_rows(result)
    if costs:
        parts += ["**Cost in gradients.** `hessian / grad` and `hvp / grad` at the smallest "
                  "and the largest size timed, and each phase's fitted exponent. In theory a "
                  "Hessian-vector product costs a small constant times a gradient at every "
                  "size (Pearlmutter 1994), so `hvp` should share `grad`'s exponent, and a "
                  "full Hessian about n gradients, one more power of the number of "
                  "parameters.", "",
                  table(costs, right=[k for k in costs[0] if k != "engine"]), ""]
    return parts


def _notes(result: SweepResult) -> list[str]:
    """One line per engine, derivative and status that is not ``ok``: its sizes and first
    message."""
    notes = []
    for derivative in SECOND_ORDER:
        statuses = result.statuses_of(derivative)
        for (engine, status), rows in statuses.groupby(["engine", "status"], sort=False):
            if status == Status.OK:
                continue
            where = ", ".join(f"{int(s):,}" for s in rows["size"])
            message = next((m for m in rows["message"] if m), "")
            notes.append(f"- {engine}'s {SHORT[derivative]} is {status} at "
                         f"{result.size_name} = {where}" + (f": {text(message)}" if message
                                                            else ""))
    return notes


def _second_status_rows(result: SweepResult) -> list[dict[str, object]]:
    statuses = {d: result.statuses_of(d) for d in SECOND_ORDER}
    rows = []
    for size in result.sizes:
        row: dict[str, object] = {result.size_name: f"{size:,}"}
        for engine in result.engines:
            cells = []
            for derivative in SECOND_ORDER:
                here = statuses[derivative]
                match = here[(here["size"] == size) & (here["engine"] == engine)]
                if match.empty:
                    cells.append("-")
                    continue
                item = match.iloc[0]
                cell = str(item["status"])
                cells.append(f"**{cell}**" if item["fails"] else cell)
            if cells[0] == cells[1] and cells[0] in (Status.UNSUPPORTED, "-"):
                row[engine] = cells[0]
            else:
                row[engine] = " / ".join(cells)
        rows.append(row)
    return rows


def _cost_rows(result: SweepResult) -> list[dict[str, object]]:
    rows = []
    for engine in result.engines:
        sizes, grad = _timed(result, engine, "grad")
        entry: dict[str, object] = {"engine": engine,
                                    "grad": exponent_text(*_exponent(result, engine, "grad"))}
        timed = False
        for phase in SECOND_ORDER:
            at, times = _timed(result, phase=phase, engine=engine)
            entry[phase] = exponent_text(*_exponent(result, engine, phase))
            ratios = [times[i] / grad[list(sizes).index(s)] for i, s in enumerate(at)
                      if s in set(sizes)]
            timed = timed or bool(ratios)
            entry[f"{phase} / grad"] = "-" if not ratios else fmt(ratios[0], 3) if len(
                ratios) == 1 else f"{fmt(ratios[0], 3)} → {fmt(ratios[-1], 3)}"
        if timed:
            rows.append(entry)
    return rows


__all__ = ["FORWARD_REVERSE_PLOT", "PAIRS", "exponent_text", "forward_reverse_figure",
           "forward_reverse_section", "second_order_sections", "timed_pairs",
           "write_forward_reverse_plot"]
